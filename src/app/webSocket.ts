import type http from 'node:http';
import { type ExecutionResult, GraphQLError } from 'graphql';
import type { YogaServerInstance } from 'graphql-yoga';
import { WebSocketServer } from 'ws';
import type { Logger } from '../core/logger.ts';
import type { GraphQLContext } from '../graphql/context.ts';
import type { OperationMetrics } from '../graphql/operationMetrics.ts';
import { mapResults, SharedSubscriptionResults } from '../graphql/sharedResults.ts';
import { serveGraphqlWs } from '../graphql/wsServer.ts';
import type { Authenticator } from './authenticator.ts';
import { socketAuthentication } from './socketAuthentication.ts';

/**
 * graphql-ws on the HTTP server's GraphQL path, running every operation through Yoga's envelop
 * (the same plugins, parsing, validation and context as HTTP). Subscribers of the same `events`
 * operation share one execution per event.
 */
export function serveSubscriptions(
  httpServer: http.Server,
  yoga: YogaServerInstance<{ req?: http.IncomingMessage }, GraphQLContext>,
  deps: { maskResult: (result: ExecutionResult) => ExecutionResult; operationMetrics: OperationMetrics; authenticator: Authenticator; logger: Logger },
): { dispose(): Promise<void> } {
  const wsServer = new WebSocketServer({ server: httpServer, path: yoga.graphqlEndpoint });
  const sharedResults = new SharedSubscriptionResults();
  const authentication = socketAuthentication(deps);
  return serveGraphqlWs(
    {
      onConnect: authentication.onConnect,
      onClose: authentication.onClose,
      execute: (args: any) => args.rootValue.execute(args),
      subscribe: async (args: any) => {
        if (!args.rootValue.shareKey) return args.rootValue.subscribe(args);
        const results = await sharedResults.subscribe(args, args.rootValue.shareKey);
        deps.operationMetrics.subscribed(args.document, args.operationName, results);
        return Symbol.asyncIterator in results ? mapResults(results, deps.maskResult) : deps.maskResult(results);
      },
      onSubscribe: async (ctx, _id, params) => {
        const { schema, execute, subscribe, contextFactory, parse, validate } = yoga.getEnveloped({
          ...ctx,
          req: ctx.extra.request,
          socket: ctx.extra.socket,
          params,
          identity: authentication.identityOf(ctx),
        });
        let document;
        try {
          document = parse(params.query);
        } catch (error) {
          return [error instanceof GraphQLError ? error : new GraphQLError('Could not parse the operation')];
        }
        const errors = validate(schema, document);
        if (errors.length > 0) return errors;
        return {
          schema,
          operationName: params.operationName,
          document,
          variableValues: params.variables,
          contextValue: await contextFactory(),
          rootValue: { execute, subscribe, shareKey: sharedResults.keyFor(document, params.operationName, params.query, params.variables) },
        };
      },
    },
    wsServer,
    deps.logger,
  );
}
