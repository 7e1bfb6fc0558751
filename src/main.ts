import { DEVELOPMENT_TOKEN_SUBJECTS, mintTokenFor } from './app/authenticator.ts';
import { type Config, loadConfigOrExit, redactUrl } from './app/config.ts';
import { createLogger } from './core/logger.ts';
import { type App, buildApp, openDatabase } from './app/app.ts';
import type { Listening } from './app/httpServer.ts';
import { modules } from './app/modules.ts';

async function main(): Promise<void> {
  const config = loadConfigOrExit();
  const logger = createLogger(config.logLevel);
  if (config.auth.mode === 'off') {
    logger.warn('authentication is off (AUTH=off): every caller acts as an administrator; never let this server be reached by anyone you do not trust');
  }
  const tokens = config.auth.development ? await developmentTokens(config.auth) : undefined;
  if (tokens) logger.info('no JWT_SECRET or JWT_JWKS_URL: tokens are checked with the well-known development secret (NODE_ENV=production refuses to start so)');
  const database = await openDatabase(config, logger);
  const source = database.embedded ? `embedded PostgreSQL (data in ${config.embeddedDataDir})` : 'DATABASE_URL';

  let app: App;
  let listening: Listening;
  try {
    app = await buildApp({ config, databaseUrl: database.url, logger, modules, ...(tokens ? { graphiqlToken: tokens[0]!.token } : {}) });
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
  if (tokens) process.stdout.write(developmentBanner(tokens, listening.url, config.graphiql));
}

type DevelopmentToken = { subject: string; roles: readonly string[]; token: string };

/** Ready-made tokens for the development secret, so the tour and a first curl need no identity provider. The admin's comes first. */
function developmentTokens(auth: Config['auth']): Promise<DevelopmentToken[]> {
  return Promise.all(DEVELOPMENT_TOKEN_SUBJECTS.map(async ({ subject, roles }) => ({ subject, roles, token: await mintTokenFor(auth, { subject, roles, expiresIn: '30d' }) })));
}

function developmentBanner(tokens: readonly DevelopmentToken[], url: string, graphiql: boolean): string {
  const lines = tokens.map(({ subject, roles, token }) => `    ${`${subject} (${roles.join(', ')}):`.padEnd(20)} ${token}`);
  const query = JSON.stringify({ query: '{ carts(first: 5) { edges { node { cartId customerId status } } } }' });
  return [
    `  Development tokens, valid 30 days (signed with the development secret${graphiql ? '; GraphiQL already sends the admin one' : ''}):`,
    ...lines,
    '',
    `  Try:  curl -s ${url} -H 'content-type: application/json' -H 'authorization: Bearer ${tokens[0]!.token}' -d '${query}'`,
    `  More: npm run token -- --sub bob --role customer`,
    '',
    '',
  ].join('\n');
}

main().catch((error) => {
  process.stderr.write(`Failed to start: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
