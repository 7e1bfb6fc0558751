import { connect as connectTcp, createServer, type AddressInfo, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { consumeEvents, type ForwardedEvent } from '../examples/rabbitmq-consumer.ts';
import { uuidv7Generator } from '../src/core/ids.ts';
import { silentLogger, type LogFields, type Logger } from '../src/core/logger.ts';
import type { RecordedEvent } from '../src/core/message.ts';
import { handleCommand } from '../src/eventStore/commands/commandHandler.ts';
import type { EventMessageBody } from '../src/eventStore/forwarding/eventMessage.ts';
import { rabbitMqForwarder, RabbitMqForwarderClosedError, RabbitMqNackError, type RabbitMqForwarder, type RabbitMqForwarderOptions } from '../src/eventStore/forwarding/rabbitMqForwarder.ts';
import { appendToStream } from '../src/eventStore/log/append.ts';
import { readLog } from '../src/eventStore/log/read.ts';
import type { LogPosition } from '../src/eventStore/log/position.ts';
import type { ProcessorContext } from '../src/eventStore/processors/processorDefinition.ts';
import { type CartCommand, cartDecider } from '../src/modules/cart/cart.ts';
import { type CounterCommand, counterDecider } from '../src/modules/counter/counter.ts';
import { apiInstance, appUpcasters } from './support/commands.ts';
import { openTestOrm } from './support/database.ts';
import { until } from './support/until.ts';
import { BROKER, createTestVhost, declareBoundQueue, rabbitmqctl, readQueue, type ReceivedMessage, type TestVhost } from './support/rabbitmq.ts';

let db: Awaited<ReturnType<typeof openTestOrm>>;
let vhost: TestVhost;
const forwarders: RabbitMqForwarder[] = [];

/** Everything committed so far, in commit order, as the runner's reader hands it out. */
let log: RecordedEvent[] = [];
const CORRELATION_ID = 'checkout-request-42';

beforeAll(async () => {
  [db, vhost] = await Promise.all([openTestOrm(20), createTestVhost()]);
  // Carts and counters written as the API writes them: commands through the command handler, from
  // concurrent requests, so streams interleave in the log.
  const cartRequests = apiInstance(db.orm, { metadata: { correlationId: CORRELATION_ID, actor: 'test-admin' } });
  const counterRequests = apiInstance(db.orm);
  const now = () => new Date();
  const cart = (cartId: string, command: CartCommand) => handleCommand(cartRequests(), cartDecider, cartId, command);
  const counter = (command: CounterCommand) => handleCommand(counterRequests(), counterDecider, command.data.counterId, command);
  await Promise.all(
    ['cart-a', 'cart-b', 'cart-c'].map(async (cartId) => {
      await cart(cartId, { type: 'OpenCart', data: { cartId, customerId: 'customer-1' }, now: now() });
      for (let i = 0; i < 5; i++) {
        await cart(cartId, { type: 'AddItemToCart', data: { cartId, sku: `SKU-${i}`, name: `Item ${i}`, unitPrice: { amount: 250, currency: 'EUR' }, quantity: 1 }, now: now() });
      }
      await cart(cartId, { type: 'CheckoutCart', data: { cartId }, now: now() });
    }),
  );
  await Promise.all(
    ['counter-a', 'counter-b'].map(async (counterId) => {
      for (let i = 0; i < 6; i++) await counter({ type: 'IncrementCounter', data: { counterId, amount: 1 }, now: now() });
    }),
  );
  // And a long log, for the runs that must still be publishing when the broker drops them: 20
  // streams of 1,000 events, ~400 bytes each, appended a stream at a time.
  for (let stream = 0; stream < 20; stream++) {
    await appendToStream(db.orm.em.fork(), {
      streamId: `bulk-${stream}`,
      streamType: 'Bulk',
      expectedVersion: 0,
      recordedAt: now(),
      events: Array.from({ length: 1_000 }, (_, i) => ({ id: uuidv7Generator.uuid(), type: 'BulkRecorded', data: { index: i, note: 'x'.repeat(300) }, metadata: { correlationId: `bulk-${stream}` } })),
    });
  }
  log = await readWholeLog();
});

afterAll(async () => {
  await Promise.all(forwarders.map((forwarder) => forwarder.close()));
  await vhost?.drop();
  await db?.close();
});

async function readWholeLog(): Promise<RecordedEvent[]> {
  const events: RecordedEvent[] = [];
  let after: LogPosition | undefined;
  for (;;) {
    const page = await readLog(db.orm.em.fork(), appUpcasters, { ...(after ? { after } : {}), limit: 5_000 });
    if (page.events.length === 0) return events;
    events.push(...page.events);
    after = page.next;
  }
}

const batches = <T>(items: readonly T[], size: number): T[][] => Array.from({ length: Math.ceil(items.length / size) }, (_, i) => items.slice(i * size, (i + 1) * size));

const context = (signal = new AbortController().signal): ProcessorContext => ({ em: db.orm.em.fork(), upcasters: appUpcasters, logger: silentLogger, signal });

/** A logger that keeps what it is told, to see what the forwarder went through. */
type LogLine = { level: string; message: string; fields: LogFields };
function recordingLogger(lines: LogLine[] = [], bindings: LogFields = {}): Logger & { lines: LogLine[] } {
  const write = (level: string) => (message: string, fields: LogFields = {}) => void lines.push({ level, message, fields: { ...bindings, ...fields } });
  return {
    lines,
    debug: write('debug'),
    info: write('info'),
    warn: write('warn'),
    error: write('error'),
    child: (more) => recordingLogger(lines, { ...bindings, ...more }),
  };
}

function forwarder(options: Partial<RabbitMqForwarderOptions> & { exchange: string }): RabbitMqForwarder {
  const made = rabbitMqForwarder({ url: vhost.url, logger: silentLogger, reconnect: { initialDelayMs: 50, maxDelayMs: 500 }, ...options });
  forwarders.push(made);
  return made;
}

/**
 * A TCP proxy to the test broker whose open connections can be frozen: their bytes stop flowing
 * both ways and their sockets stay open, as in a network partition that sends no reset. New
 * connections go through.
 */
async function freezableProxy() {
  const live = new Set<[Socket, Socket]>();
  const frozen: Socket[] = [];
  const server = createServer((client) => {
    const upstream = connectTcp(BROKER.port, BROKER.host);
    const pair: [Socket, Socket] = [client, upstream];
    live.add(pair);
    client.pipe(upstream);
    upstream.pipe(client);
    for (const socket of pair) {
      socket.on('error', () => undefined);
      socket.on('close', () => {
        live.delete(pair);
        for (const other of pair) other.destroy();
      });
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    urlOf: (vhostName: string) => `amqp://${BROKER.user}:${BROKER.password}@127.0.0.1:${port}/${encodeURIComponent(vhostName)}`,
    freeze() {
      for (const pair of live) {
        const [client, upstream] = pair;
        client.unpipe(upstream);
        upstream.unpipe(client);
        client.pause();
        upstream.pause();
        frozen.push(client, upstream);
      }
      live.clear();
    },
    close() {
      for (const socket of [...frozen, ...[...live].flat()]) socket.destroy();
      server.close();
    },
  };
}

const bodyOf = (message: ReceivedMessage) => JSON.parse(message.content.toString('utf8')) as EventMessageBody;

/** The first copy of each message, in arrival order: what a consumer deduplicating by messageId handles. */
function deduplicated(messages: readonly ReceivedMessage[]): ReceivedMessage[] {
  const seen = new Set<string>();
  return messages.filter((message) => {
    const id = String(message.properties.messageId);
    if (seen.has(id)) return false;
    seen.add(id);
    return true;
  });
}

/** Each stream's versions in the order they arrived. */
function versionsByStream(messages: readonly ReceivedMessage[]): Map<string, number[]> {
  const streams = new Map<string, number[]>();
  for (const message of messages) {
    const body = bodyOf(message);
    streams.set(body.streamId, [...(streams.get(body.streamId) ?? []), body.version]);
  }
  return streams;
}

function expectExactlyOnceInCommitOrder(received: readonly ReceivedMessage[], events: readonly RecordedEvent[]): void {
  const handled = deduplicated(received);
  expect(handled).toHaveLength(events.length);
  // One channel, one queue: the first copies arrive in commit order, stream by stream and overall.
  expect(handled.map((message) => message.properties.messageId)).toEqual(events.map((event) => event.id));
  for (const [streamId, versions] of versionsByStream(handled)) {
    expect(versions, streamId).toEqual(Array.from({ length: versions.length }, (_, i) => i + 1));
  }
}

describe('forwarding the log to RabbitMQ', () => {
  it('delivers every event exactly once after deduplication by messageId, in commit order per stream, even when the runner hands a batch over again', async () => {
    const exchange = 'events-all';
    const queue = await declareBoundQueue(vhost.url, exchange, '#');
    const { processor } = forwarder({ exchange });
    const chunks = batches(log, 997);
    for (const chunk of chunks) await processor.handle(chunk, context());
    // A crash before the checkpoint moved: the runner hands the same batch over again.
    await processor.handle(chunks[3]!, context());

    const received = await readQueue(vhost.url, queue);
    expect(received).toHaveLength(log.length + chunks[3]!.length);
    expectExactlyOnceInCommitOrder(received, log);
  });

  it('publishes to a durable topic exchange with routing key <streamType>.<eventType>, persistent, the event id as messageId, JSON, and the position, stream, version and correlation id as headers', async () => {
    const exchange = 'events-shape';
    const queue = await declareBoundQueue(vhost.url, exchange, '#');
    const { processor } = forwarder({ exchange });
    const checkout = log.find((event) => event.type === 'CartCheckedOut')!;
    await processor.handle([checkout], context());

    const [message] = await readQueue(vhost.url, queue);
    expect(message!.routingKey).toBe('Cart.CartCheckedOut');
    expect(message!.properties).toMatchObject({
      messageId: checkout.id,
      type: 'CartCheckedOut',
      contentType: 'application/json',
      contentEncoding: 'utf-8',
      deliveryMode: 2,
      correlationId: CORRELATION_ID,
      timestamp: Math.floor(checkout.recordedAt.getTime() / 1000),
      headers: {
        position: checkout.position,
        streamId: checkout.streamId,
        streamType: 'Cart',
        eventType: 'CartCheckedOut',
        version: checkout.version,
        correlationId: CORRELATION_ID,
        causationId: checkout.metadata.causationId,
      },
    });
    expect(bodyOf(message!)).toEqual({
      id: checkout.id,
      type: 'CartCheckedOut',
      streamId: checkout.streamId,
      streamType: 'Cart',
      version: checkout.version,
      position: checkout.position,
      recordedAt: checkout.recordedAt.toISOString(),
      data: checkout.data,
      metadata: expect.objectContaining({ correlationId: CORRELATION_ID, actor: 'test-admin', commandName: 'CheckoutCart' }),
    });
    // Who may read the stream is the API's concern, not a consumer's.
    expect(bodyOf(message!).metadata).not.toHaveProperty('readers');
    expect(checkout.metadata).toHaveProperty('readers');
    // The broker's own view of the exchange: a durable topic exchange.
    const exchanges = await rabbitmqctl('list_exchanges', '-p', vhost.name, 'name', 'type', 'durable', '--no-table-headers');
    expect(exchanges.split('\n').map((line) => line.trim().split(/\s+/))).toContainEqual([exchange, 'topic', 'true']);
  });

  it('a consumer bound with Cart.* gets every cart event and nothing else', async () => {
    const exchange = 'events-carts';
    const carts = await declareBoundQueue(vhost.url, exchange, 'Cart.*');
    const { processor } = forwarder({ exchange });
    for (const chunk of batches(log, 500)) await processor.handle(chunk, context());

    const received = await readQueue(vhost.url, carts);
    const cartEvents = log.filter((event) => event.streamType === 'Cart');
    expect(cartEvents.length).toBe(21);
    expect(received.map((message) => message.routingKey.split('.')[0])).toEqual(cartEvents.map(() => 'Cart'));
    expectExactlyOnceInCommitOrder(received, cartEvents);
  });

  it('across rabbitmqctl close_all_connections in the middle of batches, reconnects and publishes the batch again: after deduplication every event arrives exactly once, in commit order', async () => {
    const exchange = 'events-dropped';
    const queue = await declareBoundQueue(vhost.url, exchange, '#');
    const logger = recordingLogger();
    const { processor } = forwarder({ exchange, logger });
    const lostMidBatch = () => logger.lines.filter((line) => line.message.startsWith('rabbitmq link lost before the batch was confirmed')).length;
    // Batches of 10,000 take the broker longer to confirm than rabbitmqctl takes to close the
    // connections, so a close started with a batch lands while it is being published or confirmed.
    // Each batch is handed over again until one was cut (as the runner would, had handle thrown).
    let handled = 0;
    for (const chunk of batches(log, 10_000)) {
      for (let round = 0; round < 5; round++) {
        const before = lostMidBatch();
        const closing = vhost.closeAllConnections();
        await processor.handle(chunk, context());
        await closing;
        handled += chunk.length;
        // The short tail of the log is over before any close lands; one round shows it is delivered too.
        if (lostMidBatch() > before || chunk.length < 10_000) break;
      }
    }
    expect(lostMidBatch()).toBeGreaterThanOrEqual(2);
    expect(logger.lines.filter((line) => line.level === 'error')).toEqual([]);
    // Every connection it gave up on is gone (the last close may have left it with none until the next batch).
    expect(await vhost.connectionCount()).toBeLessThanOrEqual(1);

    const received = await readQueue(vhost.url, queue);
    expect(received.length).toBeGreaterThanOrEqual(handled);
    expectExactlyOnceInCommitOrder(received, log);
  });

  it('a link that goes silent mid-stream (no confirms, no reset) is given up after confirmTimeoutMs and the batch published again on a new connection; close() does not wait for a silent one', async () => {
    const exchange = 'events-silent';
    const queue = await declareBoundQueue(vhost.url, exchange, '#');
    const proxy = await freezableProxy();
    try {
      const logger = recordingLogger();
      const made = forwarder({ exchange, logger, url: proxy.urlOf(vhost.name), confirmTimeoutMs: 500 });
      const events = log.slice(0, 200);
      await made.processor.handle(events.slice(0, 100), context());
      proxy.freeze();
      await made.processor.handle(events.slice(100), context());
      const lost = logger.lines.filter((line) => line.message.startsWith('rabbitmq link lost before the batch was confirmed'));
      expect(lost.map((line) => (line.fields.error as Error).name)).toEqual(['ConfirmTimeoutError']);

      // The link it opened again goes silent as well: shutting down must not wait for its CloseOk.
      proxy.freeze();
      const closing = Date.now();
      await made.close();
      expect(Date.now() - closing).toBeLessThan(5_000);

      expectExactlyOnceInCommitOrder(await readQueue(vhost.url, queue), events);
    } finally {
      proxy.close();
    }
  });

  it('a message the broker nacks fails the batch, so the runner retries it', async () => {
    const exchange = 'events-nacked';
    // A queue that refuses what it has no room for: the broker nacks the publish.
    await declareBoundQueue(vhost.url, exchange, '#', { 'x-max-length': 2, 'x-overflow': 'reject-publish' });
    const { processor } = forwarder({ exchange });
    const error = await processor.handle(log.slice(0, 5), context()).catch((error: unknown) => error);
    expect(error).toBeInstanceOf(RabbitMqNackError);
    expect((error as RabbitMqNackError).eventId).toBe(log[2]!.id);
  });

  it('while no broker answers, keeps trying with backoff, and gives up when the context signal aborts', async () => {
    const logger = recordingLogger();
    const unreachable = rabbitMqForwarder({ url: 'amqp://guest:guest@127.0.0.1:1/', logger, reconnect: { initialDelayMs: 20, maxDelayMs: 80 } });
    forwarders.push(unreachable);
    const stop = new AbortController();
    const handling = unreachable.processor.handle(log.slice(0, 3), context(stop.signal));
    const failures = () => logger.lines.filter((line) => line.message.startsWith('rabbitmq connection failed'));
    await until(async () => failures().length >= 3, 'three failed connection attempts');
    stop.abort(new Error('lease lost'));
    await expect(handling).rejects.toThrow('lease lost');
    expect(failures().map((line) => line.fields.attempt)).toEqual(failures().map((_, i) => i + 1));
    // The log names the broker, never the credentials in its URL.
    expect(failures()[0]!.fields).toMatchObject({ processor: 'rabbitmq-forwarder', broker: '127.0.0.1:1/', exchange: 'events' });
    expect(JSON.stringify(logger.lines)).not.toContain('guest:guest');
  });

  it('an attempt on a broker that accepts the TCP connection and then says nothing fails after connectTimeoutMs and is tried again', async () => {
    // What a half-dead broker or a stuck proxy looks like: the socket opens, the AMQP handshake never comes.
    const sockets = new Set<Socket>();
    const silent = createServer((socket) => void sockets.add(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as AddressInfo;
    const logger = recordingLogger();
    const stuck = rabbitMqForwarder({ url: `amqp://guest:guest@127.0.0.1:${port}/`, logger, connectTimeoutMs: 300, reconnect: { initialDelayMs: 20, maxDelayMs: 80 } });
    forwarders.push(stuck);
    const stop = new AbortController();
    const handling = stuck.processor.handle(log.slice(0, 3), context(stop.signal));
    try {
      const failures = () => logger.lines.filter((line) => line.message.startsWith('rabbitmq connection failed'));
      await until(async () => failures().length >= 2, 'two timed-out connection attempts');
      expect(String((failures()[0]!.fields.error as Error).message)).toContain('ETIMEDOUT');
      stop.abort(new Error('shutting down'));
      await expect(handling).rejects.toThrow('shutting down');
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });

  it('close() does not wait out a connection attempt the broker never answers', async () => {
    const sockets = new Set<Socket>();
    const silent = createServer((socket) => void sockets.add(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as AddressInfo;
    try {
      const stuck = rabbitMqForwarder({ url: `amqp://guest:guest@127.0.0.1:${port}/`, logger: silentLogger, connectTimeoutMs: 120_000 });
      const handling = stuck.processor.handle(log.slice(0, 3), context());
      const ended = expect(handling).rejects.toBeInstanceOf(RabbitMqForwarderClosedError);
      await until(async () => sockets.size === 1, 'the connection attempt under way');
      const closing = Date.now();
      await stuck.close();
      expect(Date.now() - closing).toBeLessThan(10_000);
      await ended;
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });

  it('close() ends a batch that waits for the broker, and refuses later ones', async () => {
    const logger = recordingLogger();
    const unreachable = rabbitMqForwarder({ url: 'amqp://guest:guest@127.0.0.1:1/', logger, reconnect: { initialDelayMs: 20, maxDelayMs: 80 } });
    const handling = unreachable.processor.handle(log.slice(0, 3), context());
    await until(async () => logger.lines.some((line) => line.message.startsWith('rabbitmq connection failed')), 'a failed connection attempt');
    // Watched before close() so its rejection, which may come while close() waits for a connection attempt, is never unhandled.
    const ended = expect(handling).rejects.toBeInstanceOf(RabbitMqForwarderClosedError);
    await unreachable.close();
    await ended;
    await expect(unreachable.processor.handle(log.slice(0, 1), context())).rejects.toBeInstanceOf(RabbitMqForwarderClosedError);
  });
});

describe('the example consumer (examples/rabbitmq-consumer.ts)', () => {
  it('bound with Cart.*, handles every cart event once, in commit order, across duplicates and a dropped connection', async () => {
    const exchange = 'events-example';
    const { processor } = forwarder({ exchange });
    const cartEvents = log.filter((event) => event.streamType === 'Cart');
    const everythingButBulk = log.filter((event) => event.streamType !== 'Bulk');
    const handled: ForwardedEvent[] = [];
    const stop = new AbortController();
    const lines: string[] = [];
    const consuming = consumeEvents({ url: vhost.url, exchange, queue: 'cart-consumer', binding: 'Cart.*', signal: stop.signal, handle: (event) => void handled.push(event), log: (line) => lines.push(line) });
    try {
      await until(async () => lines.some((line) => line.startsWith('consuming cart-consumer')), 'the consumer bound its queue');
      const half = everythingButBulk.findIndex((event) => event.id === cartEvents[10]!.id);
      const [first, second] = [everythingButBulk.slice(0, half), everythingButBulk.slice(half)];
      await processor.handle(first, context());
      // Handed over again, as after a crash before the checkpoint moved: copies the consumer must skip.
      await processor.handle(first, context());
      await until(async () => handled.length >= 10, 'the first cart events handled');
      await vhost.closeAllConnections();
      await processor.handle(second, context());
      await until(async () => handled.length >= cartEvents.length, 'every cart event handled');
      expect(lines.some((line) => line.startsWith('connection lost'))).toBe(true);
      expect(handled.map((event) => event.id)).toEqual(cartEvents.map((event) => event.id));
      expect(handled.map((event) => `${event.streamId}@${event.version}`)).toEqual(cartEvents.map((event) => `${event.streamId}@${event.version}`));
    } finally {
      stop.abort();
      await consuming;
    }
  });
});
