import { randomBytes } from 'node:crypto';
import { connect } from 'amqplib';
import { silentLogger } from '../../src/core/logger.ts';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { RecordedEvent } from '../../src/core/message.ts';
import type { Orm } from '../../src/db/orm.ts';
import { toEventMessage } from '../../src/eventStore/forwarding/eventMessage.ts';
import { rabbitMqForwarder } from '../../src/eventStore/forwarding/rabbitMqForwarder.ts';
import { readLog } from '../../src/eventStore/log/read.ts';
import { compose } from '../../src/app/composition.ts';
import { modules } from '../../src/app/modules.ts';
import type { LogPosition } from '../../src/eventStore/log/position.ts';
import { round } from '../lib/stats.ts';

const { upcasters } = compose(modules);

export type ForwardingResult = { events: number; seconds: number; eventsPerS: number; inQueue: number };

/** The broker the bench publishes to: BENCH_RABBITMQ_URL, else the machine's own (the test suite's). */
export const BENCH_BROKER_URL = process.env.BENCH_RABBITMQ_URL ?? 'amqp://guest:guest@127.0.0.1:5672/';

/** The whole log, in commit order, read as the processor runner reads it (readLog pages). */
export async function readEvents(orm: Orm, pageSize = 5_000): Promise<RecordedEvent[]> {
  const events: RecordedEvent[] = [];
  let after: LogPosition | undefined;
  for (;;) {
    const page = await readLog(orm.em.fork(), upcasters, { ...(after ? { after } : {}), limit: pageSize });
    if (page.events.length === 0) return events;
    events.push(...page.events);
    after = page.next;
  }
}

const batchesOf = <T>(items: readonly T[], size: number): T[][] => Array.from({ length: Math.ceil(items.length / size) }, (_, i) => items.slice(i * size, (i + 1) * size));

/**
 * A durable topic exchange of the bench's own with one durable queue bound to `#`, as a consumer's
 * would be: persistent messages into a durable queue are confirmed once the broker has them on
 * disk, which is what the forwarder waits for. Deleted again by `drop`.
 */
export async function benchTopology(url = BENCH_BROKER_URL): Promise<{ exchange: string; queue: string; purge(): Promise<number>; drop(): Promise<void> }> {
  const suffix = randomBytes(4).toString('hex');
  const exchange = `bench-events-${suffix}`;
  const queue = `bench-all-${suffix}`;
  const connection = await connect(url);
  const channel = await connection.createChannel();
  await channel.assertExchange(exchange, 'topic', { durable: true });
  await channel.assertQueue(queue, { durable: true });
  await channel.bindQueue(queue, exchange, '#');
  return {
    exchange,
    queue,
    /** Empties the queue between runs; returns how many messages it held. */
    purge: async () => (await channel.purgeQueue(queue)).messageCount,
    drop: async () => {
      await channel.deleteQueue(queue);
      await channel.deleteExchange(exchange);
      await connection.close();
    },
  };
}

/**
 * The forwarder's `handle`, batch after batch, as the processor runner calls it: each call encodes
 * the events, publishes them on the confirm channel and returns once the broker confirmed all.
 * The first batch (connecting, declaring the exchange) is not timed.
 */
export async function forwarderCell(
  events: readonly RecordedEvent[],
  topology: { exchange: string; queue: string; purge(): Promise<number> },
  batchSize: number,
  em: EntityManager,
  url = BENCH_BROKER_URL,
): Promise<ForwardingResult> {
  const [warmup, ...batches] = batchesOf(events, batchSize);
  const forwarder = rabbitMqForwarder({ url, exchange: topology.exchange, logger: silentLogger, connectionName: 'bench-forwarder' });
  // An external processor's context: a fork outside any transaction, which the forwarder does not touch.
  const context = { em, upcasters, logger: silentLogger, signal: new AbortController().signal };
  try {
    await forwarder.processor.handle(warmup!, context);
    const started = performance.now();
    for (const batch of batches) await forwarder.processor.handle(batch, context);
    const seconds = (performance.now() - started) / 1000;
    const timed = events.length - warmup!.length;
    return { events: timed, seconds: round(seconds, 3), eventsPerS: round(timed / seconds, 0), inQueue: await topology.purge() };
  } finally {
    await forwarder.close();
  }
}

/**
 * The limit for the same work: a bare amqplib confirm channel publishing the very messages the
 * forwarder publishes (encoded beforehand, outside the timing), the same batches, each followed by
 * waitForConfirms.
 */
export async function bareClientCell(events: readonly RecordedEvent[], topology: { exchange: string; queue: string; purge(): Promise<number> }, batchSize: number, url = BENCH_BROKER_URL): Promise<ForwardingResult> {
  const [warmup, ...batches] = batchesOf(events.map(toEventMessage), batchSize);
  const connection = await connect(url, { clientProperties: { connection_name: 'bench-bare-client' } });
  try {
    const channel = await connection.createConfirmChannel();
    await channel.assertExchange(topology.exchange, 'topic', { durable: true });
    const publish = async (batch: readonly ReturnType<typeof toEventMessage>[]) => {
      for (const message of batch) channel.publish(topology.exchange, message.routingKey, message.content, message.properties);
      await channel.waitForConfirms();
    };
    await publish(warmup!);
    const started = performance.now();
    for (const batch of batches) await publish(batch);
    const seconds = (performance.now() - started) / 1000;
    const timed = events.length - warmup!.length;
    return { events: timed, seconds: round(seconds, 3), eventsPerS: round(timed / seconds, 0), inQueue: await topology.purge() };
  } finally {
    await connection.close();
  }
}
