import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import WebSocket from 'ws';
import { createClient, type Client } from 'graphql-ws';
import { adminToken } from './support/auth.ts';
import { startServerProcess, stopServerProcess, type ServerProcess } from './support/process.ts';
import { collect } from './support/server.ts';
import { createTestDatabase, type TestDatabase } from './support/database.ts';
import { until } from './support/until.ts';

/** A real API process (`node src/main.ts`) on a free port, with its WebSocket address. */
type ApiProcess = ServerProcess & { wsUrl: string };

async function startApiProcess(databaseUrl: string, nodeOptions: string[] = [], env: Record<string, string> = {}): Promise<ApiProcess> {
  const server = await startServerProcess({ DATABASE_URL: databaseUrl, PORT: '0', HOST: '127.0.0.1', GRAPHIQL: 'false', ...env }, { nodeOptions });
  return { ...server, wsUrl: server.url.replace(/^http/, 'ws') };
}

let database: TestDatabase;
const processes: ApiProcess[] = [];
const clients: Client[] = [];

beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(async () => {
  await Promise.all(clients.map((client) => client.dispose()));
  await Promise.all(processes.map((p) => stopServerProcess(p)));
  await database?.drop();
});

function wsClient(api: ApiProcess): Client {
  const client = createClient({ url: api.wsUrl, webSocketImpl: WebSocket, retryAttempts: 0, lazy: true, connectionParams: { authorization: `Bearer ${adminToken}` } });
  clients.push(client);
  return client;
}

async function gql(api: ApiProcess, query: string, variables: Record<string, unknown>): Promise<any> {
  const response = await fetch(api.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${adminToken}` },
    body: JSON.stringify({ query, variables }),
  });
  return response.json();
}

type Metrics = Record<string, number> & {
  eventfeed_subscriptions: number; eventfeed_subscriber_fallbacks_total: number; eventfeed_events_read_total: number;
  process_resident_memory_bytes: number; nodejs_heap_size_used_bytes: number; nodejs_external_memory_bytes: number;
};

async function metrics(api: ApiProcess): Promise<Metrics> {
  const text = await (await fetch(api.url.replace('/graphql', '/metrics'))).text();
  const values: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const match = /^([a-z_]+) ([\d.e+-]+)$/.exec(line);
    if (match) values[match[1]!] = Number(match[2]);
  }
  return values as Metrics;
}

type FeedEvent = { id: string; position: string; streamId: string; version: number };
const EVENTS = `subscription($after: String) { events(after: $after) { id: eventId position streamId version } }`;
const OPEN = `mutation($input: OpenCartInput!) { openCart(input: $input) { __typename ... on OpenCartSuccess { position } } }`;
const ADD = `mutation($input: AddItemToCartInput!) { addItemToCart(input: $input) { __typename } }`;

describe('two API processes on one database', () => {
  it('deliver to a subscriber on one what mutations on the other appended, in the same order', async () => {
    const [a, b] = await Promise.all([startApiProcess(database.url), startApiProcess(database.url)]);
    processes.push(a!, b!);
    const start = (await gql(a!, OPEN, { input: { cartId: 'two-start', customerId: 'x' } })).data.openCart.position as string;
    const onA = collect<{ events: FeedEvent }>(wsClient(a!), EVENTS, { after: start });
    const onB = collect<{ events: FeedEvent }>(wsClient(b!), EVENTS, { after: start });

    // Writers on both instances, interleaved and concurrent.
    const carts = Array.from({ length: 6 }, (_, i) => `two-${i}`);
    await Promise.all(carts.map((cartId, i) => gql(i % 2 ? a! : b!, OPEN, { input: { cartId, customerId: 'x' } })));
    await Promise.all(
      carts.map(async (cartId, i) => {
        for (let round = 0; round < 5; round++) {
          const result = await gql((i + round) % 2 ? a! : b!, ADD, {
            input: { cartId, sku: `S${round}`, name: 'n', unitPrice: { amount: 100, currency: 'EUR' }, quantity: 1 },
          });
          expect(result.data.addItemToCart.__typename).toBe('AddItemToCartSuccess');
        }
      }),
    );

    const admin = new pg.Client({ connectionString: database.url });
    await admin.connect();
    const { rows } = await admin.query<{ event_id: string }>(
      `select event_id from events where (transaction_id, global_position) > (select transaction_id, global_position from events where stream_id = 'two-start')
       order by transaction_id, global_position`,
    );
    await admin.end();
    expect(rows).toHaveLength(6 + 6 * 5);
    await onA.waitFor(rows.length, 20_000);
    await onB.waitFor(rows.length, 20_000);
    const expected = rows.map((r) => r.event_id);
    expect(onA.received.map((m) => m.events.id)).toEqual(expected);
    expect(onB.received.map((m) => m.events.id)).toEqual(expected);
    expect([...onA.errors, ...onB.errors]).toEqual([]);
    onA.unsubscribe();
    onB.unsubscribe();
  });
});

describe('a subscriber that never reads', () => {
  it('neither grows the server’s memory without bound nor slows a normal subscriber', async () => {
    // 20,000 events of 8 KB: 160 MB that a server buffering for the stalled subscriber would have to hold,
    // in a process whose heap is capped well below that.
    const EVENTS_TOTAL = 20_000;
    // Keep-alive would end the stalled client, which answers no pings, 12–24 s after it stops
    // reading: on a slow machine before its buffer filled. What is checked here is the buffering.
    const api = await startApiProcess(database.url, ['--max-old-space-size=128'], { WS_KEEP_ALIVE_MS: '120000' });
    processes.push(api);

    const normal = collect<{ events: { id: string; position: string } }>(wsClient(api), `subscription { events(filter: { streamType: "Bulk" }) { id position } }`);
    const stalled = new WebSocket(api.wsUrl, 'graphql-transport-ws');
    await new Promise((resolve, reject) => stalled.once('open', resolve).once('error', reject));
    stalled.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${adminToken}` } }));
    await new Promise((resolve) => stalled.once('message', resolve));
    stalled.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query: 'subscription { events { id position data } }' } }));
    await until(async () => (await metrics(api)).eventfeed_subscriptions === 2, 'both subscriptions');
    // From here on the stalled client takes nothing off its socket.
    stalled.pause();
    const before = await metrics(api);

    const writer = new pg.Client({ connectionString: database.url });
    await writer.connect();
    const started = Date.now();
    try {
      for (let batch = 0; batch < EVENTS_TOTAL / 1000; batch++) {
        await writer.query(
          `insert into events (event_id, stream_id, stream_type, stream_version, event_type, data, recorded_at)
           select gen_random_uuid(), 'bulk-' || (i % 100), 'Bulk', i / 100 + 1, 'BulkLoaded',
                  jsonb_build_object('n', i, 'blob', repeat(md5(i::text), 256)), now()
           from generate_series($1::int, $2::int) as i`,
          [batch * 1000, batch * 1000 + 999],
        );
        await writer.query(`select pg_notify('events_appended', '')`);
      }
    } finally {
      await writer.end();
    }

    // Only while waiting: afterAll stopping the process later is no crash.
    let died!: (code: number | null, signal: NodeJS.Signals | null) => void;
    const crashed = new Promise<never>((_, reject) => {
      died = (code, signal) => reject(new Error(`the API process died (${code ?? signal}) with a subscriber that never reads`));
      api.child.once('exit', died);
    });
    try {
      await Promise.race([normal.waitFor(EVENTS_TOTAL, 45_000), crashed]);
    } finally {
      api.child.off('exit', died);
    }
    const delivery = Date.now() - started;
    const after = await metrics(api);
    stalled.terminate();

    // The normal subscriber got everything, once, in order, while the stalled one sat behind.
    const positions = normal.received.map((m) => m.events.position);
    expect(new Set(normal.received.map((m) => m.events.id)).size).toBe(EVENTS_TOTAL);
    expect(positions).toEqual([...positions].sort((x, y) => {
      const [tx, px] = x.split('_').map((d) => BigInt(parseInt(d, 36)));
      const [ty, py] = y.split('_').map((d) => BigInt(parseInt(d, 36)));
      return tx! !== ty! ? (tx! < ty! ? -1 : 1) : px! < py! ? -1 : px! > py! ? 1 : 0;
    }));
    expect(normal.errors).toEqual([]);
    // The stalled subscription filled its buffer and was moved back to catch-up instead of buffering more.
    expect(after.eventfeed_subscriber_fallbacks_total).toBeGreaterThanOrEqual(1);
    expect(after.eventfeed_events_read_total - before.eventfeed_events_read_total).toBe(EVENTS_TOTAL);
    // Memory: the process lived within its 128 MB heap while 160 MB went past the stalled subscriber, and
    // holds far less than that now. (RSS keeps pages the allocator has not returned yet, hence its loose bound.)
    const MB = 1024 * 1024;
    const mb = (bytes: number) => Math.round(bytes / MB);
    console.info(
      `never-reading subscriber: ${EVENTS_TOTAL} events delivered in ${delivery} ms; RSS ${mb(before.process_resident_memory_bytes)} -> ` +
        `${mb(after.process_resident_memory_bytes)} MB, heap ${mb(before.nodejs_heap_size_used_bytes)} -> ${mb(after.nodejs_heap_size_used_bytes)} MB, external ${mb(after.nodejs_external_memory_bytes)} MB, subscriptions ${after.eventfeed_subscriptions}`,
    );
    expect(api.child.exitCode).toBeNull();
    // What the server holds for it is bounded by its buffers (the recent-events buffer, 16 MB; shared
    // results, 32 MB by default), not by what went past: the heap, garbage not yet collected included,
    // grew by less than half of the 160 MB, whatever the base the libraries loaded at start.
    expect(after.nodejs_heap_size_used_bytes - before.nodejs_heap_size_used_bytes).toBeLessThan(80 * MB);
    expect(after.nodejs_external_memory_bytes).toBeLessThan(64 * MB);
    expect(after.process_resident_memory_bytes - before.process_resident_memory_bytes).toBeLessThan(250 * MB);
    normal.unsubscribe();
  });
});
