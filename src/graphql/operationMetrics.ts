import { getOperationAST, type DocumentNode, type ExecutionResult } from 'graphql';
import type { Plugin } from 'graphql-yoga';

export type OperationType = 'query' | 'mutation' | 'subscription' | 'unknown';

/**
 * `ok`: no errors in the result (a domain error in a result union is data, so it is `ok`); `error`:
 * the result or the subscription's start carried errors, including an operation refused by validation.
 */
export type OperationOutcome = 'ok' | 'error';

export type OperationObservation = {
  /** The operation's name; `<anonymous>` without one, `<other>` past the first `maxNames` distinct names. */
  readonly name: string;
  readonly type: OperationType;
  readonly outcome: OperationOutcome;
  /** Execution time of a query or mutation; absent for subscriptions (they last as long as the client wants) and refused operations. */
  readonly seconds?: number;
};

/** Told of every GraphQL operation; the app turns these into metrics. */
export interface OperationObserver {
  observe(operation: OperationObservation): void;
}

/**
 * Reports each operation's name, type, outcome and execution time to an observer, as a Yoga plugin
 * over HTTP and WebSocket alike. Operation names come from clients, so only the first `maxNames`
 * distinct ones are reported as they are: a client making up names cannot grow the metrics without bound.
 */
export class OperationMetrics {
  private readonly observer: OperationObserver;
  private readonly maxNames: number;
  private readonly names = new Set<string>();

  constructor(observer: OperationObserver, options: { maxNames?: number } = {}) {
    this.observer = observer;
    this.maxNames = options.maxNames ?? 200;
  }

  /** For a subscription started outside Yoga's subscribe (the shared `events` path): a stream means it started, a result means it was refused. */
  subscribed(document: DocumentNode, operationName: string | null | undefined, result: ExecutionResult | AsyncIterable<unknown>): void {
    this.observer.observe({ ...this.describe(document, operationName), outcome: Symbol.asyncIterator in result ? 'ok' : outcomeOf(result) });
  }

  plugin(): Plugin {
    return {
      onValidate: ({ params, context }) => ({ valid }) => {
        if (valid) return;
        const operationName = (context as { params?: { operationName?: string | null } }).params?.operationName;
        this.observer.observe({ ...this.describe(params.documentAST, operationName), outcome: 'error' });
      },
      onExecute: ({ args }) => {
        const started = performance.now();
        const operation = this.describe(args.document, args.operationName);
        const done = (outcome: OperationOutcome) => this.observer.observe({ ...operation, outcome, seconds: (performance.now() - started) / 1000 });
        return {
          onExecuteDone: ({ result }) => {
            if (!(Symbol.asyncIterator in result)) return void done(outcomeOf(result));
            // Incremental delivery (@defer, @stream): the operation ends with its last part.
            let outcome: OperationOutcome = 'ok';
            return {
              onNext: ({ result: part }) => {
                if ('errors' in part && part.errors?.length) outcome = 'error';
              },
              onEnd: () => done(outcome),
            };
          },
        };
      },
      onSubscribe: ({ args }) => ({
        onSubscribeResult: ({ result }) => this.subscribed(args.document, args.operationName, result),
        onSubscribeError: () => this.observer.observe({ ...this.describe(args.document, args.operationName), outcome: 'error' }),
      }),
    };
  }

  private describe(document: DocumentNode, operationName: string | null | undefined): Pick<OperationObservation, 'name' | 'type'> {
    const operation = getOperationAST(document, operationName);
    const name = operation?.name?.value ?? operationName ?? undefined;
    let label = '<anonymous>';
    if (name !== undefined) {
      if (this.names.size < this.maxNames) this.names.add(name);
      label = this.names.has(name) ? name : '<other>';
    }
    return { name: label, type: operation?.operation ?? 'unknown' };
  }
}

const outcomeOf = (result: ExecutionResult): OperationOutcome => (result.errors?.length ? 'error' : 'ok');
