import { openOrm } from '../../src/db/orm.ts';
import { compose } from '../../src/app/composition.ts';
import { modules } from '../../src/app/modules.ts';
import { redactUrl } from '../../src/app/config.ts';
import { createDatabase } from '../lib/db.ts';
import { preloadEvents } from '../lib/preload.ts';
import { row } from '../lib/report.ts';
import { bareClientCell, BENCH_BROKER_URL, benchTopology, forwarderCell, readEvents, type ForwardingResult } from '../workloads/forwarding.ts';
import type { FamilyContext, FamilyResult } from './context.ts';

const { orm: ormSchema } = compose(modules);

const W9 = '9. Forwarding to RabbitMQ';
/** Events per `handle` call: what the processor runner hands over at a time. */
const BATCH = 1_000;

const fmtCount = (n: number) => (n >= 1_000_000 ? `${n / 1_000_000}M` : n >= 1000 ? `${n / 1000}k` : String(n));

/**
 * Workload 9: the RabbitMQ forwarder's throughput with publisher confirms, beside a bare amqplib
 * client publishing the same messages with confirms, both into one durable queue on the same broker
 * in the same run (alternating, twice each). The events come from a preloaded log, read into memory
 * first: the figure is the forwarder's, not PostgreSQL's.
 */
export async function forwardingFamily(ctx: FamilyContext): Promise<FamilyResult> {
  const total = ctx.scale.forwardEvents;
  ctx.log(`forwarding: preloading ${total} events`);
  const url = await createDatabase(ctx.serverUrl, 'bench_forwarding');
  await preloadEvents(url, total, ctx.scale.eventsPerTransaction);
  const orm = await openOrm({ url, poolSize: 2, ...ormSchema });
  const forwarder: ForwardingResult[] = [];
  const bare: ForwardingResult[] = [];
  let topology: Awaited<ReturnType<typeof benchTopology>> | undefined;
  try {
    const events = await readEvents(orm);
    topology = await benchTopology();
    for (let run = 0; run < 2; run++) {
      ctx.log(`forwarding: bare amqplib confirm channel, ${events.length} events, run ${run + 1}`);
      bare.push(await bareClientCell(events, topology, BATCH));
      ctx.log(`forwarding: rabbitMqForwarder.handle, ${events.length} events, run ${run + 1}`);
      forwarder.push(await forwarderCell(events, topology, BATCH, orm.em.fork()));
    }
  } finally {
    await topology?.drop();
    await orm.close();
  }
  const cell = `${fmtCount(total)} events, batches of ${fmtCount(BATCH)}, one durable queue`;
  const rows = [
    row({ workload: W9, cell, figure: 'events/s confirmed (forwarder handle)', unit: 'ev/s', runs: forwarder.map((x) => x.eventsPerS), raw: bare.map((x) => x.eventsPerS), rawLabel: 'bare amqplib confirm channel, same messages and batches',
      note: forwarder.map((x, i) => `run ${i + 1}: ${x.events} events in ${x.seconds} s, ${x.inQueue} in the queue (with the untimed first batch)`).join('; ') }),
    row({ workload: W9, cell, figure: 'messages missing from the queue', unit: 'messages', runs: forwarder.map((x) => Math.max(0, total - x.inQueue)),
      target: { text: '0', worse: 'higher', check: (worst) => worst === 0 } }),
  ];
  const notes = [
    `Forwarding: RabbitMQ at ${redactUrl(BENCH_BROKER_URL)} (BENCH_RABBITMQ_URL to change), on this machine; persistent messages into a durable queue, so each confirm waits for the broker's disk write. The forwarder's figure includes encoding each event to JSON; the bare client's messages were encoded before its clock started.`,
  ];
  return { rows, notes, details: { forwarder, bare, batchSize: BATCH } };
}
