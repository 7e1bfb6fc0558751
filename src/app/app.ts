import type { Config } from './config.ts';
import { redactUrl } from './config.ts';
import { type Clock, type IdGenerator, systemClock, uuidv7Generator } from '../core/ids.ts';
import { startEmbeddedPostgres, type RunningPostgres } from '../db/embeddedPostgres.ts';
import { migrate, openOrm, type Orm } from '../db/orm.ts';
import type { Logger } from '../core/logger.ts';
import type { ModuleDefinition } from '../modules/moduleDefinition.ts';
import { compose } from './composition.ts';
import { startServer, type RunningServer } from './server.ts';

export type Database = { readonly url: string; readonly embedded: RunningPostgres | undefined };

/** The database the config names, or an embedded one started for this process. */
export async function openDatabase(config: Pick<Config, 'databaseUrl' | 'embeddedDataDir' | 'embeddedPort'>, logger: Logger): Promise<Database> {
  if (config.databaseUrl) return { url: config.databaseUrl, embedded: undefined };
  const embedded = await startEmbeddedPostgres({ dataDir: config.embeddedDataDir, port: config.embeddedPort, logger });
  return { url: embedded.url, embedded };
}

export type App = { readonly orm: Orm; readonly server: RunningServer; close(): Promise<void> };

/** Connects, migrates and serves. `close` shuts the server, then the ORM; the database is the caller's. */
export async function startApp(options: {
  config: Pick<Config, 'port' | 'host' | 'graphiql' | 'commandRetries' | 'dbPoolSize'> & Partial<Pick<Config, 'stateCacheMaxBytes'>>;
  databaseUrl: string;
  logger: Logger;
  clock?: Clock;
  ids?: IdGenerator;
  /** The modules to serve: the app's list (src/app/modules.ts), or any other. */
  modules: readonly ModuleDefinition[];
}): Promise<App> {
  const { config, databaseUrl, logger } = options;
  const composition = compose(options.modules);
  const orm = await openOrm({ url: databaseUrl, poolSize: config.dbPoolSize, ...composition.orm });
  try {
    const applied = await migrate(orm);
    if (applied.length > 0) logger.info('applied migrations', { migrations: applied, database: redactUrl(databaseUrl) });
    const server = await startServer({
      config,
      composition,
      orm,
      databaseUrl,
      logger,
      clock: options.clock ?? systemClock,
      ids: options.ids ?? uuidv7Generator,
    });
    return {
      orm,
      server,
      close: async () => {
        await server.close();
        await orm.close();
      },
    };
  } catch (error) {
    await orm.close();
    throw error;
  }
}
