import { chmod, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FeedEvent, followEvents } from '../examples/resumingClient.ts';
import { freePort, type RunningPostgres, startEmbeddedPostgres } from '../src/db/embeddedPostgres.ts';
import { adminToken, tokenFor } from './support/auth.ts';
import { type ServerProcess, startServerProcess } from './support/process.ts';

/**
 * The resuming client of examples/ against an API process whose PostgreSQL this spec stops and starts
 * itself: a dedicated embedded server, so no other spec's database goes down with it.
 */

let workDir: string;
let port: number;
let postgres: RunningPostgres | undefined;
let api: ServerProcess | undefined;

const startPostgres = async () =>
  (postgres = await startEmbeddedPostgres({ dataDir: path.join(workDir, 'pg'), port, persistent: true, postgresFlags: ['-c', 'fsync=off'] }));

beforeAll(async () => {
  workDir = await mkdtemp(path.join(os.tmpdir(), 'es-graphql-resume-'));
  await chmod(workDir, 0o755); // the embedded PostgreSQL runs as the `postgres` user when we are root
  port = await freePort();
  await startPostgres();
  // No clock tolerance, so a token stops working at its exp and the expiry test waits no longer than it must.
  api = await startServerProcess({ PORT: '0', DATABASE_URL: postgres!.url, JWT_CLOCK_TOLERANCE_SECONDS: '0' });
});
afterAll(async () => {
  if (api) {
    api.child.kill('SIGTERM');
    await api.exited;
  }
  await postgres?.stop();
  await rm(workDir, { recursive: true, force: true });
});

async function until(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}\n${api?.output().split('\n').slice(-20).join('\n')}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const post = async (query: string, variables: Record<string, unknown>) =>
  (await (
    await fetch(api!.url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${adminToken}` }, body: JSON.stringify({ query, variables }) })
  ).json()) as any;
const health = async () => (await (await fetch(api!.url.replace(/\/graphql$/, '/health'))).json()) as { status: string };

const OPEN = `mutation Open($cartId: ID!) { openCart(input: { cartId: $cartId, customerId: "follower" }) { __typename ... on OpenCartSuccess { position } } }`;
const ADD = `mutation Add($cartId: ID!, $sku: String!) {
  addItemToCart(input: { cartId: $cartId, sku: $sku, name: "Tea", unitPrice: { amount: 450, currency: "EUR" }, quantity: 1 }) {
    __typename ... on AddItemToCartSuccess { position }
  }
}`;
async function add(sku: string, cartId = 'followed'): Promise<string> {
  const result = await post(ADD, { cartId, sku });
  expect(result.data?.addItemToCart?.__typename, JSON.stringify(result)).toBe('AddItemToCartSuccess');
  return result.data.addItemToCart.position;
}

describe('the resuming client of examples/resumingClient.ts', () => {
  it('follows through a database restart and receives every event exactly once, in order', { timeout: 120_000 }, async () => {
    const start = (await post(OPEN, { cartId: 'followed' })).data.openCart.position as string;
    const received: FeedEvent[] = [];
    const logs: { message: string; fields: Record<string, unknown> }[] = [];
    const follower = followEvents({
      url: api!.url.replace(/^http/, 'ws'),
      after: start,
      getToken: () => tokenFor('follower', ['admin']),
      onEvent: (event) => void received.push(event),
      log: (message, fields = {}) => logs.push({ message, fields }),
      backoff: { initialMs: 50, maxMs: 400 },
    });
    try {
      const appended: string[] = [];
      for (const sku of ['A', 'B', 'C', 'D', 'E']) appended.push(await add(sku));
      await until(() => received.length === 5, 'the client received the first five events');

      await postgres!.stop();
      postgres = undefined;
      const feedClosed = (how: string) => logs.filter((l) => l.message === 'subscription ended; resubscribing' && l.fields.why === 'FEED_CLOSED' && l.fields.how === how);
      // The running subscription ends with an error; the resubscriptions while the feed has no database are refused with a result, then complete.
      await until(() => feedClosed('error').length >= 1, 'the subscription ended with FEED_CLOSED');
      await until(() => feedClosed('completed').length >= 2, 'resubscriptions were refused with FEED_CLOSED while the database was down');

      await startPostgres();
      await until(async () => (await health()).status === 'ok', 'the API was healthy again');
      for (const sku of ['F', 'G', 'H', 'I', 'J']) appended.push(await add(sku));
      await until(() => received.length >= 10, 'the client received the events appended after the restart');

      // One more event, and once it has arrived nothing else can be on its way: every event came once, in order.
      appended.push(await add('LAST'));
      await until(() => received.at(-1)?.position === appended.at(-1), 'the last event arrived');
      expect(received.map((event) => event.position)).toEqual(appended);
      expect(received.map((event) => event.version)).toEqual([2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
      expect(follower.lastPosition).toBe(appended.at(-1));
    } finally {
      await follower.stop();
    }
    await expect(follower.done).resolves.toBeUndefined();
  });
});

describe('the resuming client with a short-lived token', () => {
  it('gets a new token when the server closes the socket as the token expires (4403), and resumes: every event once, in order', { timeout: 60_000 }, async () => {
    const start = (await post(OPEN, { cartId: 'refreshed' })).data.openCart.position as string;
    const received: FeedEvent[] = [];
    const logs: { message: string; fields: Record<string, unknown> }[] = [];
    let tokensFetched = 0;
    const follower = followEvents({
      url: api!.url.replace(/^http/, 'ws'),
      after: start,
      getToken: () => {
        tokensFetched++;
        return tokenFor('follower', ['admin'], { expiresIn: '3s' });
      },
      onEvent: (event) => void received.push(event),
      log: (message, fields = {}) => logs.push({ message, fields }),
    });
    const logged = (message: string) => logs.filter((entry) => entry.message === message);
    try {
      const appended: string[] = [];
      for (const sku of ['A', 'B', 'C']) appended.push(await add(sku, 'refreshed'));
      await until(() => received.length === 3, 'the client received the events appended before the expiry');

      await until(() => logged('token refused or expired; getting a new one, then resuming').length >= 1, 'the server closed the socket as the token expired');
      expect(logged('token refused or expired; getting a new one, then resuming')[0]!.fields.code).toBe(4403);
      // Appended while the client has no connection: it must catch up on them when it resumes.
      for (const sku of ['D', 'E', 'F']) appended.push(await add(sku, 'refreshed'));
      await until(() => logged('connected').length >= 2 && tokensFetched >= 2, 'the client reconnected with a new token');
      await until(() => received.length >= 6, 'the client received the events appended after the expiry');

      // One more on the new connection; once it has arrived nothing else can be on its way.
      appended.push(await add('LAST', 'refreshed'));
      await until(() => received.at(-1)?.position === appended.at(-1), 'the last event arrived');
      expect(received.map((event) => event.position)).toEqual(appended);
      expect(received.map((event) => event.version)).toEqual([2, 3, 4, 5, 6, 7, 8]);
    } finally {
      await follower.stop();
    }
    await expect(follower.done).resolves.toBeUndefined();
  });

  it('stops with an error when a token it has just fetched is refused, rather than retrying for ever', async () => {
    const follower = followEvents({
      url: api!.url.replace(/^http/, 'ws'),
      getToken: () => tokenFor('follower', ['admin'], { secret: 'a-secret-this-server-does-not-know-of-at-all' }),
      onEvent: () => undefined,
    });
    await expect(follower.done).rejects.toThrow(/refused the connection's token \(4403/);
  });
});
