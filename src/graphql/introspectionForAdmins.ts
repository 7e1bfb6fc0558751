import { GraphQLError, type DocumentNode, Kind, visit } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { isAdmin } from '../core/identity.ts';
import type { GraphQLContext } from './context.ts';

/**
 * In production the schema is for administrators to browse: an operation that asks for `__schema`
 * or `__type` from anyone else is refused as FORBIDDEN, over HTTP and WebSocket alike (both run
 * through envelop's execute and subscribe). `__typename` is not introspection and stays open.
 */
export function useIntrospectionForAdmins(): Plugin {
  const refusal = () => ({ errors: [new GraphQLError('Introspection is for administrators here: send an admin token', { extensions: { code: 'FORBIDDEN' } })] });
  const forbidden = (document: DocumentNode, context: unknown) => !isAdmin((context as GraphQLContext).identity) && asksForSchema(document);
  return {
    onExecute({ args, setResultAndStopExecution }) {
      if (forbidden(args.document, args.contextValue)) setResultAndStopExecution(refusal());
    },
    onSubscribe({ args, setResultAndStopExecution }) {
      if (forbidden(args.document, args.contextValue)) setResultAndStopExecution(refusal());
    },
  };
}

function asksForSchema(document: DocumentNode): boolean {
  let found = false;
  visit(document, {
    [Kind.FIELD](node) {
      if (node.name.value === '__schema' || node.name.value === '__type') found = true;
    },
  });
  return found;
}
