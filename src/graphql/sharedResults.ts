import { createHash } from 'node:crypto';
import { createSourceEventStream, execute, getOperationAST, Kind, type DocumentNode, type ExecutionArgs, type ExecutionResult, type FieldNode } from 'graphql';
import { LRUCache } from 'lru-cache';

/**
 * Root subscription fields whose result depends on the events alone, never on who subscribed. A
 * batched field (`eventBatches`) yields lists of what its single-event twin yields one by one: each
 * of its events is executed once, as the twin, and every batch is those results' JSON joined.
 */
const SINGLE_EVENT_FIELDS = new Set(['events']);
const BATCHED_FIELDS = new Map([['eventBatches', 'events']]);
const SHAREABLE_ROOT_FIELDS = new Set([...SINGLE_EVENT_FIELDS, ...BATCHED_FIELDS.keys()]);

/** Heap the cached results may take unless told otherwise (`SHARED_RESULTS_MAX_BYTES`). */
export const DEFAULT_SHARED_RESULTS_MAX_BYTES = 32 * 1024 * 1024;

/** What a result is taken to weigh until it has been computed (most are a few hundred bytes). */
const PENDING_RESULT_BYTES = 1024;

/** One shared operation: how many subscriptions run it (0: gone for good), and the cache keys of its results. */
type Operation = {
  readonly id: number;
  subscribers: number;
  readonly results: Set<string>;
  /** Pushed JSON of this turn of the event loop, by event object: see `pushedFor`. */
  thisTurn: Map<object, Buffer | Promise<Buffer>> | undefined;
};
/** A result, or (pushed) its JSON as UTF-8. */
type Shared = ExecutionResult | Buffer;
type Cached = { readonly operation: Operation; readonly result: Shared | Promise<Shared>; readonly bytes: number };

/**
 * A subscription source that can also hand over, without waiting, what is already waiting; and,
 * optionally, wake its consumer when more is, so that an idle consumer waits without a pending
 * `next()` (a chain of suspended async functions and promises, per subscriber, for as long as
 * nothing happens).
 */
export type ReadySource<T> = AsyncIterableIterator<T> & {
  takeReady(): T | undefined;
  /**
   * Calls `wake` once, the next time `takeReady` may have something (or the source has ended), and
   * returns true; false, keeping nothing, when the source cannot wait that way now (something
   * waits, it reads on its own in `next()`, or it has ended): the consumer then calls `next()`.
   */
  wakeWhenReady?(wake: () => void): boolean;
};

/**
 * Where a pushed subscription's results go. `send` takes each result as its JSON in UTF-8, in parts
 * (the `payload` of a `next` message, parts shared by every subscriber of the operation) and returns
 * a promise while the socket has too much queued to take more;
 * `mask` is applied to the result once, before it is serialised for every subscriber that shares it.
 */
export type PushTarget = {
  /** Called as the target's method (`target.send(…)`), so a target may be a class instance. */
  send(payloadJson: readonly Buffer[]): void | Promise<void>;
  readonly mask: (result: ExecutionResult) => ExecutionResult;
};

/**
 * Executes a subscription's selection set once per (operation, event) for all subscribers of the
 * same operation. With a thousand live subscribers most of them run one of a few operations, and
 * executing the selection set for every subscriber was the largest share of the server's CPU in the
 * live-delivery benchmark (about a third, beside graphql-ws's own work). Only operations whose root
 * fields are all shareable take this path; their per-event execution uses no context.
 *
 * Memory is bounded twice: the results of all operations share one LRU of at most `maxBytes`
 * (each result weighed as its JSON), and an operation and its results are dropped as soon as its
 * last subscriber leaves. Operation keys are digests, so a client's large variables are held only
 * by its own subscription, never by the cache.
 */
export class SharedSubscriptionResults {
  private readonly operations = new Map<string, Operation>();
  private readonly results: LRUCache<string, Cached> | undefined;
  private nextId = 0;

  constructor(options: { maxBytes?: number } = {}) {
    const maxBytes = options.maxBytes ?? DEFAULT_SHARED_RESULTS_MAX_BYTES;
    this.results =
      maxBytes > 0
        ? new LRUCache<string, Cached>({
            maxSize: maxBytes,
            sizeCalculation: (cached) => cached.bytes,
            // Replacing a pending result by its value is a 'set': the key stays the operation's.
            dispose: (cached, key, reason) => void (reason !== 'set' && cached.operation.results.delete(key)),
          })
        : undefined;
  }

  /** Operations being shared now, and the bytes their cached results take: for tests and metrics. */
  get stats(): { operations: number; results: number; bytes: number } {
    return { operations: this.operations.size, results: this.results?.size ?? 0, bytes: this.results?.calculatedSize ?? 0 };
  }

  /**
   * A key for the operation when its results can be shared, else undefined. `audience` is what the
   * caller may see: each subscriber's own feed already yields only events it may read, and keying
   * on it too keeps a shared result from ever serving a caller who sees differently.
   */
  keyFor(document: DocumentNode, operationName: string | null | undefined, query: string, variables: unknown, audience: string): string | undefined {
    const operation = getOperationAST(document, operationName);
    if (operation?.operation !== 'subscription') return undefined;
    const shareable = operation.selectionSet.selections.every((s) => s.kind === 'Field' && SHAREABLE_ROOT_FIELDS.has(s.name.value));
    if (!shareable) return undefined;
    return createHash('sha256').update(JSON.stringify([audience, operationName ?? '', query, variables ?? {}])).digest('base64url');
  }

  /**
   * Like graphql's subscribe, with each event's result computed once per operation key. With `push`
   * (and a source that can hand over what waits), results are not yielded but serialised once per
   * operation and event and sent from here: the iterator yields nothing and ends when the source
   * does. That takes the per-subscriber, per-event work down to a string concatenation and a write,
   * instead of a chain of promises, an execution lookup and a serialisation of the whole result.
   * With `push` and a source that cannot, results are yielded masked by `push.mask`.
   */
  async subscribe(args: ExecutionArgs, key: string, push?: PushTarget): Promise<AsyncIterableIterator<ExecutionResult> | ExecutionResult> {
    const source = await createSourceEventStream(args);
    if (!isAsyncIterable(source)) return source;
    const operation = this.join(key);
    let joined = true;
    const leave = () => {
      if (!joined) return;
      joined = false;
      this.leave(key, operation);
    };
    if (push && isReadySource(source)) {
      const serialise = (value: unknown): Buffer | Promise<Buffer> => {
        const result = execute({ ...args, rootValue: value });
        const json = (done: ExecutionResult) => Buffer.from(JSON.stringify(push.mask(done)));
        return result instanceof Promise ? result.then(json) : json(result);
      };
      const shared = (event: unknown, compute: (event: unknown) => Buffer | Promise<Buffer>): Buffer | Promise<Buffer> => {
        const eventId = (event as { id?: string } | null)?.id;
        if (eventId === undefined || !this.results || !joined || typeof event !== 'object' || event === null) return compute(event);
        return this.pushedFor(operation, event, () => this.resultFor(operation, `json:${eventId}`, () => compute(event)));
      };
      const batched = batchedField(args);
      if (!batched) return pushResults(source, (event) => one(shared(event, serialise)), push, leave);
      // A batch: the JSON of each event as the single-event twin gives it, joined into the list.
      const head = Buffer.from(`{"data":{${JSON.stringify(batched.responseKey)}:[`);
      const item = (event: unknown): Buffer | Promise<Buffer> => {
        const result = execute({ ...args, document: batched.eventDocument, rootValue: event });
        // An event whose selection fails is left to the full execution of its batch (empty: not shareable).
        const json = (done: ExecutionResult) => (done.errors?.length || done.data?.[batched.responseKey] == null ? NOT_SHAREABLE : Buffer.from(JSON.stringify(done.data[batched.responseKey])));
        return result instanceof Promise ? result.then(json) : json(result);
      };
      const join = (batch: unknown[], items: Buffer[]): readonly Buffer[] | Promise<readonly Buffer[]> => {
        if (items.some((part) => part.length === 0)) return one(serialise(batch));
        const parts: Buffer[] = [head];
        items.forEach((part, i) => parts.push(...(i === 0 ? [part] : [COMMA, part])));
        parts.push(BATCH_END);
        return parts;
      };
      return pushResults(
        source,
        (batch) => {
          const events = Array.isArray(batch) ? batch : [batch];
          const items = events.map((event) => shared(event, item));
          return items.every(Buffer.isBuffer) ? join(events, items as Buffer[]) : Promise.all(items).then((done) => join(events, done));
        },
        push,
        leave,
      );
    }
    const resultOf = (event: unknown) => {
      const eventId = (event as { id?: string }).id;
      if (eventId === undefined || !this.results || !joined) return execute({ ...args, rootValue: event });
      return this.resultFor(operation, eventId, () => execute({ ...args, rootValue: event }));
    };
    const mask = push?.mask;
    return mapResults(source, mask ? (event) => maybeThen(resultOf(event), mask) : resultOf, leave);
  }

  private join(key: string): Operation {
    let operation = this.operations.get(key);
    if (!operation) {
      operation = { id: this.nextId++, subscribers: 0, results: new Set(), thisTurn: undefined };
      this.operations.set(key, operation);
    }
    operation.subscribers++;
    return operation;
  }

  private leave(key: string, operation: Operation): void {
    operation.subscribers--;
    if (operation.subscribers > 0) return;
    this.operations.delete(key);
    for (const cacheKey of [...operation.results]) this.results?.delete(cacheKey);
  }

  /**
   * The live feed hands every subscriber the same event objects, and the subscribers of one
   * operation drain a fan-out batch one after another in the same turn of the event loop: so the
   * JSON is first looked up by the event object among this turn's (a Map lookup by identity, instead
   * of building a key and reordering the LRU for every delivery). Forgotten at the next turn, so it
   * holds no more than one turn's events.
   */
  private pushedFor(operation: Operation, event: object, shared: () => Buffer | Promise<Buffer>): Buffer | Promise<Buffer> {
    let turn = operation.thisTurn;
    if (!turn) {
      turn = operation.thisTurn = new Map();
      setImmediate(() => (operation.thisTurn = undefined));
    }
    let payload = turn.get(event);
    if (payload === undefined) turn.set(event, (payload = shared()));
    return payload;
  }

  private resultFor<T extends Shared>(operation: Operation, eventId: string, compute: () => T | Promise<T>): T | Promise<T> {
    const results = this.results!;
    const cacheKey = `${operation.id}:${eventId}`;
    const cached = results.get(cacheKey);
    if (cached) return cached.result as T | Promise<T>;
    const result = compute();
    if (!(result instanceof Promise)) {
      this.remember(operation, cacheKey, { operation, result, bytes: weigh(result) });
      return result;
    }
    const pending: Cached = { operation, result, bytes: PENDING_RESULT_BYTES };
    this.remember(operation, cacheKey, pending);
    // Once computed, the entry weighs what its result does (if it is still there to weigh).
    void result.then(
      (value) => results.peek(cacheKey) === pending && this.remember(operation, cacheKey, { operation, result: value, bytes: weigh(value) }),
      () => results.peek(cacheKey) === pending && results.delete(cacheKey),
    );
    return result;
  }

  private remember(operation: Operation, cacheKey: string, cached: Cached): void {
    // An operation whose last subscriber already left keeps nothing (a result computed as it left).
    if (operation.subscribers === 0) return;
    operation.results.add(cacheKey);
    this.results!.set(cacheKey, cached);
  }
}

/** The heap a result roughly takes: its JSON's length (strings and numbers, which are what events carry). */
function weigh(result: Shared): number {
  return Math.max(1, Buffer.isBuffer(result) ? result.length : JSON.stringify(result).length);
}

const NOT_SHAREABLE = Buffer.alloc(0);
const COMMA = Buffer.from(',');
const BATCH_END = Buffer.from(']}}');

const one = (payload: Buffer | Promise<Buffer>): readonly Buffer[] | Promise<readonly Buffer[]> => (Buffer.isBuffer(payload) ? [payload] : payload.then((done) => [done]));

/**
 * For an operation on a batched root field: its response key, and the same operation on the
 * single-event twin (same alias, same selection, no arguments: execution with an event as the root
 * value only resolves the selection).
 */
function batchedField(args: ExecutionArgs): { responseKey: string; eventDocument: DocumentNode } | undefined {
  const operation = getOperationAST(args.document, args.operationName);
  const [field] = operation?.selectionSet.selections ?? [];
  if (!operation || field?.kind !== Kind.FIELD) return undefined;
  const twin = BATCHED_FIELDS.get(field.name.value);
  if (twin === undefined) return undefined;
  const responseKey = field.alias?.value ?? field.name.value;
  const single: FieldNode = { ...field, alias: { kind: Kind.NAME, value: responseKey }, name: { kind: Kind.NAME, value: twin }, arguments: [] };
  const eventOperation = { ...operation, selectionSet: { ...operation.selectionSet, selections: [single] } };
  return { responseKey, eventDocument: { ...args.document, definitions: args.document.definitions.map((definition) => (definition === operation ? eventOperation : definition)) } };
}

function isReadySource<T>(source: AsyncIterable<T>): source is ReadySource<T> {
  return typeof (source as Partial<ReadySource<T>>).takeReady === 'function' && typeof (source as Partial<ReadySource<T>>).next === 'function';
}

/**
 * Drains `source` into `send`: whatever waits is sent at once, in order, without a promise per
 * value (unless a value's JSON is computed asynchronously or the socket is full); then it waits
 * for more. The returned iterator yields nothing: its one pending `next()` settles when the source
 * ends, or throws what the source throws, after everything before it was sent. `return` stops
 * sending at once. While nothing waits it holds no suspended frame: a source that can
 * (`wakeWhenReady`) calls it back when something does; any other is awaited in its `next()`.
 */
function pushResults<T>(source: ReadySource<T>, payloadOf: (value: T) => readonly Buffer[] | Promise<readonly Buffer[]>, target: PushTarget, onEnd: () => void): AsyncIterableIterator<ExecutionResult> {
  return new PushedResults(source, payloadOf, target, onEnd);
}

const DONE: IteratorResult<ExecutionResult> = Object.freeze({ value: undefined, done: true });

/**
 * pushResults' iterator. A class rather than closures: ten thousand idle subscriptions each hold
 * one, so its methods are shared and only its fields and one wake-up function are its own.
 */
class PushedResults<T> implements AsyncIterableIterator<ExecutionResult> {
  private readonly source: ReadySource<T>;
  private readonly payloadOf: (value: T) => readonly Buffer[] | Promise<readonly Buffer[]>;
  private readonly target: PushTarget;
  private readonly onEnd: () => void;
  private ended = false;
  /** The consumer's `next()` (graphql-ws asks once and waits for as long as the subscription runs). */
  private waiting: PromiseWithResolvers<IteratorResult<ExecutionResult>> | undefined;
  /** Handed to the source: drains in a microtask, after the fan-out that woke it has offered every subscriber its events. */
  private readonly wake = () => queueMicrotask(() => this.pump());

  constructor(source: ReadySource<T>, payloadOf: (value: T) => readonly Buffer[] | Promise<readonly Buffer[]>, target: PushTarget, onEnd: () => void) {
    this.source = source;
    this.payloadOf = payloadOf;
    this.target = target;
    this.onEnd = onEnd;
  }

  next(): Promise<IteratorResult<ExecutionResult>> {
    if (this.ended) return Promise.resolve(DONE);
    if (this.waiting) return this.waiting.promise;
    const waiting = (this.waiting = Promise.withResolvers());
    this.pump();
    return waiting.promise;
  }

  async return(): Promise<IteratorResult<ExecutionResult>> {
    this.finish();
    await this.source.return?.();
    return DONE;
  }

  async throw(error?: unknown): Promise<IteratorResult<ExecutionResult>> {
    this.finish();
    await this.source.return?.();
    throw error;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  /** Sends what waits, then arranges to be called again when more does; ends on the source's end. */
  private pump(): void {
    if (this.ended) return this.finish();
    try {
      for (let value = this.source.takeReady(); value !== undefined; value = this.source.takeReady()) {
        const full = this.deliver(value);
        if (full) return void full.then(() => this.pump(), (error: unknown) => this.fail(error));
        if (this.ended) return this.finish();
      }
      if (this.source.wakeWhenReady?.(this.wake)) return;
      // The source reads on its own (catch-up pages), has ended, or cannot call back: wait in its next().
      this.source.next().then(
        (step) => {
          if (step.done || this.ended) return this.finish();
          const full = this.deliver(step.value);
          if (full) return void full.then(() => this.pump(), (error: unknown) => this.fail(error));
          this.pump();
        },
        (error: unknown) => this.fail(error),
      );
    } catch (error) {
      this.fail(error);
    }
  }

  private deliver(value: T): void | Promise<void> {
    const payload = this.payloadOf(value);
    if (!(payload instanceof Promise)) return this.target.send(payload);
    return payload.then((json) => (this.ended ? undefined : this.target.send(json)));
  }

  private finish(): void {
    this.end();
    const waiting = this.waiting;
    this.waiting = undefined;
    waiting?.resolve(DONE);
  }

  private fail(error: unknown): void {
    this.end();
    const waiting = this.waiting;
    this.waiting = undefined;
    waiting?.reject(error);
  }

  private end(): void {
    if (this.ended) return;
    this.ended = true;
    this.onEnd();
  }
}

const maybeThen = <A, B>(value: A | Promise<A>, map: (value: A) => B): B | Promise<B> => (value instanceof Promise ? value.then(map) : map(value));

function isAsyncIterable(value: unknown): value is AsyncIterable<unknown> {
  return typeof value === 'object' && value !== null && Symbol.asyncIterator in value;
}

/** Maps a stream, passing `return` through so that unsubscribing ends the source; `onEnd` runs once the stream ends, however it ends. */
export function mapResults<S, T>(source: AsyncIterable<S>, map: (value: S) => T | Promise<T>, onEnd?: () => void): AsyncIterableIterator<T> {
  const iterator = source[Symbol.asyncIterator]();
  const iterable: AsyncIterableIterator<T> = {
    async next() {
      const step = await iterator.next().catch((error: unknown) => {
        onEnd?.();
        throw error;
      });
      if (step.done) {
        onEnd?.();
        return { value: undefined, done: true };
      }
      return { value: await map(step.value), done: false };
    },
    async return() {
      onEnd?.();
      await iterator.return?.();
      return { value: undefined, done: true };
    },
    async throw(error?: unknown) {
      onEnd?.();
      await iterator.return?.();
      throw error;
    },
    [Symbol.asyncIterator]: () => iterable,
  };
  return iterable;
}
