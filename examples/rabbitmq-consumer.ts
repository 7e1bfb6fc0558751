/**
 * Another service's view of the event store: a RabbitMQ consumer of the events the API forwards.
 *
 *   RABBITMQ_URL=amqp://guest:guest@127.0.0.1:5672/ node examples/rabbitmq-consumer.ts [binding] [queue]
 *
 * (Node 24 runs the TypeScript as it is; with npm's PATH: `npm exec -- node examples/rabbitmq-consumer.ts`.)
 * It binds a durable queue (default `cart-consumer`) to the `events` topic exchange (RABBITMQ_EXCHANGE)
 * with a routing pattern (default `Cart.*`: every event of every cart), and prints each event it
 * handles as one JSON line. Stop it and start it again: what was published meanwhile waits in its
 * queue. Restart the broker: it reconnects.
 *
 * The rules that make this correct:
 * 1. Delivery is at least once: the API publishes a batch again when it is not sure the broker took
 *    it, and the broker delivers a message again when a consumer died before acknowledging it.
 *    Deduplicate by `messageId` (the event id). Here a bounded set in memory does; a real service
 *    records the ids it handled in the same transaction as the effect of handling them.
 * 2. Handle messages one at a time in the order they come: per stream that is commit order (each
 *    message carries its stream's `version` to check against).
 * 3. Acknowledge after the effect, never before; a message that cannot be read is rejected (dead-
 *    lettered where the queue has a dead-letter exchange), not requeued forever.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { connect, type Channel, type ConsumeMessage } from 'amqplib';

/** What the API publishes (src/eventStore/forwarding/eventMessage.ts), as a consumer reads it. */
export type ForwardedEvent = {
  id: string;
  type: string;
  streamId: string;
  streamType: string;
  version: number;
  position: string;
  recordedAt: string;
  data: Record<string, unknown>;
  metadata: Record<string, unknown>;
};

export type ConsumeOptions = {
  url: string;
  exchange: string;
  queue: string;
  /** Topic binding: `Cart.*`, `*.CartCheckedOut`, `#` for everything. */
  binding: string;
  handle(event: ForwardedEvent): Promise<void> | void;
  signal: AbortSignal;
  log?: (message: string) => void;
};

/** Remembers the last `capacity` ids: enough to catch the copies a republished batch or a redelivery brings. */
class RecentIds {
  private readonly ids = new Set<string>();
  private readonly capacity: number;
  constructor(capacity: number) {
    this.capacity = capacity;
  }
  /** True the first time `id` is seen. */
  add(id: string): boolean {
    if (this.ids.has(id)) return false;
    this.ids.add(id);
    if (this.ids.size > this.capacity) this.ids.delete(this.ids.values().next().value!);
    return true;
  }
  delete(id: string): void {
    this.ids.delete(id);
  }
}

/** Consumes until `signal` aborts, reconnecting with backoff whenever the connection goes. */
export async function consumeEvents(options: ConsumeOptions): Promise<void> {
  const log = options.log ?? ((message: string) => process.stderr.write(`${message}\n`));
  const seen = new RecentIds(100_000);
  let delayMs = 200;
  while (!options.signal.aborted) {
    try {
      await consumeOnce(options, seen, log);
      delayMs = 200;
    } catch (error) {
      if (options.signal.aborted) break;
      log(`connection lost (${error instanceof Error ? error.message : String(error)}); reconnecting in ${delayMs} ms`);
      await sleep(delayMs, undefined, { signal: options.signal }).catch(() => undefined);
      delayMs = Math.min(delayMs * 2, 10_000);
    }
  }
}

/** One connection's worth of consuming: resolves when `signal` aborts, rejects when the connection goes. */
async function consumeOnce(options: ConsumeOptions, seen: RecentIds, log: (message: string) => void): Promise<void> {
  const connection = await connect(options.url);
  try {
    const closed = new Promise<never>((_, reject) => {
      connection.on('close', (error?: Error) => reject(error ?? new Error('connection closed')));
      connection.on('error', () => undefined); // 'close' follows and says the same
    });
    closed.catch(() => undefined);
    const channel = await connection.createChannel();
    await channel.assertExchange(options.exchange, 'topic', { durable: true });
    await channel.assertQueue(options.queue, { durable: true });
    await channel.bindQueue(options.queue, options.exchange, options.binding);
    // A few messages in flight keep the pipe full; they are still handled one at a time.
    await channel.prefetch(50);
    let queue = Promise.resolve();
    await channel.consume(options.queue, (message) => {
      if (!message) return; // the broker cancelled the consumer (queue deleted): the close that follows reconnects
      queue = queue.then(() => handleMessage(channel, message, options, seen, log));
    });
    log(`consuming ${options.queue} (bound to ${options.exchange} with ${options.binding})`);
    const stopped = new Promise<void>((resolve) => options.signal.addEventListener('abort', () => resolve(), { once: true }));
    await Promise.race([closed, stopped]);
    await queue;
  } finally {
    await connection.close().catch(() => undefined);
  }
}

async function handleMessage(channel: Channel, message: ConsumeMessage, options: ConsumeOptions, seen: RecentIds, log: (message: string) => void): Promise<void> {
  let event: ForwardedEvent;
  try {
    event = JSON.parse(message.content.toString('utf8')) as ForwardedEvent;
  } catch {
    log(`rejecting message ${String(message.properties.messageId)}: not JSON`);
    channel.reject(message, false);
    return;
  }
  const id = String(message.properties.messageId ?? event.id);
  if (seen.add(id)) {
    try {
      await options.handle(event);
    } catch (error) {
      log(`handling ${id} failed (${error instanceof Error ? error.message : String(error)}); it comes again`);
      // Forget it, so the redelivery is handled rather than skipped as a copy.
      seen.delete(id);
      channel.nack(message, false, true);
      return;
    }
  }
  channel.ack(message);
}

if (import.meta.main) {
  const [binding = 'Cart.*', queue = 'cart-consumer'] = process.argv.slice(2);
  const stop = new AbortController();
  process.once('SIGINT', () => stop.abort());
  process.once('SIGTERM', () => stop.abort());
  await consumeEvents({
    url: process.env.RABBITMQ_URL ?? 'amqp://guest:guest@127.0.0.1:5672/',
    exchange: process.env.RABBITMQ_EXCHANGE ?? 'events',
    queue,
    binding,
    signal: stop.signal,
    handle: (event) => {
      process.stdout.write(`${JSON.stringify({ id: event.id, type: event.type, streamId: event.streamId, version: event.version, position: event.position, data: event.data })}\n`);
    },
  });
}
