import { createDatabase, createRawEventsTable } from '../lib/db.ts';
import { row } from '../lib/report.ts';
import { startApi } from '../lib/server.ts';
import type { LatencySummary } from '../lib/stats.ts';
import { rawNotifyCell } from '../workloads/live.ts';
import { productSalesLagCell, type SalesLagResult } from '../workloads/processors.ts';
import type { FamilyContext, FamilyResult } from './context.ts';

const W11 = '11. Processors';
/** The issue's rate, in quick mode too: the cell is short there, not lighter. */
const RATE = 500;

/** Workload 8's read-model cell: the product-sales processor's lag under 500 events/s of cart commands. */
export async function productSalesFamily(ctx: FamilyContext): Promise<FamilyResult> {
  const { scale } = ctx;
  const url = await createDatabase(ctx.serverUrl, 'bench_product_sales');
  await createRawEventsTable(url);
  const lag: SalesLagResult[] = [];
  const raw: (LatencySummary & { lost: number })[] = [];
  const api = await startApi({ databaseUrl: url, ...ctx.profile('product-sales') });
  try {
    for (let run = 0; run < 2; run++) {
      ctx.log(`raw LISTEN/NOTIFY at ${RATE} ev/s run ${run + 1}`);
      raw.push(await rawNotifyCell(url, RATE, 1000, Math.min(scale.liveDurationMs, 5000)));
      ctx.log(`product-sales lag at ${RATE} ev/s of commands, run ${run + 1}`);
      lag.push(await productSalesLagCell({ apiUrl: api.url, databaseUrl: url, rate: RATE, warmupMs: scale.liveWarmupMs, durationMs: scale.liveDurationMs, prefix: `sales${run}` }));
    }
  } finally {
    await api.stop();
  }
  const cell = `product sales, ${RATE} ev/s of cart commands over GraphQL (a checkout every 4 events)`;
  const rawLabel = 'INSERT + NOTIFY → pg LISTEN';
  const note = lag.map((x, i) => `run ${i + 1}: ${x.lagMs.count} checkouts measured of ${x.checkouts}, commands at ${x.achievedRate} ev/s, ${x.errors} errors${x.firstError ? ` (${x.firstError})` : ''}, ${x.unresolved} not passed 10 s after the load`).join('; ');
  return {
    rows: [
      row({ workload: W11, cell, figure: 'checkout answered → processor passed it, p50', unit: 'ms', runs: lag.map((x) => x.lagMs.p50), raw: raw.map((x) => x.p50), rawLabel }),
      row({ workload: W11, cell, figure: 'checkout answered → processor passed it, p99', unit: 'ms', runs: lag.map((x) => x.lagMs.p99), raw: raw.map((x) => x.p99), rawLabel, note }),
    ],
    notes: [],
    details: { productSalesLag: lag, raw },
  };
}
