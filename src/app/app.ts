import { hostname } from 'node:os';
import type { Config } from './config.ts';
import { DEFAULT_LIMITS, DEFAULT_READ_YOUR_WRITES_TIMEOUT_MS, redactUrl } from './config.ts';
import { type Clock, type IdGenerator, systemClock, uuidv7Generator } from '../core/ids.ts';
import type { Logger } from '../core/logger.ts';
import { startEmbeddedPostgres, type RunningPostgres } from '../db/embeddedPostgres.ts';
import { migrate, openOrm, type Orm } from '../db/orm.ts';
import { commandEnvironments } from '../eventStore/commands/commandEnvironment.ts';
import { CommitNotifier } from '../eventStore/feed/commitNotifier.ts';
import { LogFeed } from '../eventStore/feed/feed.ts';
import { SnapshotStore } from '../eventStore/snapshots/snapshots.ts';
import { ReadModels } from '../eventStore/projections/readModels.ts';
import type { ProcessorDefinition } from '../eventStore/processors/processorDefinition.ts';
import { Processors } from '../eventStore/processors/processors.ts';
import { DEFAULT_FORWARDER_NAME, rabbitMqForwarder } from '../eventStore/forwarding/rabbitMqForwarder.ts';
import { countHiddenEvents } from '../eventStore/log/rebase.ts';
import { OperationMetrics } from '../graphql/operationMetrics.ts';
import { useQueryLimits } from '../graphql/queryLimits.ts';
import { useStorableStrings } from '../graphql/storableStrings.ts';
import { useIntrospectionForAdmins } from '../graphql/introspectionForAdmins.ts';
import type { ModuleDefinition } from '../modules/moduleDefinition.ts';
import { createAuthenticator } from './authenticator.ts';
import { compose } from './composition.ts';
import { contextFactory } from './context.ts';
import { Correlation } from './correlation.ts';
import { graphqlOverHttp } from './graphqlOverHttp.ts';
import { errorMasking } from './errorMasking.ts';
import { health, logHealth } from './health.ts';
import { closeGracefully, createHttpServer, createOpsServer, listen, type Listening } from './httpServer.ts';
import { createMetrics } from './metrics.ts';
import { useMutationRateLimit } from './mutationRateLimit.ts';
import { OriginPolicy } from './origins.ts';
import { serveSubscriptions } from './webSocket.ts';
import { useCompiledQueries } from './compiledQueries.ts';
import { graphqlHandler } from './yoga.ts';

export type Database = { readonly url: string; readonly embedded: RunningPostgres | undefined };

/** The database the config names, or an embedded one started for this process. */
export async function openDatabase(config: Pick<Config, 'databaseUrl' | 'embeddedDataDir' | 'embeddedPort'>, logger: Logger): Promise<Database> {
  if (config.databaseUrl) return { url: config.databaseUrl, embedded: undefined };
  const embedded = await startEmbeddedPostgres({ dataDir: config.embeddedDataDir, port: config.embeddedPort, logger });
  return { url: embedded.url, embedded };
}

export type AppOptions = {
  config: Pick<Config, 'port' | 'host' | 'graphiql' | 'commandRetries' | 'dbPoolSize' | 'auth'> & Partial<Pick<Config, 'stateCacheMaxBytes' | 'production' | 'limits' | 'trustProxy' | 'corsOrigins' | 'ops' | 'readYourWritesTimeoutMs' | 'rabbitMq'>> & {
    processors?: Partial<Config['processors']>;
  };
  databaseUrl: string;
  logger: Logger;
  clock?: Clock;
  ids?: IdGenerator;
  /** The modules to serve: the app's list (src/app/modules.ts), or any other. */
  modules: readonly ModuleDefinition[];
  /**
   * Processors of the core rather than of a module, run beside the modules' (and beside the
   * RabbitMQ forwarder, which `config.rabbitMq` adds).
   */
  coreProcessors?: readonly ProcessorDefinition[];
  /** A bearer token GraphiQL opens with (the development admin token; tests' own): without it, GraphiQL sends none. */
  graphiqlToken?: string;
};

export type App = {
  readonly orm: Orm;
  /** This process's live event feed (one per process, shared by every subscription). */
  readonly feed: LogFeed;
  /** The rebuildable read models and this process's rebuilds. */
  readonly readModels: ReadModels;
  /** The app's processors, run (each in exactly one process of the deployment) between `start` and `stop`. */
  readonly processors: Processors;
  /** Runs an HTTP GraphQL request in process, without a port (Yoga's fetch). */
  readonly fetch: (request: Request) => Promise<Response>;
  /** Starts the live feed and the processors, and listens on the configured port. */
  start(): Promise<Listening>;
  /** Stops taking requests, lets those in flight finish, then closes sockets, the feed and the ORM. The database is the caller's. */
  stop(): Promise<void>;
};

/**
 * Composes the app from its modules: connects and migrates, then wires the one path a command
 * takes (resolver → command handler → append with inline projections → commit notifier → feed) and
 * the transports around it. Nothing listens until `start`.
 */
export async function buildApp(options: AppOptions): Promise<App> {
  const { config, databaseUrl, logger } = options;
  const clock = options.clock ?? systemClock;
  const ids = options.ids ?? uuidv7Generator;
  const { production = false, limits = DEFAULT_LIMITS, trustProxy = false } = config;
  const origins = new OriginPolicy(config.corsOrigins ?? []);
  // Forwarding is a processor like any other: checkpointed, one process at a time, retried and parked.
  // Its connection is named after the process (as the processor's owner is), so the broker's list of
  // connections shows which replica forwards.
  const forwarder = config.rabbitMq ? rabbitMqForwarder({ ...config.rabbitMq, logger, connectionName: `${DEFAULT_FORWARDER_NAME} ${hostname()}:${process.pid}` }) : undefined;
  const composition = compose(options.modules, { coreProcessors: [...(options.coreProcessors ?? []), ...(forwarder ? [forwarder.processor] : [])] });
  const orm = await openOrm({ url: databaseUrl, poolSize: config.dbPoolSize, ...composition.orm });
  try {
    const applied = await migrate(orm);
    if (applied.length > 0) logger.info('applied migrations', { migrations: applied, database: redactUrl(databaseUrl) });
    const hiddenEvents = await countHiddenEvents(orm.em.fork());
    // Serving goes on (queries of read models and streams are right), but history and live feeds miss these events until repaired.
    if (hiddenEvents > 0) logger.warn('the event log holds events restored from another PostgreSQL cluster that no reader can see', logHealth(hiddenEvents));
  } catch (error) {
    await orm.close();
    throw error;
  }

  const readModels = new ReadModels({ orm, databaseUrl, projections: composition.projections, upcasters: composition.upcasters, logger });
  try {
    await readModels.recordUnversioned();
  } catch (error) {
    await orm.close();
    throw error;
  }
  // Rebuilt only on command (rebuildReadModel, npm run rebuild), never at start: see docs/evolving.md.
  for (const stale of (await readModels.statuses()).filter((status) => status.state === 'stale')) {
    logger.warn('a read model was built by another version of its projection; rebuild it once every instance runs this code', { readModel: stale.name, version: stale.version, builtVersion: stale.builtVersion });
  }

  const { upcasters } = composition;
  const feed = new LogFeed({ em: orm.em.fork(), databaseUrl, logger, upcasters });
  const snapshots = new SnapshotStore({ policies: composition.snapshots, logger });
  const notifier = new CommitNotifier({ em: orm.em, feed, logger, databaseUrl });
  const processors = new Processors({
    definitions: composition.processors,
    em: orm.em,
    upcasters,
    feed,
    databaseUrl,
    logger,
    clock,
    ...(config.processors ? { settings: config.processors } : {}),
  });
  const metrics = createMetrics(feed, processors);
  const operationMetrics = new OperationMetrics(metrics.operations);
  const environmentFor = commandEnvironments({
    ids,
    projections: composition.projections,
    policies: composition.policies,
    upcasters,
    snapshots,
    retries: config.commandRetries,
    notifier,
    ...(config.stateCacheMaxBytes !== undefined ? { stateCacheMaxBytes: config.stateCacheMaxBytes } : {}),
    observer: metrics.commands,
  });
  const correlation = new Correlation(ids, logger);
  const { maskError, maskResult, alreadyHandled } = errorMasking(correlation, { production });
  const authenticator = createAuthenticator(config.auth);
  const yoga = graphqlHandler({
    schema: composition.schema,
    graphiql: config.graphiql ? { tabs: composition.graphiqlTabs, ...(options.graphiqlToken ? { token: options.graphiqlToken } : {}) } : false,
    makeContext: contextFactory({
      orm,
      clock,
      ids,
      logger,
      feed,
      upcasters,
      readModels,
      processors,
      readYourWritesTimeoutMs: config.readYourWritesTimeoutMs ?? DEFAULT_READ_YOUR_WRITES_TIMEOUT_MS,
      correlation,
      authenticator,
      environmentFor,
    }),
    maskError,
    alreadyHandled,
    maxRequestBytes: limits.requestBytes,
    cors: (request) => origins.cors(request),
    plugins: [
      origins.plugin(),
      useQueryLimits(limits.query, { hideSuggestions: production }),
      useStorableStrings(),
      correlation.plugin(),
      operationMetrics.plugin(),
      useMutationRateLimit(limits.mutationRate, { clock, trustProxy }),
      ...(production ? [useIntrospectionForAdmins()] : []),
      useCompiledQueries(),
    ],
    logger,
  });
  const ops = { health: () => health(orm, feed, readModels), metrics, token: config.ops?.token, logger };
  const opsServer = config.ops?.port !== undefined ? createOpsServer(ops) : undefined;
  const serveGraphql = graphqlOverHttp(yoga, { maxRequestBytes: limits.requestBytes, logger, correlationId: (headers, context) => context?.correlationId ?? correlation.idFor(headers) });
  const httpServer = createHttpServer({ graphql: serveGraphql, ops: opsServer ? false : ops, maxRequestBytes: limits.requestBytes });
  const subscriptions = serveSubscriptions(httpServer, yoga, { maskResult, operationMetrics, authenticator, logger, limits, trustProxy, origins });

  let stopping: Promise<void> | undefined;
  return {
    orm,
    feed,
    readModels,
    processors,
    fetch: (request) => Promise.resolve(yoga.fetch(request)),
    async start() {
      await feed.start();
      await processors.start();
      readModels.watch();
      const listening = await listen(httpServer, config.port, config.host);
      if (!opsServer) return listening;
      const opsUrl = (await listen(opsServer, config.ops!.port!, config.ops!.host ?? config.host)).url.replace(/\/graphql$/, '');
      logger.info('operations endpoints ready', { health: `${opsUrl}/health`, metrics: `${opsUrl}/metrics` });
      return { ...listening, opsUrl };
    },
    stop: () =>
      (stopping ??= (async () => {
        // Requests already running (commands mid-transaction) finish while sockets and the feed close.
        const httpClosed = Promise.all([closeGracefully(httpServer), opsServer && closeGracefully(opsServer)]);
        await subscriptions.dispose();
        // Before the feed: a runner's batch under way finishes (or rolls back) while the pool is open.
        await processors.stop();
        await forwarder?.close();
        // A rebuild running here stops between batches; the live tables stay as they were.
        await readModels.stop();
        await feed.stop();
        await httpClosed;
        // A NOTIFY still on its way may hold a pooled connection: let it finish before the pool closes
        // (closing the notifier's own connection too).
        await notifier.close();
        await snapshots.settled();
        await orm.close();
      })()),
  };
}
