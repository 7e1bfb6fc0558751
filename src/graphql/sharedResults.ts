import { createHash } from 'node:crypto';
import { createSourceEventStream, execute, getOperationAST, type DocumentNode, type ExecutionArgs, type ExecutionResult } from 'graphql';
import { LRUCache } from 'lru-cache';

/** Root subscription fields whose result depends on the event alone, never on who subscribed. */
const SHAREABLE_ROOT_FIELDS = new Set(['events']);

/** Heap the cached results may take unless told otherwise (`SHARED_RESULTS_MAX_BYTES`). */
export const DEFAULT_SHARED_RESULTS_MAX_BYTES = 32 * 1024 * 1024;

/** What a result is taken to weigh until it has been computed (most are a few hundred bytes). */
const PENDING_RESULT_BYTES = 1024;

/** One shared operation: how many subscriptions run it (0: gone for good), and the cache keys of its results. */
type Operation = { readonly id: number; subscribers: number; readonly results: Set<string> };
type Cached = { readonly operation: Operation; readonly result: ExecutionResult | Promise<ExecutionResult>; readonly bytes: number };

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
   * Like graphql's subscribe, with each event's result computed once per operation key; `prepare`
   * runs on each computed result once, before any subscriber gets it (masking, serialising).
   */
  async subscribe(
    args: ExecutionArgs, key: string, prepare: (result: ExecutionResult) => ExecutionResult = (result) => result,
  ): Promise<AsyncIterableIterator<ExecutionResult> | ExecutionResult> {
    const source = await createSourceEventStream(args);
    if (!isAsyncIterable(source)) return source;
    const operation = this.join(key);
    let joined = true;
    const leave = () => {
      if (!joined) return;
      joined = false;
      this.leave(key, operation);
    };
    return mapResults(
      source,
      (event) => {
        const compute = () => {
          const result = execute({ ...args, rootValue: event });
          return result instanceof Promise ? result.then(prepare) : prepare(result);
        };
        const eventId = (event as { id?: string }).id;
        if (eventId === undefined || !this.results || !joined) return compute();
        return this.resultFor(operation, eventId, compute);
      },
      leave,
    );
  }

  private join(key: string): Operation {
    let operation = this.operations.get(key);
    if (!operation) {
      operation = { id: this.nextId++, subscribers: 0, results: new Set() };
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

  private resultFor(operation: Operation, eventId: string, compute: () => ExecutionResult | Promise<ExecutionResult>): ExecutionResult | Promise<ExecutionResult> {
    const results = this.results!;
    const cacheKey = `${operation.id}:${eventId}`;
    const cached = results.get(cacheKey);
    if (cached) return cached.result;
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
function weigh(result: ExecutionResult): number {
  return Math.max(1, JSON.stringify(result).length);
}

function isAsyncIterable(value: unknown): value is AsyncIterable<unknown> {
  return typeof value === 'object' && value !== null && Symbol.asyncIterator in value;
}

/** Maps a stream, passing `return` through so that unsubscribing ends the source; `onEnd` runs once the stream ends, however it ends. */
export function mapResults<S, T>(source: AsyncIterable<S>, map: (value: S) => T | Promise<T>, onEnd?: () => void): AsyncIterableIterator<T> {
  const iterator = source[Symbol.asyncIterator]();
  const ended = (error: unknown) => {
    onEnd?.();
    throw error;
  };
  const iterable: AsyncIterableIterator<T> = {
    // Every live delivery passes here, so a value mapped without waiting (a cached result) is handed
    // on in the same step, without a promise of its own.
    next() {
      return iterator.next().then((step): IteratorResult<T> | Promise<IteratorResult<T>> => {
        if (step.done) {
          onEnd?.();
          return { value: undefined, done: true };
        }
        const mapped = map(step.value);
        return mapped instanceof Promise ? mapped.then((value) => ({ value, done: false })) : { value: mapped as T, done: false };
      }, ended);
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
