import { ConfigError, loadConfig, redactUrl } from './app/config.ts';
import { createLogger } from './core/logger.ts';
import { type App, buildApp, openDatabase } from './app/app.ts';
import type { Listening } from './app/httpServer.ts';
import { modules } from './app/modules.ts';

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
  const logger = createLogger(config.logLevel);
  const database = await openDatabase(config, logger);
  const source = database.embedded ? `embedded PostgreSQL (data in ${config.embeddedDataDir})` : 'DATABASE_URL';

  let app: App;
  let listening: Listening;
  try {
    app = await buildApp({ config, databaseUrl: database.url, logger, modules });
    listening = await app.start().catch(async (error: unknown) => {
      await app.stop();
      throw error;
    });
  } catch (error) {
    await database.embedded?.stop();
    throw error;
  }
  // Only now has the app connected: it opened the pool, ran the migrations and the feed's LISTEN.
  logger.info('database ready', { database: redactUrl(database.url), source });

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info('shutting down', { signal });
    const forced = setTimeout(() => {
      logger.error('shutdown took longer than 15s; exiting');
      process.exit(1);
    }, 15_000);
    forced.unref();
    try {
      await app.stop();
      await database.embedded?.stop();
      logger.info('stopped cleanly');
    } catch (error) {
      logger.error('error during shutdown', { error });
      process.exitCode = 1;
    }
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));

  // Announced last, once a signal would already shut down cleanly: whoever waits for this line may stop us at once.
  logger.info('API ready', { url: listening.url, graphiql: config.graphiql ? listening.url : 'disabled', subscriptions: listening.wsUrl });
  process.stdout.write(`\n  GraphQL API:  ${listening.url}${config.graphiql ? '   (open it in a browser for GraphiQL)' : ''}\n  WebSocket:    ${listening.wsUrl}\n  Database:     ${redactUrl(database.url)} — ${source}\n\n`);
}

main().catch((error) => {
  process.stderr.write(`Failed to start: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
