import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { createAuthenticator } from '../src/app/authenticator.ts';
import { loadConfig } from '../src/app/config.ts';
import { freePort } from '../src/db/embeddedPostgres.ts';
import { adminToken, TEST_AUTH_ENV } from './support/auth.ts';
import { clusterUrl } from './support/database.ts';
import { runCommand, runServerProcess, startServerProcess } from './support/process.ts';

let workDir: string;
beforeAll(async () => {
  workDir = await mkdtemp(path.join(os.tmpdir(), 'es-graphql-start-'));
  await chmod(workDir, 0o755); // the embedded PostgreSQL runs as the `postgres` user when we are root
});
afterAll(async () => rm(workDir, { recursive: true, force: true }));

/** True once nothing listens on `port` any more. */
const connectionRefused = (port: string) =>
  new Promise<boolean>((resolve, reject) => {
    const socket = net.connect(Number(port), '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', (error: NodeJS.ErrnoException) => (error.code === 'ECONNREFUSED' ? resolve(true) : reject(error)));
  });

/** POSTs an operation as an administrator of the tests' own JWT settings, which the API processes here check unless told otherwise. */
const post = (url: string, query: string, variables?: object, token = adminToken) =>
  fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify({ query, variables }) }).then(
    (r) => r.json() as Promise<any>,
  );

describe('starting and stopping the service as `npm start` does', () => {
  it('bad configuration stops the start with a message naming each variable', async () => {
    const { code, output } = await runServerProcess({ PORT: 'eighty', DATABASE_URL: 'mysql://x', LOG_LEVEL: 'loud' });
    expect(code).toBe(2);
    expect(output).toContain('PORT must be a whole number from 0 to 65535, got "eighty"');
    expect(output).toContain('DATABASE_URL must start with postgres:// or postgresql://');
    expect(output).toContain('LOG_LEVEL must be one of debug, info, warn, error');
  });

  it('with no DATABASE_URL it runs on an embedded PostgreSQL, keeps its data, and Ctrl-C lets in-flight commands finish', async () => {
    const dataDir = path.join(workDir, 'pg');
    const databasePort = await freePort();
    // A pool large enough that every command of the burst holds a connection at once.
    const env = { PORT: '0', EMBEDDED_PG_DATA_DIR: dataDir, EMBEDDED_PG_PORT: String(databasePort), DATABASE_URL: '', DB_POOL_SIZE: '30' };
    const first = await startServerProcess(env);
    expect(first.url).toMatch(/^http:\/\/localhost:\d+\/graphql$/);
    expect(first.output()).toContain('embedded PostgreSQL');
    expect(first.output()).not.toContain('postgres:postgres@'); // the password is redacted in logs

    const carts = Array.from({ length: 20 }, (_, i) => `kept-${i}`);
    for (const cartId of carts) {
      const opened = await post(first.url, `mutation($id: ID!) { openCart(input: { cartId: $id, customerId: "c" }) { __typename } }`, { id: cartId });
      expect(opened.data.openCart.__typename).toBe('OpenCartSuccess');
    }

    // Hold every append at the events table, so the burst is certainly in flight when Ctrl-C comes.
    const databaseUrl = `postgres://postgres:postgres@127.0.0.1:${databasePort}/postgres`;
    const database = new pg.Client({ connectionString: databaseUrl });
    // Another connection watches: inside the lock's transaction, pg_stat_activity would stay as first read.
    const observer = new pg.Client({ connectionString: databaseUrl });
    await Promise.all([database.connect(), observer.connect()]);
    let held = true;
    const releaseAppends = async () => {
      if (!held) return;
      held = false;
      await database.query('commit');
      await Promise.all([database.end(), observer.end()]);
    };
    try {
      await database.query('begin');
      await database.query('lock table events in share mode');
      const burst = carts.map((cartId) =>
        post(first.url, `mutation($id: ID!) { addItemToCart(input: { cartId: $id, sku: "S", name: "n", unitPrice: { amount: 1, currency: "EUR" }, quantity: 1 }) { __typename } }`, { id: cartId }),
      );
      // Accepted: each command is inside the server, its append waiting for the lock.
      const waitingAppends = async () =>
        (await observer.query<{ n: number }>(`select count(*)::int as n from pg_stat_activity where wait_event_type = 'Lock' and query like '%insert into events%'`)).rows[0]!.n;
      await expect.poll(waitingAppends, { timeout: 20_000 }).toBe(carts.length);

      first.child.kill('SIGINT');
      await expect.poll(() => first.output(), { timeout: 10_000 }).toContain('"message":"shutting down"');
      // The server takes no new connections now, while the burst is still waiting on the lock.
      await expect.poll(() => connectionRefused(new URL(first.url).port), { timeout: 10_000 }).toBe(true);
      expect(await waitingAppends()).toBe(carts.length);
      await releaseAppends();

      const outcomes = await Promise.all(burst);
      // Every command the server had accepted finished, none was cut off.
      expect(outcomes.map((body) => body.data?.addItemToCart?.__typename ?? JSON.stringify(body))).toEqual(carts.map(() => 'AddItemToCartSuccess'));
    } finally {
      await releaseAppends();
    }
    expect(await first.exited, first.output()).toBe(0);
    expect(first.output()).toContain('stopped cleanly');
    expect(existsSync(path.join(dataDir, 'postmaster.pid'))).toBe(false);

    const second = await startServerProcess(env);
    try {
      for (const cartId of carts) {
        const read = await post(second.url, `query($id: ID!) { cart(id: $id) { itemCount version } stream(id: $id) { version } }`, { id: cartId });
        expect(read.data, cartId).toEqual({ cart: { itemCount: 1, version: 2 }, stream: { version: 2 } });
      }
    } finally {
      second.child.kill('SIGTERM');
      expect(await second.exited, second.output()).toBe(0);
    }
  });
});

describe('the start-up log', () => {
  const messages = (output: string) =>
    output
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => (JSON.parse(line) as { message: string }).message);

  it('says "database ready" only after it has connected and migrated, with where the database is', async () => {
    const database = await createEmptyDatabase();
    try {
      const server = await startServerProcess({ PORT: '0', DATABASE_URL: database.url });
      server.child.kill('SIGTERM');
      expect(await server.exited, server.output()).toBe(0);
      const logged = messages(server.output());
      expect(logged.indexOf('applied migrations')).toBeGreaterThanOrEqual(0);
      expect(logged.indexOf('database ready')).toBeGreaterThan(logged.indexOf('applied migrations'));
      expect(logged.indexOf('API ready')).toBeGreaterThan(logged.indexOf('database ready'));
      const ready = server.output().split('\n').find((line) => line.includes('"database ready"'))!;
      expect(JSON.parse(ready)).toMatchObject({ level: 'info', source: 'DATABASE_URL', database: expect.stringContaining(database.name) });
      expect(ready).not.toContain(':postgres@'); // the password stays redacted
    } finally {
      await database.drop();
    }
  });

  it('never says "database ready" when the database cannot be reached', async () => {
    const port = await freePort(); // nothing listens there
    const { code, output } = await runServerProcess({ PORT: '0', LOG_LEVEL: 'info', DATABASE_URL: `postgres://postgres:secret@127.0.0.1:${port}/absent` });
    expect(code).not.toBe(0);
    expect(output).toMatch(/Failed to start/);
    expect(messages(output)).not.toContain('database ready');
  });
});

/** No JWT settings from the shell running the tests: the start decides as it would on a fresh machine. */
const NO_JWT_SETTINGS = { AUTH: '', JWT_SECRET: '', JWT_JWKS_URL: '', JWT_ISSUER: '', JWT_AUDIENCE: '', JWT_ROLES_CLAIM: '', JWT_CLOCK_TOLERANCE_SECONDS: '' };

describe('authentication at start', () => {
  it('with no JWT settings outside production, prints an admin and a customer token and a curl line that works, and GraphiQL opens with the admin token', async () => {
    const database = await createEmptyDatabase();
    const server = await startServerProcess({ PORT: '0', DATABASE_URL: database.url, NODE_ENV: 'development', ...NO_JWT_SETTINGS });
    try {
      await expect.poll(() => server.output()).toMatch(/Try: +curl .*\n/);
      const output = server.output();
      const adminToken = /admin \(admin\): +(\S+)/.exec(output)?.[1];
      const aliceToken = /alice \(customer\): +(\S+)/.exec(output)?.[1];
      expect(adminToken, output).toBeDefined();
      expect(aliceToken, output).toBeDefined();

      // They are tokens of the development configuration, valid for 30 days.
      const development = createAuthenticator(loadConfig({}).auth);
      const admin = await development.authenticate(adminToken);
      const alice = await development.authenticate(aliceToken);
      expect(admin).toMatchObject({ kind: 'subject', subject: 'admin', roles: ['admin'] });
      expect(alice).toMatchObject({ kind: 'subject', subject: 'alice', roles: ['customer'] });
      const days = (identity: typeof admin) => (identity.kind === 'subject' ? (identity.expiresAt!.getTime() - Date.now()) / 86_400_000 : 0);
      expect(days(admin)).toBeGreaterThan(29.9);

      // The printed curl line, run as it is, answers with data.
      const curl = /Try: +(curl .*)\n/.exec(output)![1]!;
      const { stdout } = await runCommand('bash', ['-c', curl]);
      expect(JSON.parse(stdout)).toEqual({ data: { carts: { edges: [] } } });

      // The admin token is the caller's identity: its subject becomes the events' actor.
      const opened = await post(server.url, `mutation { openCart(input: { cartId: "dev-token", customerId: "alice" }) { ... on OpenCartSuccess { events { metadata { actor } } } } }`, undefined, adminToken);
      expect(opened.data.openCart.events).toEqual([{ metadata: { actor: 'admin' } }]);

      // GraphiQL's page carries it for its headers editor and its WebSocket's connection params.
      const page = await (await fetch(server.url, { headers: { accept: 'text/html' } })).text();
      expect(page.split(`Bearer ${adminToken}`)).toHaveLength(3);
    } finally {
      server.child.kill('SIGTERM');
      await server.exited;
      await database.drop();
    }
  });

  it('with JWT settings prints no tokens and GraphiQL opens with none', async () => {
    const database = await createEmptyDatabase();
    const server = await startServerProcess({ PORT: '0', DATABASE_URL: database.url, NODE_ENV: 'development', ...NO_JWT_SETTINGS, ...TEST_AUTH_ENV });
    try {
      await expect.poll(() => server.output()).toContain('WebSocket:');
      expect(server.output()).not.toContain('Development tokens');
      const page = await (await fetch(server.url, { headers: { accept: 'text/html' } })).text();
      expect(page).toContain('Event-sourced GraphQL');
      expect(page).not.toContain('Bearer ');
    } finally {
      server.child.kill('SIGTERM');
      await server.exited;
      await database.drop();
    }
  });

  it('with AUTH=off, warns at start that every caller acts as an administrator', async () => {
    const database = await createEmptyDatabase();
    const server = await startServerProcess({ PORT: '0', DATABASE_URL: database.url, ...NO_JWT_SETTINGS, AUTH: 'off' });
    try {
      const warning = server
        .output()
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map((line) => JSON.parse(line) as { level: string; message: string })
        .find((entry) => entry.message.startsWith('authentication is off'));
      expect(warning, server.output()).toMatchObject({ level: 'warn', message: expect.stringContaining('every caller acts as an administrator') });
    } finally {
      server.child.kill('SIGTERM');
      await server.exited;
      await database.drop();
    }
  });

  it('under NODE_ENV=production refuses to start without JWT settings', async () => {
    const { code, output } = await runServerProcess({ PORT: '0', NODE_ENV: 'production', ...NO_JWT_SETTINGS });
    expect(code).toBe(2);
    expect(output).toContain('JWT_SECRET or JWT_JWKS_URL must be set when NODE_ENV=production (or AUTH=off');
  });
});


/** A database on the test server with nothing in it, so the API's start applies every migration. */
async function createEmptyDatabase(): Promise<{ url: string; name: string; drop(): Promise<void> }> {
  const serverUrl = clusterUrl().toString();
  const name = `test_${randomBytes(6).toString('hex')}`;
  const admin = async (sql: string) => {
    const client = new pg.Client({ connectionString: serverUrl });
    await client.connect();
    try {
      await client.query(sql);
    } finally {
      await client.end();
    }
  };
  await admin(`create database ${name}`);
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return { url: url.toString(), name, drop: () => admin(`drop database if exists ${name} with (force)`) };
}
