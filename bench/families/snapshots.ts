import { migrate, openOrm } from '../../src/db/orm.ts';
import { compose } from '../../src/app/composition.ts';
import { modules } from '../../src/app/modules.ts';
import { createDatabase } from '../lib/db.ts';
import { row, type Row } from '../lib/report.ts';
import { coldCommandsCell, type ColdCommandsResult } from '../workloads/coldCommands.ts';
import type { FamilyContext, FamilyResult } from './context.ts';

const { orm: ormSchema } = compose(modules);

const W8 = '8. Cold commands';

/** Workload 8 on a fresh database: a cold command on a long stream with and without snapshots, beside one on a short stream. */
export async function snapshotsFamily(ctx: FamilyContext): Promise<FamilyResult> {
  const url = await createDatabase(ctx.serverUrl, 'bench_snapshots');
  const orm = await openOrm({ url, poolSize: ctx.apiPoolSize, ...ormSchema });
  const runs: ColdCommandsResult[] = [];
  try {
    await migrate(orm);
    for (let run = 1; run <= 2; run++) {
      ctx.log(`cold commands run ${run}`);
      runs.push(await coldCommandsCell(url, orm, { commands: ctx.scale.coldCommands, run }));
    }
  } finally {
    await orm.close();
  }
  const short = runs.map((r) => r.short.mean);
  const shortLabel = 'the same command on a 10-event counter';
  const rows: Row[] = [
    row({ workload: W8, cell: '10,000 events, snapshots every 100', figure: 'mean latency', unit: 'ms', runs: runs.map((r) => r.longWithSnapshots.mean), raw: short, rawLabel: shortLabel,
      target: { text: '≤ 2 × the 10-event stream', worse: 'higher', check: (_worst, ratio) => ratio !== undefined && ratio <= 2 } }),
    row({ workload: W8, cell: '10,000 events, snapshots every 100', figure: 'p99 latency', unit: 'ms', runs: runs.map((r) => r.longWithSnapshots.p99), raw: runs.map((r) => r.short.p99) }),
    row({ workload: W8, cell: '10,000 events, no snapshots', figure: 'mean latency', unit: 'ms', runs: runs.map((r) => r.longWithout.mean), raw: short, rawLabel: shortLabel }),
    row({ workload: W8, cell: '10,000 events, no snapshots', figure: 'p99 latency', unit: 'ms', runs: runs.map((r) => r.longWithout.p99), raw: runs.map((r) => r.short.p99) }),
    row({ workload: W8, cell: '10 events', figure: 'mean latency', unit: 'ms', runs: short }),
  ];
  return { rows, notes: [], details: { runs } };
}
