import type http from 'node:http';
import { type ExecutionResult, GraphQLError } from 'graphql';
import type { YogaServerInstance } from 'graphql-yoga';
import { WebSocketServer } from 'ws';
import { ANONYMOUS, type Identity } from '../core/identity.ts';
import type { Logger } from '../core/logger.ts';
import type { GraphQLContext } from '../graphql/context.ts';
import type { OperationMetrics } from '../graphql/operationMetrics.ts';
import { mapResults, SharedSubscriptionResults } from '../graphql/sharedResults.ts';
import { serveGraphqlWs, type WsExtra } from '../graphql/wsServer.ts';
import { callerKey } from './callers.ts';
import type { Limits } from './config.ts';
import type { OriginPolicy } from './origins.ts';
import { ConnectionsPerCaller, tooManySubscriptions } from './webSocketLimits.ts';

/**
 * graphql-ws on the HTTP server's GraphQL path, running every operation through Yoga's envelop
 * (the same plugins, parsing, validation and context as HTTP). Subscribers of the same `events`
 * operation share one execution per event. Messages, operations per socket and sockets per caller
 * are limited (`limits.webSocket`); a refused subscription gets its error, the socket stays up.
 */
export function serveSubscriptions(
  httpServer: http.Server,
  yoga: YogaServerInstance<{ req?: http.IncomingMessage }, GraphQLContext>,
  deps: {
    maskResult: (result: ExecutionResult) => ExecutionResult;
    operationMetrics: OperationMetrics;
    logger: Logger;
    limits: Pick<Limits, 'webSocket' | 'sharedResultsBytes'>;
    trustProxy: boolean;
    origins: OriginPolicy;
  },
): { dispose(): Promise<void> } {
  const { webSocket: limits } = deps.limits;
  // ws reads no message past maxPayload: it closes the socket with 1009 (message too big) instead.
  const wsServer = new WebSocketServer({
    server: httpServer,
    path: yoga.graphqlEndpoint,
    maxPayload: limits.maxPayloadBytes,
    // Browsers let any page open a WebSocket anywhere (no CORS): the upgrade's Origin is checked against the same list.
    verifyClient: ({ origin, req }, allow) => (deps.origins.allows(origin, req.headers.host) ? allow(true) : allow(false, 403, 'Origin not allowed')),
  });
  const sharedResults = new SharedSubscriptionResults({ maxBytes: deps.limits.sharedResultsBytes });
  const connections = new ConnectionsPerCaller(limits.connectionsPerCaller);
  /** The caller as the operations' context will see it; a token that does not verify counts as anonymous here. */
  const identityOf = async (ctx: { extra: WsExtra; connectionParams?: Readonly<Record<string, unknown>> }): Promise<Identity> => {
    try {
      const enveloped = yoga.getEnveloped({ ...ctx, req: ctx.extra.request, socket: ctx.extra.socket, params: {} });
      return ((await enveloped.contextFactory()) as GraphQLContext).identity;
    } catch {
      return ANONYMOUS;
    }
  };
  return serveGraphqlWs(
    {
      onConnect: async (ctx) => {
        const caller = callerKey(await identityOf(ctx), ctx.extra.request, deps.trustProxy);
        if (connections.admit(ctx.extra.socket, caller)) return true;
        connections.refuse(ctx.extra.socket);
        return false;
      },
      execute: (args: any) => args.rootValue.execute(args),
      subscribe: async (args: any) => {
        if (!args.rootValue.shareKey) return args.rootValue.subscribe(args);
        const results = await sharedResults.subscribe(args, args.rootValue.shareKey);
        deps.operationMetrics.subscribed(args.document, args.operationName, results);
        return Symbol.asyncIterator in results ? mapResults(results, deps.maskResult) : deps.maskResult(results);
      },
      onSubscribe: async (ctx, _id, params) => {
        const refused = tooManySubscriptions(ctx.subscriptions, limits.subscriptionsPerSocket);
        if (refused) return [...refused];
        const { schema, execute, subscribe, contextFactory, parse, validate } = yoga.getEnveloped({
          ...ctx,
          req: ctx.extra.request,
          socket: ctx.extra.socket,
          params,
        });
        let document;
        try {
          document = parse(params.query);
        } catch (error) {
          return [error instanceof GraphQLError ? error : new GraphQLError('Could not parse the operation')];
        }
        const errors = validate(schema, document);
        if (errors.length > 0) return errors;
        // A context that cannot be made for the caller (a token that does not verify) refuses this operation with its typed error.
        let contextValue;
        try {
          contextValue = await contextFactory();
        } catch (error) {
          if (error instanceof GraphQLError) return [error];
          throw error;
        }
        return {
          schema,
          operationName: params.operationName,
          document,
          variableValues: params.variables,
          contextValue,
          rootValue: { execute, subscribe, shareKey: sharedResults.keyFor(document, params.operationName, params.query, params.variables) },
        };
      },
    },
    wsServer,
    deps.logger,
  );
}
