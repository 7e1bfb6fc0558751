import type http from 'node:http';
import { type ExecutionResult, GraphQLError } from 'graphql';
import type { YogaServerInstance } from 'graphql-yoga';
import { WebSocketServer } from 'ws';
import { isAdmin, principalsOf } from '../core/identity.ts';
import type { Logger } from '../core/logger.ts';
import type { GraphQLContext } from '../graphql/context.ts';
import type { OperationMetrics } from '../graphql/operationMetrics.ts';
import { type PushTarget, SharedSubscriptionResults } from '../graphql/sharedResults.ts';
import { senderFor, serveGraphqlWs, type SocketSend } from '../graphql/wsServer.ts';
import type { Authenticator } from './authenticator.ts';
import { callerKey, type RequestOrigin } from './callers.ts';
import type { Limits } from './config.ts';
import type { OriginPolicy } from './origins.ts';
import { socketAuthentication } from './socketAuthentication.ts';
import { ConnectionsPerCaller, tooManySubscriptions } from './webSocketLimits.ts';

const MESSAGE_END = Buffer.from('}');

/**
 * graphql-ws on the HTTP server's GraphQL path, running every operation through Yoga's envelop
 * (the same plugins, parsing, validation and context as HTTP). Subscribers of the same `events`
 * operation who see the same events share one execution per event. Messages, operations per
 * socket and sockets per caller are limited (`limits.webSocket`); a refused subscription gets its
 * error, the socket stays up.
 */
export function serveSubscriptions(
  httpServer: http.Server,
  yoga: YogaServerInstance<{ req?: RequestOrigin }, GraphQLContext>,
  deps: {
    maskResult: (result: ExecutionResult) => ExecutionResult;
    operationMetrics: OperationMetrics;
    authenticator: Authenticator;
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
  const authentication = socketAuthentication(deps);
  return serveGraphqlWs(
    {
      // Who is calling first (a bad token closes with 4403), then how many sockets that caller holds.
      onConnect: async (ctx) => {
        if (!(await authentication.onConnect(ctx))) return false;
        const caller = callerKey(authentication.identityOf(ctx), ctx.extra.request, deps.trustProxy);
        if (connections.admit(ctx.extra.socket, caller)) return true;
        connections.refuse(ctx.extra.socket);
        return false;
      },
      onClose: authentication.onClose,
      execute: (args: any) => args.rootValue.execute(args),
      subscribe: async (args: any) => {
        if (!args.rootValue.shareKey) return args.rootValue.subscribe(args);
        const results = await sharedResults.subscribe(args, args.rootValue.shareKey, args.rootValue.push);
        deps.operationMetrics.subscribed(args.document, args.operationName, results);
        // Pushed results are masked before they are shared, and yielded ones by sharedResults itself (`push.mask`).
        return Symbol.asyncIterator in results ? results : deps.maskResult(results);
      },
      onSubscribe: async (ctx, id, params) => {
        const refused = tooManySubscriptions(ctx.subscriptions, limits.subscriptionsPerSocket);
        if (refused) return [...refused];
        const identity = authentication.identityOf(ctx);
        // The operation's context starts from what its resolvers and plugins read (the request's
        // headers and connection, its params, who is calling), not graphql-ws's connection state: a
        // subscription keeps its context as long as it runs, and a few more properties there turn
        // it into a dictionary of about a kilobyte.
        const { schema, execute, subscribe, contextFactory, parse, validate } = yoga.getEnveloped({ req: ctx.extra.request, params, identity });
        let document;
        try {
          document = parse(params.query);
        } catch (error) {
          return [error instanceof GraphQLError ? error : new GraphQLError('Could not parse the operation')];
        }
        const errors = validate(schema, document);
        if (errors.length > 0) return errors;
        // What the caller may see is part of the share key: results are shared only among those who see alike.
        const audience = isAdmin(identity) ? '*' : principalsOf(identity).join(' ');
        const shareKey = sharedResults.keyFor(document, params.operationName, params.query, params.variables, audience);
        return {
          schema,
          operationName: params.operationName,
          document,
          variableValues: params.variables,
          contextValue: await contextFactory(),
          // A shared subscription runs outside the envelop (see `subscribe` above): it keeps no closures of it for as long as it runs.
          rootValue: shareKey ? { shareKey, push: new SocketPush(senderFor(ctx.extra.socket), id, deps.maskResult) } : { execute, subscribe },
        };
      },
    },
    wsServer,
    deps.logger,
    limits.keepAliveMs,
  );
}

/**
 * Where a pushed subscription's results go: a shared result is serialised once, and each
 * subscriber's `next` message wraps those bytes with its own id. A class, so that each of many idle
 * subscriptions holds three fields rather than closures of its own.
 */
class SocketPush implements PushTarget {
  private readonly sender: SocketSend;
  private readonly id: string;
  readonly mask: (result: ExecutionResult) => ExecutionResult;
  /** Made at the first message, outside Buffer's shared pool: an idle subscription must not pin a pool slab. */
  private head: Buffer | undefined;

  constructor(sender: SocketSend, id: string, mask: (result: ExecutionResult) => ExecutionResult) {
    this.sender = sender;
    this.id = id;
    this.mask = mask;
  }

  send(payload: readonly Buffer[]): void | Promise<void> {
    return this.sender([(this.head ??= headOf(this.id)), ...payload, MESSAGE_END]);
  }
}

function headOf(id: string): Buffer {
  const text = `{"id":${JSON.stringify(id)},"type":"next","payload":`;
  const bytes = Buffer.allocUnsafeSlow(Buffer.byteLength(text));
  bytes.write(text);
  return bytes;
}
