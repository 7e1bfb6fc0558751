import { useGraphQlJit } from '@envelop/graphql-jit';
import { type DocumentNode, getOperationAST, getVariableValues } from 'graphql';
import type { Plugin } from 'graphql-yoga';

/** Executions of one document on graphql-js before it is compiled. */
const COMPILE_AFTER = 1;

/**
 * Queries a client sends again run on graphql-jit: the document is compiled once into plain
 * functions, instead of graphql-js walking the selection set and checking every field's type on
 * every request. Paging the log through `events(first: 1000)` took about a fifth less CPU a page
 * (docs/benchmarks.md). Results are still written with JSON.stringify: graphql-jit's serialiser
 * for the query's shape answered differently (test/compiledQueries.e2e.spec.ts).
 *
 * What stays on graphql-js:
 * - a document's first execution: compiling costs a few milliseconds, so a client sending a new
 *   document every time would pay that on each request (the limits bound a document's size, not
 *   their number);
 * - a request whose variables do not fit the operation: graphql-js answers it as Yoga always did
 *   (HTTP 400 with the variable's location), where graphql-jit would answer 200 without one;
 * - mutations: a command's time is in the command, not in its small selection set (compiled, the
 *   C = 32 counter cell used the same CPU per event), so they keep the executor they were tested on;
 * - subscriptions: their events are executed once per shared selection set (sharedResults.ts).
 *
 * Compiled documents are kept as long as Yoga's parser cache keeps the document (a WeakMap).
 */
export function useCompiledQueries(): Plugin {
  const executions = new WeakMap<DocumentNode, number>();
  return useGraphQlJit(
    {},
    {
      enableIf: ({ schema, document, operationName, variableValues }) => {
        const operation = getOperationAST(document, operationName);
        if (operation?.operation !== 'query') return false;
        const seen = executions.get(document) ?? 0;
        if (seen < COMPILE_AFTER) {
          executions.set(document, seen + 1);
          return false;
        }
        return !getVariableValues(schema, operation.variableDefinitions ?? [], variableValues ?? {}).errors;
      },
    },
  ) as Plugin;
}
