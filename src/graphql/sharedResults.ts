import { createSourceEventStream, execute, getOperationAST, type DocumentNode, type ExecutionArgs, type ExecutionResult } from 'graphql';
import { LRUCache } from 'lru-cache';

/** Root subscription fields whose result depends on the event alone, never on who subscribed. */
const SHAREABLE_ROOT_FIELDS = new Set(['events']);

/**
 * Executes a subscription's selection set once per (operation, event) for all subscribers of the
 * same operation. With a thousand live subscribers most of them run one of a few operations, and
 * executing the selection set for every subscriber was the largest share of the server's CPU in the
 * live-delivery benchmark (about a third, beside graphql-ws's own work). Only operations whose root
 * fields are all shareable take this path; their per-event execution uses no context.
 */
export class SharedSubscriptionResults {
  private readonly byOperation = new LRUCache<string, LRUCache<string, ExecutionResult | Promise<ExecutionResult>>>({ max: 1_000 });

  /** A key for the operation when its results can be shared, else undefined. */
  keyFor(document: DocumentNode, operationName: string | null | undefined, query: string, variables: unknown): string | undefined {
    const operation = getOperationAST(document, operationName);
    if (operation?.operation !== 'subscription') return undefined;
    const shareable = operation.selectionSet.selections.every((s) => s.kind === 'Field' && SHAREABLE_ROOT_FIELDS.has(s.name.value));
    return shareable ? `${operationName ?? ''}\u0000${query}\u0000${JSON.stringify(variables ?? {})}` : undefined;
  }

  /** Like graphql's subscribe, with each event's result computed once per operation key. */
  async subscribe(args: ExecutionArgs, key: string): Promise<AsyncIterableIterator<ExecutionResult> | ExecutionResult> {
    const source = await createSourceEventStream(args);
    if (!isAsyncIterable(source)) return source;
    let results = this.byOperation.get(key);
    if (!results) {
      results = new LRUCache({ max: 1_000 });
      this.byOperation.set(key, results);
    }
    const shared = results;
    return mapResults(source, (event) => {
      const eventKey = (event as { id?: string }).id;
      if (eventKey === undefined) return execute({ ...args, rootValue: event });
      let result = shared.get(eventKey);
      if (result === undefined) {
        result = execute({ ...args, rootValue: event });
        shared.set(eventKey, result);
      }
      return result;
    });
  }
}

function isAsyncIterable(value: unknown): value is AsyncIterable<unknown> {
  return typeof value === 'object' && value !== null && Symbol.asyncIterator in value;
}

/** Maps a stream, passing `return` through so that unsubscribing ends the source. */
export function mapResults<S, T>(source: AsyncIterable<S>, map: (value: S) => T | Promise<T>): AsyncIterableIterator<T> {
  const iterator = source[Symbol.asyncIterator]();
  const iterable: AsyncIterableIterator<T> = {
    async next() {
      const step = await iterator.next();
      return step.done ? { value: undefined, done: true } : { value: await map(step.value), done: false };
    },
    async return() {
      await iterator.return?.();
      return { value: undefined, done: true };
    },
    async throw(error?: unknown) {
      await iterator.return?.();
      throw error;
    },
    [Symbol.asyncIterator]: () => iterable,
  };
  return iterable;
}
