import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { buildApp, type App, type AppOptions } from '../../src/app/app.ts';
import type { Config } from '../../src/app/config.ts';
import { silentLogger, type Logger } from '../../src/core/logger.ts';
import { modules } from '../../src/app/modules.ts';
import type { ModuleDefinition } from '../../src/modules/moduleDefinition.ts';
import { adminToken, TEST_AUTH } from './auth.ts';
import { FakeClock } from './clock.ts';
import { createTestDatabase, type TestDatabase } from './database.ts';

export type TestServer = {
  readonly app: App;
  /** The server's clock: commands stamp their events with its time, and it moves only when a test advances it. */
  readonly clock: FakeClock;
  readonly url: string;
  readonly wsUrl: string;
  /** Where /health and /metrics are when the config gives them a port of their own. */
  readonly opsUrl: string | undefined;
  readonly database: TestDatabase;
  /** POSTs a GraphQL operation as an administrator (pass another `authorization` header, or '' for none); returns the parsed body. */
  gql<T = any>(query: string, variables?: Record<string, unknown>, headers?: Record<string, string>): Promise<{ data?: T; errors?: { message: string; extensions?: Record<string, unknown> }[] }>;
  /** A real graphql-ws client on this server, as an administrator unless given another token (null: none). */
  wsClient(options?: { token?: string | null }): Client;
  close(): Promise<void>;
};

/** The whole API on a free port over a fresh database, as `npm start` runs it, on a clock the test controls. */
export async function startTestServer(
  options: {
    database?: TestDatabase;
    logger?: Logger;
    clock?: FakeClock;
    modules?: readonly ModuleDefinition[];
    coreProcessors?: AppOptions['coreProcessors'];
    auth?: Config['auth'];
    config?: Partial<AppOptions['config']>;
  } = {},
): Promise<TestServer> {
  const database = options.database ?? (await createTestDatabase(options.modules ? { modules: options.modules } : {}));
  const clock = options.clock ?? new FakeClock();
  const app = await buildApp({
    config: { port: 0, host: '127.0.0.1', graphiql: true, commandRetries: 5, dbPoolSize: 10, auth: options.auth ?? TEST_AUTH, ...options.config },
    databaseUrl: database.url,
    logger: options.logger ?? silentLogger,
    clock,
    modules: options.modules ?? modules,
    ...(options.coreProcessors ? { coreProcessors: options.coreProcessors } : {}),
    // GraphiQL opens as an administrator, as it does on `npm start`'s development tokens.
    graphiqlToken: adminToken,
  });
  const { url, wsUrl, opsUrl } = await app.start();
  const clients: Client[] = [];
  return {
    app,
    clock,
    url,
    wsUrl,
    opsUrl,
    database,
    async gql(query, variables, headers) {
      const { authorization = `Bearer ${adminToken}`, ...others } = headers ?? {};
      const response = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(authorization ? { authorization } : {}), ...others },
        body: JSON.stringify({ query, variables }),
      });
      return (await response.json()) as any;
    },
    wsClient(options = {}) {
      const token = options.token === undefined ? adminToken : options.token;
      const client = createClient({ url: wsUrl, webSocketImpl: WebSocket, retryAttempts: 0, lazy: true, connectionParams: token ? { authorization: `Bearer ${token}` } : {} });
      clients.push(client);
      return client;
    },
    async close() {
      await Promise.all(clients.map((client) => client.dispose()));
      await app.stop();
      if (!options.database) await database.drop();
    },
  };
}

/** Collects what a subscription pushes, for assertions. */
export function collect<T>(client: Client, query: string, variables?: Record<string, unknown>) {
  const received: T[] = [];
  const errors: unknown[] = [];
  let completed = false;
  const waiters: { count: number; resolve: () => void }[] = [];
  const unsubscribe = client.subscribe<T>(
    { query, ...(variables ? { variables } : {}) },
    {
      next: (value) => {
        if (value.errors) errors.push(...value.errors);
        if (value.data) received.push(value.data as T);
        for (const waiter of [...waiters]) {
          if (received.length >= waiter.count) {
            waiters.splice(waiters.indexOf(waiter), 1);
            waiter.resolve();
          }
        }
      },
      error: (error) => errors.push(error),
      complete: () => (completed = true),
    },
  );
  return {
    received,
    errors,
    get completed() {
      return completed;
    },
    unsubscribe,
    /** Resolves once `count` messages arrived; rejects after `timeoutMs`. */
    waitFor(count: number, timeoutMs = 10_000): Promise<void> {
      if (received.length >= count) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`timed out with ${received.length}/${count} messages; errors: ${JSON.stringify(errors)}`)), timeoutMs);
        waiters.push({ count, resolve: () => (clearTimeout(timer), resolve()) });
      });
    },
  };
}
