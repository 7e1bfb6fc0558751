import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { encodePosition } from '../../src/eventStore/log/position.ts';
import { startLoadProcess } from '../lib/child.ts';
import { withClient } from '../lib/db.ts';
import { processCpuMs, type ApiProcess } from '../lib/server.ts';
import { Samples, sleep, summarize, wallNow, type LatencySummary } from '../lib/stats.ts';
import type { CollectResult, SubscriberSpec } from '../clients/subscribers.ts';
import type { WriterOptions, WriterReport } from '../clients/writers.ts';

/** How long to wait for stragglers once the writers stop; what has not arrived by then counts as undelivered. */
export const DRAIN_MS = 10_000;

const TYPE_FILTERS = [['CartItemAdded'], ['CartItemRemoved'], ['CartOpened', 'CartCheckedOut']];

export type FilterMix = 'thirds' | 'thirdsBatched' | 'streamHeavy' | 'ownStream';

/**
 * Subscriber i watches one stream, one set of types, or everything: in turn (`thirds`), or 80 %
 * streams, 15 % types, 5 % everything (`streamHeavy`, e.g. UIs watching their own aggregate), or
 * each its own stream (`ownStream`: as many streams as subscribers, every UI on its own aggregate).
 * `thirdsBatched` is `thirds` with the third on everything following Subscription.eventBatches
 * (several events a message), as a client of the whole log would.
 */
export function mixedFilters(count: number, streams: string[], after?: string, mix: FilterMix = 'thirds'): SubscriberSpec[] {
  return Array.from({ length: count }, (_, i) => {
    const kind = mix === 'ownStream' ? 0 : mix === 'thirds' || mix === 'thirdsBatched' ? i % 3 : i % 20 === 0 ? 2 : i % 20 <= 3 ? 1 : 0;
    const filter = kind === 0 ? { streamId: streams[i % streams.length]! } : kind === 1 ? { types: TYPE_FILTERS[i % TYPE_FILTERS.length]! } : undefined;
    return { ...(filter ? { filter } : {}), ...(after ? { after } : {}), ...(kind === 2 && mix === 'thirdsBatched' ? { batched: true } : {}) };
  });
}

export type LiveResult = CollectResult & { appended: number; writerErrors: number; achievedRate: number; serverCpuPercent: number; clientCpuPercent: number; opened: number; failedToOpen: number; drainedS: number };

/**
 * Workload 4: `subscribers` graphql-ws subscriptions (one connection each, filters mixed) in one
 * load process, while `writers` writers in another process append `rate` events/s through the
 * command handler. Latency is from the moment an append's commit returned to its writer to the
 * moment the frame arrived at a subscriber (one machine clock). Every subscriber subscribes
 * `after` the same marker position, so exactly which events each must receive is known: those not
 * arrived when deliveries have stopped for 2 s (at most DRAIN_MS after the writers stop) count as
 * undelivered: lost, or so late that they are as good as lost.
 */
export async function liveCell(options: { api: ApiProcess; databaseUrl: string; subscribers: number; rate: number; warmupMs: number; durationMs: number; prefix: string; mix: FilterMix; log: (m: string) => void }): Promise<LiveResult> {
  const { api, databaseUrl } = options;
  // 100 carts the writers append to, or one per subscriber when each watches its own.
  const cartsPerWriter = options.mix === 'ownStream' ? Math.ceil(options.subscribers / 4) : 25;
  const writersOptions: WriterOptions = { databaseUrl, writers: 4, rate: options.rate, cartsPerWriter, record: true, prefix: options.prefix };
  const writers = await startLoadProcess('bench/clients/writers.ts', writersOptions);
  const subscribers = await startLoadProcess('bench/clients/subscribers.ts', { wsUrl: api.wsUrl });
  try {
    await writers.ask({ type: 'open' }, 'opened', 300_000);
    const marker = await withClient(databaseUrl, async (client) => {
      const { rows } = await client.query<{ t: string; g: string }>('select transaction_id::text as t, global_position::text as g from events order by transaction_id desc, global_position desc limit 1');
      return encodePosition({ transactionId: BigInt(rows[0]!.t), globalPosition: BigInt(rows[0]!.g) });
    });
    const streams = Array.from({ length: 4 }, (_, w) => Array.from({ length: cartsPerWriter }, (_, s) => `${options.prefix}-${w}-${s}`)).flat();
    const opened = await subscribers.ask<{ opened: number; failed: number; firstError?: string }>({ type: 'open', subscribers: mixedFilters(options.subscribers, streams, marker, options.mix) }, 'opened', 300_000);
    options.log(`  ${opened.opened} subscriptions open${opened.failed ? `, ${opened.failed} failed (${opened.firstError})` : ''}`);
    await sleep(1000);
    await writers.ask({ type: 'start' }, 'started');
    await sleep(options.warmupMs);
    const cpuBefore = await api.cpuMs();
    const clientCpuBefore = await processCpuMs(subscribers.pid);
    const measureFrom = wallNow();
    await sleep(options.durationMs);
    const measureTo = wallNow();
    const cpu = (await api.cpuMs()) - cpuBefore;
    const clientCpu = (await processCpuMs(subscribers.pid)) - clientCpuBefore;
    const { report } = await writers.ask<{ report: WriterReport }>({ type: 'stop' }, 'report');
    // Let the last events arrive: wait until deliveries stop coming (2 s without one), at most DRAIN_MS.
    const drainStarted = performance.now();
    let last = -1;
    let quietSince = performance.now();
    while (performance.now() - drainStarted < DRAIN_MS) {
      const { deliveries } = await subscribers.ask<{ deliveries: number }>({ type: 'count' }, 'counted');
      if (deliveries !== last) {
        last = deliveries;
        quietSince = performance.now();
      } else if (performance.now() - quietSince >= 2000) break;
      await sleep(500);
    }
    const drainedS = Math.round((performance.now() - drainStarted) / 100) / 10;
    const { result } = await subscribers.ask<{ result: CollectResult }>({ type: 'collect', events: report.events, measureFrom, measureTo }, 'collected', 300_000);
    await subscribers.ask({ type: 'close' }, 'closed', 60_000);
    const measured = report.events.filter((e) => e.commitAt >= measureFrom && e.commitAt <= measureTo).length;
    return {
      ...result,
      appended: report.appended,
      writerErrors: report.errors,
      achievedRate: Math.round(measured / ((measureTo - measureFrom) / 1000)),
      serverCpuPercent: Math.round((cpu / (measureTo - measureFrom)) * 100),
      clientCpuPercent: Math.round((clientCpu / (measureTo - measureFrom)) * 100),
      opened: opened.opened,
      failedToOpen: opened.failed,
      drainedS,
    };
  } finally {
    await subscribers.stop();
    await writers.stop();
  }
}

/**
 * The raw limit for live delivery: what PostgreSQL itself does for push. A node `pg` writer inserts
 * one event and NOTIFYs its id in the same transaction, paced to `rate` per second; a node `pg`
 * LISTEN connection receives it. Latency is from the writer's commit returning to the notification
 * arriving (same process, same clock).
 */
export async function rawNotifyCell(url: string, rate: number, warmupMs: number, durationMs: number): Promise<LatencySummary & { lost: number }> {
  const writer = new pg.Client({ connectionString: url, application_name: 'bench-raw-notify-writer' });
  const listener = new pg.Client({ connectionString: url, application_name: 'bench-raw-notify-listener' });
  await writer.connect();
  await listener.connect();
  const received = new Map<string, number>();
  const committed = new Map<string, number>();
  listener.on('notification', (n) => received.set(n.payload!, wallNow()));
  await listener.query('listen bench_raw_events');
  let running = true;
  let measureFrom = Infinity;
  let measureTo = Infinity;
  const stream = `raw-live-${randomUUID()}`;
  const loop = (async () => {
    const interval = 1000 / rate;
    const started = performance.now();
    for (let k = 0; running; k++) {
      const wait = started + k * interval - performance.now();
      if (wait > 0) await sleep(wait);
      const id = randomUUID();
      await writer.query(
        `with inserted as (
           insert into raw.events (event_id, stream_id, stream_type, stream_version, event_type, data, metadata, recorded_at)
           select $1, $2, 'Cart', $3::int + 1, 'CartItemAdded', '{"sku":"sku-1","name":"Benchmark widget","unitPrice":{"amount":1999,"currency":"EUR"},"quantity":1}', '{}', now()
           where (select coalesce(max(stream_version), 0) from raw.events where stream_id = $2) = $3::int
           returning event_id)
         select pg_notify('bench_raw_events', event_id::text) from inserted`,
        [id, stream, k],
      );
      committed.set(id, wallNow());
    }
  })();
  await sleep(warmupMs);
  measureFrom = wallNow();
  await sleep(durationMs);
  measureTo = wallNow();
  running = false;
  await loop;
  await sleep(500);
  await writer.end();
  await listener.end();
  const samples = new Samples();
  let lost = 0;
  for (const [id, at] of committed) {
    if (at < measureFrom || at > measureTo) continue;
    const got = received.get(id);
    if (got === undefined) lost++;
    else samples.push(got - at);
  }
  return { ...summarize(samples.values()), lost };
}
