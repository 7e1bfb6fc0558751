import { createDatabase } from '../lib/db.ts';
import { row } from '../lib/report.ts';
import { startApi } from '../lib/server.ts';
import { idleSubscriptionsCell, startBareWsServer, type MemoryResult } from '../workloads/memory.ts';
import type { FamilyContext, FamilyResult } from './context.ts';

const W5 = '5. Memory';

export async function memoryFamily(ctx: FamilyContext): Promise<FamilyResult> {
  const { scale } = ctx;
  const url = await createDatabase(ctx.serverUrl, 'bench_memory');
  const api: MemoryResult[] = [];
  const floor: MemoryResult[] = [];
  for (let run = 0; run < 2; run++) {
    ctx.log(`memory: ${scale.idleSubscriptions} idle subscriptions on the API, run ${run + 1}`);
    const server = await startApi({ databaseUrl: url });
    try {
      api.push(await idleSubscriptionsCell({ pid: server.pid, wsUrl: server.wsUrl, httpUrl: server.url }, scale.idleSubscriptions));
    } finally {
      await server.stop();
    }
    ctx.log(`memory: ${scale.idleSubscriptions} idle subscriptions on a bare ws server, run ${run + 1}`);
    const bare = await startBareWsServer();
    try {
      floor.push(await idleSubscriptionsCell({ pid: bare.pid, wsUrl: bare.wsUrl }, scale.idleSubscriptions));
    } finally {
      await bare.stop();
    }
  }
  const cell = `${scale.idleSubscriptions} idle subscriptions`;
  const rows = [
    row({ workload: W5, cell, figure: 'server RSS per subscription', unit: 'bytes', runs: api.map((x) => x.bytesPerSubscription), raw: floor.map((x) => x.bytesPerSubscription), rawLabel: 'floor: bare ws server, no SQL involved',
      target: { text: '< 20 KB (20,480 B)', worse: 'higher', check: (worst) => worst < 20 * 1024 },
      note: api.map((x, i) => `run ${i + 1}: RSS ${x.rssBeforeMiB} → ${x.rssAfterMiB} MiB with ${x.subscriptions} open${x.failed ? `, ${x.failed} failed (${x.firstError})` : ''}`).join('; ') }),
  ];
  const notes = api.some((x) => x.failed) ? [`Memory: some subscriptions failed to open: ${api.map((x) => x.firstError).filter(Boolean).join('; ')}`] : [];
  return { rows, notes, details: { api, floor } };
}
