import { hostname } from 'node:os';
import { connect } from 'amqplib';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { comparePositions, decodePosition, type LogPosition } from '../src/eventStore/log/position.ts';
import { adminToken } from './support/auth.ts';
import { createTestDatabase, type TestDatabase } from './support/database.ts';
import { type ServerProcess, killServerProcesses, startServerProcess } from './support/process.ts';
import { createTestVhost, declareBoundQueue, readQueue, type ReceivedMessage, type TestVhost } from './support/rabbitmq.ts';
import { startTestServer } from './support/server.ts';
import { until } from './support/until.ts';

const FORWARDER = 'rabbitmq-forwarder';
const EXCHANGE = 'events';

let database: TestDatabase;
let admin: pg.Client;
let vhost: TestVhost;
/** The forwarder's user: its password must never show in a log. */
let broker: { user: string; password: string; url: string };
let queue: string;
const processes: ServerProcess[] = [];

beforeAll(async () => {
  [database, vhost] = await Promise.all([createTestDatabase(), createTestVhost()]);
  admin = new pg.Client({ connectionString: database.url });
  await admin.connect();
  broker = await vhost.addUser();
  // The consumer's queue exists before the first event is published: the broker drops what no queue is bound to.
  queue = await declareBoundQueue(vhost.url, EXCHANGE, '#');
});
afterAll(async () => {
  await killServerProcesses(processes);
  await admin?.end();
  await database?.drop();
  await vhost?.drop();
});

const start = async () => {
  const started = await startServerProcess({
    DATABASE_URL: database.url,
    PORT: '0',
    HOST: '127.0.0.1',
    GRAPHIQL: 'false',
    RABBITMQ_URL: broker.url,
    RABBITMQ_EXCHANGE: EXCHANGE,
    // Small batches: many publish-and-confirm rounds, so the disruptions below land mid-stream.
    PROCESSOR_BATCH_SIZE: '20',
    PROCESSOR_TAKEOVER_INTERVAL_MS: '200',
  });
  processes.push(started);
  return started;
};

/** Requests each process is answering now, so one is killed only between them. */
const inFlight = new Map<ServerProcess, number>();

async function gql(server: ServerProcess, query: string, variables?: Record<string, unknown>): Promise<any> {
  inFlight.set(server, (inFlight.get(server) ?? 0) + 1);
  try {
    const response = await fetch(server.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${adminToken}` },
      body: JSON.stringify({ query, variables }),
    });
    const body = (await response.json()) as { data?: any; errors?: unknown };
    if (body.errors) throw new Error(JSON.stringify(body.errors));
    return body.data;
  } finally {
    inFlight.set(server, inFlight.get(server)! - 1);
  }
}

type ProcessorRow = { name: string; status: string; owner: string | null; position: string | null; lag: { events: number } };
const forwarderAsSeenBy = async (server: ServerProcess): Promise<ProcessorRow> => {
  const data = await gql(server, `{ processors { ... on Processors { items { name status owner position lag { events } } } } }`);
  return (data.processors.items as ProcessorRow[]).find((p) => p.name === FORWARDER)!;
};
const pidOf = (owner: string | null) => Number(owner?.split(':').at(-1));
/** `host:pid`, as the process names itself to PostgreSQL (the processor's owner) and to the broker. */
const processName = (server: ServerProcess) => `${hostname()}:${server.child.pid}`;
const runsForwarder = async (observer: ServerProcess, runner: ServerProcess) => {
  const row = await forwarderAsSeenBy(observer);
  return row.status === 'RUNNING' && pidOf(row.owner) === runner.child.pid;
};

/** What the process logged about its broker connection. */
const logLines = (server: ServerProcess, message: string) =>
  server
    .output()
    .split('\n')
    .filter((line) => line.includes(`"message":"${message}"`));

/** Messages in the consumer's queue now (on a connection of its own: the spec closes the vhost's connections). */
async function queued(name = queue): Promise<number> {
  const connection = await connect(vhost.url);
  try {
    return (await (await connection.createChannel()).checkQueue(name)).messageCount;
  } finally {
    await connection.close();
  }
}

/**
 * Commands over GraphQL from several writers at once, each on streams of its own (carts opened,
 * filled and checked out one after another, and a counter), sent to whichever processes `targets`
 * holds, until `stop` is called.
 */
function startWriters(targets: ServerProcess[]) {
  let stopped = false;
  let sent = 0;
  const target = () => targets[sent++ % targets.length]!;
  const cartWriter = async (writer: number) => {
    for (let cart = 0; !stopped; cart++) {
      const cartId = `w${writer}-cart-${cart}`;
      await gql(target(), `mutation($input: OpenCartInput!) { openCart(input: $input) { __typename } }`, { input: { cartId, customerId: `shopper-${writer}` } });
      for (let line = 0; line < 3; line++) {
        await gql(target(), `mutation($input: AddItemToCartInput!) { addItemToCart(input: $input) { __typename } }`, {
          input: { cartId, sku: `SKU-${line}`, name: `Item ${line}`, unitPrice: { amount: 100 + line, currency: 'EUR' }, quantity: 1 },
        });
      }
      const done = await gql(target(), `mutation($input: CheckoutCartInput!) { checkoutCart(input: $input) { __typename } }`, { input: { cartId } });
      expect(done.checkoutCart.__typename).toBe('CheckoutCartSuccess');
    }
  };
  const counterWriter = async (writer: number) => {
    while (!stopped) {
      const done = await gql(target(), `mutation($input: IncrementCounterInput!) { incrementCounter(input: $input) { __typename } }`, { input: { counterId: `w${writer}-counter` } });
      expect(done.incrementCounter.__typename).toBe('IncrementCounterSuccess');
    }
  };
  const running = Promise.all([...[0, 1, 2, 3].map(cartWriter), ...[4, 5].map(counterWriter)]);
  return {
    stop: async () => {
      stopped = true;
      await running;
    },
  };
}

type LoggedEvent = { id: string; streamId: string; version: number };
/** The whole log as PostgreSQL holds it, in commit order, and the position of its last event. */
async function logFromDatabase(): Promise<{ events: LoggedEvent[]; head: LogPosition }> {
  // Ordered by the columns themselves: ordering by the text casts would put transaction 10 before 9.
  const { rows } = await admin.query<{ id: string; stream_id: string; stream_version: number; txid: string; seq: string }>(
    'select event_id as id, stream_id, stream_version, transaction_id::text as txid, global_position::text as seq from events order by transaction_id, global_position',
  );
  const last = rows.at(-1)!;
  return {
    events: rows.map((row) => ({ id: row.id, streamId: row.stream_id, version: row.stream_version })),
    head: { transactionId: BigInt(last.txid), globalPosition: BigInt(last.seq) },
  };
}

/** Each stream's event ids in the order given. */
function idsByStream(items: readonly { streamId: string; id: string }[]): Map<string, string[]> {
  const streams = new Map<string, string[]>();
  for (const { streamId, id } of items) streams.set(streamId, [...(streams.get(streamId) ?? []), id]);
  return streams;
}

describe('forwarding to RabbitMQ across API processes', () => {
  it('delivers every event exactly once after dedup by messageId, in commit order per stream, across a forced close of the broker connections and kill -9 of the forwarding process', async () => {
    // What the processes logged is most of what a failure here can be understood by.
    onTestFailed(() => {
      for (const p of processes) process.stderr.write(`--- process ${p.child.pid}:\n${p.output()}\n`);
    });
    const first = await start();
    await until(() => runsForwarder(first, first), 'the first process runs the forwarder');
    const second = await start();

    const targets = [first, second];
    const writers = startWriters(targets);
    try {
      // (a) The broker drops every connection of the vhost while commands keep coming.
      await until(async () => (await queued()) >= 100, 'the first events forwarded', 60_000);
      await vhost.closeAllConnections();
      const afterClose = await queued();
      await until(async () => logLines(first, 'rabbitmq connected').length >= 2, 'the forwarder reconnected', 30_000);
      expect(logLines(first, 'rabbitmq connection lost; the next batch reconnects').join('\n')).toContain('CONNECTION_FORCED');
      await until(async () => (await queued()) >= afterClose + 100, 'forwarding to go on after the reconnect', 60_000);

      // (b) kill -9 of the forwarding process, between its requests (a request it was answering
      // would leave the writer unsure whether its command committed), while it forwards.
      targets.splice(targets.indexOf(first), 1);
      await until(async () => (inFlight.get(first) ?? 0) === 0, 'the first process to answer what it was sent');
      first.child.kill('SIGKILL');
      await first.exited;
      const killedAt = Date.now();
      await until(() => runsForwarder(second, second), 'the second process to take the forwarder over', 30_000);
      // The advisory lock is free as soon as PostgreSQL sees the session end; tries come every 200 ms.
      expect(Date.now() - killedAt).toBeLessThan(10_000);
      const afterTakeover = await queued();
      await until(async () => (await queued()) >= afterTakeover + 100, 'the second process to forward new events', 60_000);
      // The broker sees it too: the vhost's one connection is the second process's forwarder.
      expect(await vhost.connectionProperties()).toEqual([expect.stringContaining(`rabbitmq-forwarder ${processName(second)}`)]);
    } finally {
      await writers.stop();
    }

    const log = await logFromDatabase();
    // The checkpoint says "handled up to here": at or past the last event (it moves on to where the
    // log follower read, which no later commit can come below, even where no event sits).
    const passedHead = (row: ProcessorRow) => row.position !== null && comparePositions(decodePosition(row.position), log.head) >= 0;
    await until(async () => passedHead(await forwarderAsSeenBy(second)), 'the forwarder checkpoint to reach the head of the log', 60_000);
    const caughtUp = await forwarderAsSeenBy(second);
    expect(caughtUp).toMatchObject({ status: 'RUNNING', lag: { events: 0 } });
    expect(pidOf(caughtUp.owner)).toBe(second.child.pid);

    const received: ReceivedMessage[] = await readQueue(vhost.url, queue);
    const seen = new Set<string>();
    const firstCopies = received
      .map((message) => JSON.parse(message.content.toString('utf8')) as { id: string; streamId: string; version: number })
      .filter((body, index) => {
        // The message id and the body's id are the event's id, whichever copy.
        expect(received[index]!.properties.messageId).toBe(body.id);
        if (seen.has(body.id)) return false;
        seen.add(body.id);
        return true;
      });
    expect(firstCopies.length).toBe(log.events.length);
    expect(new Set(firstCopies.map((body) => body.id))).toEqual(new Set(log.events.map((event) => event.id)));
    expect(idsByStream(firstCopies)).toEqual(idsByStream(log.events));
    expect(log.events.length).toBeGreaterThan(300);

    // Both processes connected (the second only once it ran the forwarder) and logged the broker
    // without the credentials of its URL.
    expect(logLines(second, 'rabbitmq connected').length).toBeGreaterThanOrEqual(1);
    for (const p of [first, second]) {
      expect(p.output()).not.toContain(broker.password);
      expect(logLines(p, 'rabbitmq connected').every((line) => !line.includes(broker.user))).toBe(true);
    }

    // SIGTERM stops it cleanly, the forwarder with it.
    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);
    expect(logLines(second, 'stopped cleanly')).toHaveLength(1);
    expect(second.output()).not.toContain('"level":"error"');
  }, 300_000);

  it('stopping the app closes the forwarder\'s broker connection while the process lives on', async () => {
    const carts = await declareBoundQueue(vhost.url, EXCHANGE, 'Cart.*');
    const server = await startTestServer({ config: { rabbitMq: { url: broker.url, exchange: EXCHANGE, eventTypes: undefined, streamTypes: undefined } } });
    try {
      const opened = await server.gql(`mutation { openCart(input: { cartId: "stop-cart", customerId: "shopper" }) { __typename } }`);
      expect(opened.data.openCart.__typename).toBe('OpenCartSuccess');
      await until(async () => (await queued(carts)) === 1, 'the cart event forwarded');
      expect(await vhost.connectionCount()).toBe(1);
    } finally {
      await server.close();
    }
    // Nothing else closes it here: no process exits, only the app stopped.
    await until(async () => (await vhost.connectionCount()) === 0, 'the forwarder connection closed by app.stop', 10_000);
  });
});
