import { migrate, openOrm } from '../../src/db/orm.ts';
import { compose } from '../../src/app/composition.ts';
import { modules } from '../../src/app/modules.ts';
import { createDatabase, createRawEventsTable } from '../lib/db.ts';
import type { LoopResult } from '../lib/loop.ts';
import { row, type Row } from '../lib/report.ts';
import { startApi } from '../lib/server.ts';
import { graphqlCommandsCell, libraryCommandsCell, rawAppendCell } from '../workloads/commands.ts';
import type { FamilyContext, FamilyResult } from './context.ts';

const { orm: ormSchema } = compose(modules);

const W1 = '1. Commands over GraphQL';
const W2 = '2. Commands through the library';

/** Workloads 1 and 2 on one fresh database, with the raw append limit measured beside them. */
export async function commandsFamily(ctx: FamilyContext): Promise<FamilyResult> {
  const { scale } = ctx;
  const url = await createDatabase(ctx.serverUrl, 'bench_commands');
  await createRawEventsTable(url);
  const timing = { warmupMs: scale.commandWarmupMs, durationMs: scale.commandDurationMs };
  const raw: Record<number, LoopResult[]> = {};
  const graphql: Record<number, LoopResult[]> = {};
  const library: Record<number, LoopResult[]> = {};
  const only = (name: string) => !ctx.only || ctx.only.has('commands') || ctx.only.has(name);

  for (let run = 0; run < 2; run++) {
    for (const c of scale.concurrency) {
      ctx.log(`raw append C=${c} run ${run + 1}`);
      (raw[c] ??= []).push(await rawAppendCell(url, c, timing));
    }
  }
  if (only('graphql')) {
    const api = await startApi({ databaseUrl: url, ...ctx.profile('commands-graphql') });
    try {
      for (let run = 0; run < 2; run++) {
        for (const c of scale.concurrency) {
          ctx.log(`GraphQL commands C=${c} run ${run + 1}`);
          const cpuBefore = await api.cpuMs();
          const result = await graphqlCommandsCell(api.url, c, timing);
          const cpu = (await api.cpuMs()) - cpuBefore;
          (graphql[c] ??= []).push({ ...result, serverCpuPercent: Math.round((cpu / (timing.warmupMs + timing.durationMs)) * 100) } as LoopResult);
        }
      }
    } finally {
      await api.stop();
    }
  }
  if (only('library')) {
    const orm = await openOrm({ url, poolSize: ctx.apiPoolSize, ...ormSchema });
    try {
      await migrate(orm);
      for (let run = 0; run < 2; run++) {
        for (const c of scale.concurrency) {
          ctx.log(`library commands C=${c} run ${run + 1}`);
          (library[c] ??= []).push(await libraryCommandsCell(orm, c, timing));
        }
      }
    } finally {
      await orm.close();
    }
  }

  const rows: Row[] = [];
  const rawLabel = 'one guarded INSERT per event, autocommit';
  for (const c of scale.concurrency) {
    const r = raw[c]!;
    const rawRate = r.map((x) => x.eventsPerS);
    const rawP50 = r.map((x) => x.latencyMs.p50);
    const rawP99 = r.map((x) => x.latencyMs.p99);
    const g = graphql[c];
    if (g) {
      const isTarget = c === 32;
      rows.push(row({ workload: W1, cell: `C=${c}`, figure: 'events/s', unit: 'ev/s', runs: g.map((x) => x.eventsPerS), raw: rawRate, rawLabel,
        ...(isTarget ? { target: { text: '≥ 0.35 × raw', worse: 'lower' as const, check: (worst: number) => worst / mean(rawRate) >= 0.35 } } : {}) }));
      rows.push(row({ workload: W1, cell: `C=${c}`, figure: 'p50 latency', unit: 'ms', runs: g.map((x) => x.latencyMs.p50), raw: rawP50 }));
      rows.push(row({ workload: W1, cell: `C=${c}`, figure: 'p99 latency', unit: 'ms', runs: g.map((x) => x.latencyMs.p99), raw: rawP99,
        ...(isTarget ? { target: { text: '< 15 ms', worse: 'higher' as const, check: (worst: number) => worst < 15 } } : {}) }));
    }
    const l = library[c];
    if (l) {
      rows.push(row({ workload: W2, cell: `C=${c}`, figure: 'events/s', unit: 'ev/s', runs: l.map((x) => x.eventsPerS), raw: rawRate, rawLabel,
        ...(c === 32 ? { target: { text: '≥ 0.5 × raw', worse: 'lower' as const, check: (worst: number) => worst / mean(rawRate) >= 0.5 } } : {}) }));
      rows.push(row({ workload: W2, cell: `C=${c}`, figure: 'p50 latency', unit: 'ms', runs: l.map((x) => x.latencyMs.p50), raw: rawP50 }));
      rows.push(row({ workload: W2, cell: `C=${c}`, figure: 'p99 latency', unit: 'ms', runs: l.map((x) => x.latencyMs.p99), raw: rawP99 }));
    }
  }
  const errors = [...Object.values(graphql), ...Object.values(library), ...Object.values(raw)].flat().filter((x) => x.errors > 0);
  const notes = errors.length ? [`Commands: ${errors.length} cells saw errors, e.g. "${errors[0]!.firstError}"`] : [];
  return { rows, notes, details: { raw, graphql, library } };
}

const mean = (values: readonly number[]) => values.reduce((a, b) => a + b, 0) / values.length;
