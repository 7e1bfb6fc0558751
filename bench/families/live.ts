import { createDatabase, createRawEventsTable } from '../lib/db.ts';
import { row, type Row } from '../lib/report.ts';
import { startApi } from '../lib/server.ts';
import type { LatencySummary } from '../lib/stats.ts';
import { liveCell, rawNotifyCell, type FilterMix, type LiveResult } from '../workloads/live.ts';
import type { FamilyContext, FamilyResult } from './context.ts';

const W4 = '4. Live delivery';

export async function liveFamily(ctx: FamilyContext): Promise<FamilyResult> {
  const { scale } = ctx;
  const url = await createDatabase(ctx.serverUrl, 'bench_live');
  await createRawEventsTable(url);
  const mixes: FilterMix[] = ['thirds', 'thirdsBatched', 'streamHeavy', 'ownStream'];
  const live: Record<FilterMix, LiveResult[]> = { thirds: [], thirdsBatched: [], streamHeavy: [], ownStream: [] };
  const subscribersOf = (mix: FilterMix) => (mix === 'ownStream' ? scale.ownStreamSubscribers : scale.liveSubscribers);
  // Issue 12's targets: the firehose-heavy thirds and one stream per subscriber within 50 ms, the stream-heavy mix within 25 ms.
  const p99Target: Record<FilterMix, number> = { thirds: 50, thirdsBatched: 50, streamHeavy: 25, ownStream: 50 };
  const raw: (LatencySummary & { lost: number })[] = [];
  const api = await startApi({ databaseUrl: url, ...ctx.profile('live') });
  try {
    for (let run = 0; run < 2; run++) {
      ctx.log(`raw LISTEN/NOTIFY at ${scale.liveRate} ev/s run ${run + 1}`);
      raw.push(await rawNotifyCell(url, scale.liveRate, 1000, Math.min(scale.liveDurationMs, 5000)));
      for (const mix of mixes) {
        ctx.log(`live delivery: ${subscribersOf(mix)} subscribers (${mix}), ${scale.liveRate} ev/s, run ${run + 1}`);
        live[mix].push(await liveCell({ api, databaseUrl: url, subscribers: subscribersOf(mix), rate: scale.liveRate, warmupMs: scale.liveWarmupMs, durationMs: scale.liveDurationMs, prefix: `live${run}${mix}`, mix, log: ctx.log }));
      }
    }
  } finally {
    await api.stop();
  }
  const rawLabel = 'INSERT + NOTIFY → pg LISTEN';
  const rows: Row[] = [];
  const describe: Record<FilterMix, string> = {
    thirds: 'filters ⅓ stream, ⅓ type, ⅓ all',
    thirdsBatched: 'filters ⅓ stream, ⅓ type, ⅓ all on eventBatches',
    streamHeavy: 'filters 80 % stream, 15 % type, 5 % all',
    ownStream: 'each on a stream of its own',
  };
  for (const mix of mixes) {
    const runs = live[mix];
    const cell = `${subscribersOf(mix).toLocaleString('en-US')} subscribers, ${scale.liveRate} ev/s, ${describe[mix]}`;
    rows.push(
      row({ workload: W4, cell, figure: 'commit → client p50', unit: 'ms', runs: runs.map((x) => x.latencyMs.p50), raw: raw.map((x) => x.p50), rawLabel }),
      row({ workload: W4, cell, figure: 'commit → client p99', unit: 'ms', runs: runs.map((x) => x.latencyMs.p99), raw: raw.map((x) => x.p99), rawLabel,
        target: { text: `< ${p99Target[mix]} ms`, worse: 'higher', check: (worst) => worst < p99Target[mix] } }),
      row({ workload: W4, cell, figure: 'commit → client max', unit: 'ms', runs: runs.map((x) => x.latencyMs.max), raw: raw.map((x) => x.max), rawLabel }),
      row({ workload: W4, cell, figure: 'undelivered (+ repeated)', unit: 'deliveries', runs: runs.map((x) => x.lost + x.repeated), raw: raw.map((x) => x.lost),
        target: { text: '0', worse: 'higher', check: (worst) => worst === 0 },
        note: runs.map((x, i) => `run ${i + 1}: ${x.expectedDeliveries} expected, ${x.delivered} delivered, ${x.lost} not delivered ${x.drainedS} s after the writers stopped, repeated ${x.repeated}; ${x.deliveriesPerS} deliveries/s of events committed in the measured window; writers reached ${x.achievedRate} ev/s; CPU: server ${x.serverCpuPercent} %, subscriber process ${x.clientCpuPercent} %; ${x.errors} errors`).join('; ') }),
    );
  }
  const notes: string[] = [];
  if (Object.values(live).flat().some((x) => x.latencyMs.count === 0)) {
    notes.push('Live delivery: a latency of "–" means none of the events committed in the measured window reached a subscriber before the drain ended; the latency was longer than the window plus the drain.');
  }
  const failures = Object.values(live).flat().filter((x) => x.failedToOpen || x.errors || x.writerErrors || x.closedEarly);
  if (failures.length) notes.push(`Live delivery: ${failures.map((x) => `${x.failedToOpen} subscriptions failed to open, ${x.errors} errors (${x.firstError ?? ''}), ${x.writerErrors} writer errors, ${x.closedEarly} closed early`).join('; ')}`);
  return { rows, notes, details: { live, raw } };
}
