import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { freePort } from '../src/db/embeddedPostgres.ts';
import { runServerProcess, startServerProcess } from './support/process.ts';

let workDir: string;
beforeAll(async () => {
  workDir = await mkdtemp(path.join(os.tmpdir(), 'es-graphql-start-'));
  await chmod(workDir, 0o755); // the embedded PostgreSQL runs as the `postgres` user when we are root
});
afterAll(async () => rm(workDir, { recursive: true, force: true }));

const post = (url: string, query: string, variables?: object) =>
  fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query, variables }) }).then((r) => r.json() as Promise<any>);

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
    const env = { PORT: '0', EMBEDDED_PG_DATA_DIR: dataDir, DATABASE_URL: '' };
    const first = await startServerProcess(env);
    expect(first.url).toMatch(/^http:\/\/localhost:\d+\/graphql$/);
    expect(first.output()).toContain('embedded PostgreSQL');
    expect(first.output()).not.toContain('postgres:postgres@'); // the password is redacted in logs

    await post(first.url, `mutation { openCart(input: { cartId: "kept", customerId: "c" }) { __typename } }`);
    // A burst of commands, and Ctrl-C while they are in flight.
    const add = (i: number) =>
      post(first.url, `mutation($i: String!) { addItemToCart(input: { cartId: "kept", sku: $i, name: "n", unitPrice: { amount: 1, currency: "EUR" }, quantity: 1 }) { __typename } }`, { i: `S${i}` }).then(
        (body) => body.data?.addItemToCart?.__typename as string,
        () => 'refused',
      );
    const burst = Array.from({ length: 20 }, (_, i) => add(i));
    await new Promise((resolve) => setTimeout(resolve, 5));
    first.child.kill('SIGINT');
    const outcomes = await Promise.all(burst);
    expect(await first.exited, first.output()).toBe(0);
    expect(first.output()).toContain('stopped cleanly');
    expect(existsSync(path.join(dataDir, 'postmaster.pid'))).toBe(false);
    // Every request either completed or was refused before it started; none was cut off half-way.
    expect(outcomes.every((o) => o === 'AddItemToCartSuccess' || o === 'refused')).toBe(true);

    const second = await startServerProcess(env);
    try {
      const cart = (await post(second.url, `{ cart(id: "kept") { itemCount version } }`)).data.cart;
      const succeeded = outcomes.filter((o) => o === 'AddItemToCartSuccess').length;
      expect(cart).toEqual({ itemCount: succeeded, version: succeeded + 1 });
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

/** A database on the test server with nothing in it, so the API's start applies every migration. */
async function createEmptyDatabase(): Promise<{ url: string; name: string; drop(): Promise<void> }> {
  const serverUrl = inject('databaseUrl');
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
