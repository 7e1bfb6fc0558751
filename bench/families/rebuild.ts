import { openOrm } from '../../src/db/orm.ts';
import { compose } from '../../src/app/composition.ts';
import { modules } from '../../src/app/modules.ts';
import { silentLogger } from '../../src/core/logger.ts';
import { rebuildWithLock } from '../../src/eventStore/projections/rebuild.ts';
import { cartProjection } from '../../src/modules/cart/projection.ts';
import { createDatabase } from '../lib/db.ts';
import { preloadEvents } from '../lib/preload.ts';
import { row, type Row } from '../lib/report.ts';
import { startApi } from '../lib/server.ts';
import { sleep } from '../lib/stats.ts';
import { rawCursorReadCell, type RawReadResult } from '../workloads/catchUp.ts';
import { cartQueries, type CartQueryResult, rebuildCell, type RebuildCellResult } from '../workloads/rebuild.ts';
import type { FamilyContext, FamilyResult } from './context.ts';

const { orm: ormSchema, upcasters } = compose(modules);

const W = '10. Read-model rebuild';
const WRITERS = 2;
const QUERY_CLIENTS = 4;

const mean = (values: readonly number[]) => values.reduce((a, b) => a + b, 0) / values.length;
const fmtCount = (n: number) => (n >= 1_000_000 ? `${n / 1_000_000}M` : n >= 1000 ? `${n / 1000}k` : String(n));

/**
 * Rebuilding the carts read model from a preloaded log (`npm run bench -- --only=rebuild`): its
 * speed beside the raw cursor read of the same log in the same run, the write pause at the switch,
 * and the p99 of `cart(id)` queries during the rebuild beside their p99 without one.
 */
export async function rebuildFamily(ctx: FamilyContext): Promise<FamilyResult> {
  const { scale } = ctx;
  const notes: string[] = [];
  const rows: Row[] = [];
  ctx.log(`preloading ${scale.logEvents} events for the rebuild`);
  const url = await createDatabase(ctx.serverUrl, 'bench_rebuild');
  const preload = await preloadEvents(url, scale.logEvents, scale.eventsPerTransaction);
  const orm = await openOrm({ url, poolSize: 4, ...ormSchema });
  const raw: RawReadResult[] = [];
  const rebuilds: RebuildCellResult[] = [];
  const quiet: CartQueryResult[] = [];
  try {
    // The preload writes events only: a first rebuild (not counted) fills the carts the queries ask for.
    ctx.log('first rebuild (fills the read model; not counted)');
    await rebuildWithLock({ orm, databaseUrl: url, projection: cartProjection, upcasters, logger: silentLogger });
    const api = await startApi({ databaseUrl: url, ...ctx.profile('rebuild') });
    try {
      const quietMs = Math.max(scale.commandDurationMs * 2, 2_000);
      for (let run = 0; run < 2; run++) {
        ctx.log(`raw cursor read run ${run + 1}`);
        raw.push(await rawCursorReadCell(url, WRITERS, `rebuildraw${run}`));
        ctx.log(`cart(id) without a rebuild, run ${run + 1}`);
        quiet.push(await cartQueries(api.url, scale.logEvents, QUERY_CLIENTS, sleep(quietMs)));
        ctx.log(`rebuild of carts run ${run + 1}`);
        rebuilds.push(await rebuildCell({ orm, databaseUrl: url, apiUrl: api.url, logEvents: scale.logEvents, writers: WRITERS, concurrency: QUERY_CLIENTS, prefix: `rebuild${run}` }));
      }
    } finally {
      await api.stop();
    }
  } finally {
    await orm.close();
  }
  const cell = `${fmtCount(scale.logEvents)}-event log (${fmtCount(rebuilds[0]!.rebuild.total)} cart events), ${WRITERS} writers`;
  const rawRate = raw.map((x) => x.eventsPerS);
  rows.push(row({ workload: W, cell, figure: 'events/s (rebuild of carts)', unit: 'ev/s', runs: rebuilds.map((x) => x.eventsPerS), raw: rawRate, rawLabel: 'server-side cursor over the whole log, FETCH 10000',
    target: { text: '≥ 0.5 × raw', worse: 'lower', check: (worst) => worst / mean(rawRate) >= 0.5 } }));
  rows.push(row({ workload: W, cell, figure: 'write pause at the switch', unit: 'ms', runs: rebuilds.map((x) => x.rebuild.writePauseMs),
    note: rebuilds.map((x, i) => `run ${i + 1}: ${x.rebuild.done} events in ${x.rebuild.elapsedSeconds.toFixed(2)} s, ${x.appendedDuringRebuild} appended meanwhile (${x.writerErrors} writer errors)`).join('; ') }));
  rows.push(row({ workload: W, cell: `cart(id), ${QUERY_CLIENTS} clients`, figure: 'p99 during the rebuild', unit: 'ms', runs: rebuilds.map((x) => x.queries.latency.p99), raw: quiet.map((x) => x.latency.p99), rawLabel: 'p99 without a rebuild, same API',
    note: rebuilds.map((x, i) => `run ${i + 1}: ${x.queries.latency.count} queries during (p50 ${x.queries.latency.p50.toFixed(2)} ms), ${quiet[i]!.latency.count} without (p50 ${quiet[i]!.latency.p50.toFixed(2)} ms); missing carts ${x.queries.misses}, errors ${x.queries.errors}`).join('; ') }));
  rows.push(row({ workload: W, cell: `cart(id), ${QUERY_CLIENTS} clients`, figure: 'missing carts + errors during the rebuild', unit: 'queries', runs: rebuilds.map((x) => x.queries.misses + x.queries.errors),
    target: { text: '0', worse: 'higher', check: (worst) => worst === 0 } }));
  notes.push(`Rebuild: the carts read model rebuilt by the library (as \`npm run rebuild -- carts\` does) from a log loaded in SQL in ${preload.seconds.toFixed(0)} s, while ${WRITERS} writers append carts through the command handler and ${QUERY_CLIENTS} clients query cart(id) through the API; the raw figure reads the whole log, counters included, with the same writers.`);
  return { rows, notes, details: { preload, raw, rebuilds, quiet } };
}
