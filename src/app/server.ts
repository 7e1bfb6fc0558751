import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { type ExecutionResult, GraphQLError } from 'graphql';
import { createYoga, maskError as yogaMaskError, type YogaInitialContext } from 'graphql-yoga';
import { renderGraphiQL } from '@graphql-yoga/render-graphiql';
import { WebSocketServer } from 'ws';
import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import type { Config } from './config.ts';
import { DomainError, ValidationError } from '../core/errors.ts';
import type { Clock, IdGenerator } from '../core/ids.ts';
import { commandEnvironments } from '../eventStore/commands/commandEnvironment.ts';
import { FeedClosedError, LogFeed } from '../eventStore/feed/feed.ts';
import { CommitNotifier } from '../eventStore/feed/commitNotifier.ts';
import { feedHealth } from '../eventStore/feed/feedMetrics.ts';
import type { GraphQLContext } from '../graphql/context.ts';
import type { Composition } from './composition.ts';
import { serveGraphqlWs } from '../graphql/wsServer.ts';
import { mapResults, SharedSubscriptionResults } from '../graphql/sharedResults.ts';
import type { Logger } from '../core/logger.ts';
import { useStorableStrings } from '../graphql/storableStrings.ts';
import { Correlation } from './correlation.ts';
import { createMetrics } from './metrics.ts';
import { OperationMetrics } from '../graphql/operationMetrics.ts';

export type ServerDeps = {
  readonly config: Pick<Config, 'port' | 'host' | 'graphiql' | 'commandRetries'> & Partial<Pick<Config, 'stateCacheMaxBytes'>>;
  readonly composition: Composition;
  readonly orm: MikroORM;
  /** For the event feed's dedicated LISTEN connection. */
  readonly databaseUrl: string;
  readonly logger: Logger;
  readonly clock: Clock;
  readonly ids: IdGenerator;
};

export type RunningServer = {
  readonly url: string;
  readonly wsUrl: string;
  readonly port: number;
  readonly feed: LogFeed;
  /** Stops taking requests, lets in-flight ones finish, closes sockets and the feed. Leaves the ORM open. */
  close(): Promise<void>;
};

export async function startServer(deps: ServerDeps): Promise<RunningServer> {
  const { orm, logger, clock, ids } = deps;
  const feed = new LogFeed({ em: orm.em.fork(), databaseUrl: deps.databaseUrl, logger });
  await feed.start();
  const metrics = createMetrics(feed);
  const operationMetrics = new OperationMetrics(metrics.operations);
  const environmentFor = commandEnvironments({
    ids,
    projections: deps.composition.projections,
    retries: deps.config.commandRetries,
    notifier: new CommitNotifier({ em: orm.em, feed, logger }),
    ...(deps.config.stateCacheMaxBytes !== undefined ? { stateCacheMaxBytes: deps.config.stateCacheMaxBytes } : {}),
    observer: metrics.commands,
  });

  const correlation = new Correlation(ids, logger);
  const makeContext = (headers: { get(name: string): string | null | undefined }, request?: Request): GraphQLContext => {
    const correlationId = correlation.idFor(headers, request);
    const em = lazyFork(orm);
    const client = headers.get('user-agent')?.slice(0, 200);
    return {
      em,
      clock,
      ids,
      logger: logger.child({ correlationId }),
      correlationId,
      feed,
      commands: environmentFor(em, { correlationId, actor: 'anonymous', ...(client ? { client } : {}) }),
    };
  };

  const maskError = (error: unknown, message: string, isDev?: boolean): Error => {
    const original = error instanceof GraphQLError ? error.originalError : error;
    if (original instanceof DomainError) {
      // Domain errors thrown outside a result union (e.g. a bad cursor in a query) are the client's to see.
      const issues = original instanceof ValidationError ? { issues: original.issues } : {};
      return new GraphQLError(original.message, { extensions: { code: original.code, ...issues } });
    }
    // The live feed is reconnecting or shut down: the client should resubscribe, so it must see why.
    if (original instanceof FeedClosedError) return new GraphQLError(original.message, { extensions: original.extensions });
    if (original && !(original instanceof GraphQLError)) correlation.loggerFor(original).error('unexpected error in a GraphQL operation', { error: original });
    return yogaMaskError(error, message, isDev);
  };

  const yoga = createYoga<{ req?: http.IncomingMessage }, GraphQLContext>({
    schema: deps.composition.schema,
    graphqlEndpoint: '/graphql',
    landingPage: false,
    graphiql: deps.config.graphiql ? { title: 'Event-sourced GraphQL', subscriptionsProtocol: 'WS', defaultEditorToolsVisibility: true, defaultTabs: [...deps.composition.graphiqlTabs] } : false,
    renderGraphiQL,
    // HTTP operations carry a Fetch Request; WebSocket operations carry the upgrade request as `req`.
    context: (initial: YogaInitialContext & { req?: http.IncomingMessage }) =>
      makeContext(initial.request?.headers ?? nodeHeaders(initial.req?.headers ?? {}), initial.request),
    maskedErrors: { maskError },
    plugins: [useStorableStrings(), correlation.plugin(), operationMetrics.plugin()],
    logging: {
      debug: (...args) => logger.debug(String(args[0]), { args: args.slice(1) }),
      info: (...args) => logger.info(String(args[0]), { args: args.slice(1) }),
      warn: (...args) => logger.warn(String(args[0]), { args: args.slice(1) }),
      error: (...args) => logger.error(String(args[0]), { args: args.slice(1) }),
    },
  });

  const httpServer = http.createServer((req, res) => {
    if (req.url === '/health' || req.url === '/health/') {
      void health(orm, feed).then((body) => {
        res.writeHead(body.status === 'ok' ? 200 : 503, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      });
      return;
    }
    if (req.url === '/metrics' || req.url === '/metrics/') {
      void metrics.render().then(
        (text) => {
          res.writeHead(200, { 'content-type': metrics.contentType });
          res.end(text);
        },
        (error: unknown) => {
          logger.error('could not collect metrics', { error });
          res.writeHead(503, { 'content-type': 'text/plain' });
          res.end('metrics unavailable: the database did not answer\n');
        },
      );
      return;
    }
    void yoga(req, res, { req });
  });
  // Keep-alive a little longer than common load balancers' idle timeouts.
  httpServer.keepAliveTimeout = 65_000;

  const wsServer = new WebSocketServer({ server: httpServer, path: yoga.graphqlEndpoint });
  const sharedResults = new SharedSubscriptionResults();
  const maskResult = (result: ExecutionResult): ExecutionResult =>
    result.errors ? { ...result, errors: result.errors.map((error) => maskError(error, 'Unexpected error.') as GraphQLError) } : result;
  const wsDisposable = serveGraphqlWs(
    {
      execute: (args: any) => args.rootValue.execute(args),
      subscribe: async (args: any) => {
        if (!args.rootValue.shareKey) return args.rootValue.subscribe(args);
        const results = await sharedResults.subscribe(args, args.rootValue.shareKey);
        operationMetrics.subscribed(args.document, args.operationName, results);
        return Symbol.asyncIterator in results ? mapResults(results, maskResult) : maskResult(results);
      },
      onSubscribe: async (ctx, _id, params) => {
        const { schema: envelopedSchema, execute, subscribe, contextFactory, parse, validate } = yoga.getEnveloped({
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
        const errors = validate(envelopedSchema, document);
        if (errors.length > 0) return errors;
        return {
          schema: envelopedSchema,
          operationName: params.operationName,
          document,
          variableValues: params.variables,
          contextValue: await contextFactory(),
          // Subscribers of the same `events` operation share one execution per event.
          rootValue: { execute, subscribe, shareKey: sharedResults.keyFor(document, params.operationName, params.query, params.variables) },
        };
      },
    },
    wsServer,
    logger,
  );

  await new Promise<void>((resolve, reject) => {
    httpServer.once('error', reject);
    httpServer.listen(deps.config.port, deps.config.host, () => resolve());
  });
  const port = (httpServer.address() as AddressInfo).port;
  const host = deps.config.host === '0.0.0.0' || deps.config.host === '::' ? 'localhost' : deps.config.host;

  let closing: Promise<void> | undefined;
  return {
    url: `http://${host}:${port}/graphql`,
    wsUrl: `ws://${host}:${port}/graphql`,
    port,
    feed,
    close: () =>
      (closing ??= (async () => {
        // Stop accepting; requests already running (commands mid-transaction) finish first.
        const httpClosed = new Promise<void>((resolve) => httpServer.close(() => resolve()));
        // Keep-alive connections turn idle as their last request finishes; close each as it does.
        const idleSweep = setInterval(() => httpServer.closeIdleConnections(), 50);
        httpServer.closeIdleConnections();
        void httpClosed.then(() => clearInterval(idleSweep));
        await wsDisposable.dispose();
        await feed.stop();
        await httpClosed;
      })()),
  };
}

/**
 * An EntityManager fork made on first use. Every operation gets its own fork, but most
 * subscriptions never touch the ORM, and with ten thousand open a fork each was most of their memory.
 */
function lazyFork(orm: MikroORM): EntityManager {
  let fork: EntityManager | undefined;
  return new Proxy(orm.em, {
    get(_target, property) {
      fork ??= orm.em.fork();
      const value = Reflect.get(fork, property, fork);
      return typeof value === 'function' ? value.bind(fork) : value;
    },
  });
}

function nodeHeaders(headers: http.IncomingHttpHeaders) {
  return {
    get(name: string) {
      const value = headers[name.toLowerCase()];
      return Array.isArray(value) ? value[0] : value;
    },
  };
}

async function health(orm: MikroORM, feed: LogFeed) {
  try {
    const connection = await orm.em.getConnection().checkConnection();
    // Subscriptions cannot start while the feed reconnects, so that is degraded too.
    const feedStatus = connection.ok ? await feedHealth(feed) : { connected: feed.connected, subscribers: feed.subscriberCount };
    return {
      status: connection.ok && feedStatus.connected ? 'ok' : 'degraded',
      database: connection.ok ? 'up' : 'down',
      feed: feedStatus,
    };
  } catch {
    return { status: 'degraded', database: 'down' };
  }
}
