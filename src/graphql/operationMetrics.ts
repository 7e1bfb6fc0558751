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
 * A Yoga plugin that reports each operation's name, type, outcome and execution time, over HTTP and
 * WebSocket alike. Operation names come from clients, so only the first `maxNames` distinct ones are
 * reported as they are: a client making up names cannot grow the metrics without bound.
 */
export function operationMetrics(observer: OperationObserver, options: { maxNames?: number } = {}): Plugin {
  const maxNames = options.maxNames ?? 200;
  const names = new Set<string>();
  const describe = (document: DocumentNode, operationName: string | null | undefined): Pick<OperationObservation, 'name' | 'type'> => {
    const operation = getOperationAST(document, operationName);
    const name = operation?.name?.value ?? operationName ?? undefined;
    let label = '<anonymous>';
    if (name !== undefined) {
      if (names.size < maxNames) names.add(name);
      label = names.has(name) ? name : '<other>';
    }
    return { name: label, type: operation?.operation ?? 'unknown' };
  };
  const outcomeOf = (result: ExecutionResult): OperationOutcome => (result.errors?.length ? 'error' : 'ok');

  return {
    onValidate: ({ params, context }) => ({ valid }) => {
      if (valid) return;
      const operationName = (context as { params?: { operationName?: string | null } }).params?.operationName;
      observer.observe({ ...describe(params.documentAST, operationName), outcome: 'error' });
    },
    onExecute: ({ args }) => {
      const started = performance.now();
      const operation = describe(args.document, args.operationName);
      const done = (outcome: OperationOutcome) => observer.observe({ ...operation, outcome, seconds: (performance.now() - started) / 1000 });
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
    onSubscribe: ({ args }) => {
      const operation = describe(args.document, args.operationName);
      return {
        // A stream means the subscription started; a single result means it was refused.
        onSubscribeResult: ({ result }) => observer.observe({ ...operation, outcome: Symbol.asyncIterator in result ? 'ok' : outcomeOf(result) }),
        onSubscribeError: () => observer.observe({ ...operation, outcome: 'error' }),
      };
    },
  };
}
