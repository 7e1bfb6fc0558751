import { migrate, openOrm } from '../../src/db/orm.ts';
import { compose } from '../../src/app/composition.ts';
import { modules } from '../../src/app/modules.ts';
import { createDatabase, createRawEventsTables } from '../lib/db.ts';
import type { LoopResult } from '../lib/loop.ts';
import { row, type Row } from '../lib/report.ts';
import { startApi } from '../lib/server.ts';
import { emmettAppendCell } from '../peers/emmett.ts';
import { ensurePeersInstalled } from '../peers/install.ts';
import { createPostGraphileEventsTable, startPostGraphile } from '../peers/postgraphile.ts';
import {
  graphqlCommandsCell,
  graphqlCounterCell,
  libraryCommandsCell,
  libraryCounterCell,
  postgraphileAppendCell,
  rawAppendCell,
  type Timing,
} from '../workloads/commands.ts';
import type { FamilyContext, FamilyResult } from './context.ts';

const { orm: ormSchema } = compose(modules);

const W1 = '1. Commands over GraphQL';
const W2 = '2. Commands through the library';
const WRAW = '1–2. Raw append limits';

type Cells = Record<number, LoopResult[]>;
type Figure = { name: string; unit: string; of: (x: LoopResult) => number };
const FIGURES: Figure[] = [
  { name: 'events/s', unit: 'ev/s', of: (x) => x.eventsPerS },
  { name: 'p50 latency', unit: 'ms', of: (x) => x.latencyMs.p50 },
  { name: 'p99 latency', unit: 'ms', of: (x) => x.latencyMs.p99 },
];

const CART_NOTE =
  'carts: openCart, addItemToCart to it, addItemToCart to a random cart; an addition does more than an insert ' +
  '(reads the cart, decides, appends, updates the cart read model in the same transaction, answers with the cart)';
const COUNTER_NOTE = 'counters: incrementCounter with expectedVersion, in the append mix (new counter, same again, an older one)';

/**
 * Workloads 1 and 2 on one fresh database, beside their peers (PostGraphile's generated
 * `createEvent` over HTTP for workload 1, Emmett's `appendToStream` as a library for workload 2)
 * and the raw append limits, all in the same run on the same PostgreSQL.
 */
export async function commandsFamily(ctx: FamilyContext): Promise<FamilyResult> {
  const { scale } = ctx;
  const url = await createDatabase(ctx.serverUrl, 'bench_commands');
  const indexes = await createRawEventsTables(url);
  const timing: Timing = { warmupMs: scale.commandWarmupMs, durationMs: scale.commandDurationMs };
  const only = (name: string) => !ctx.only || ctx.only.has('commands') || ctx.only.has(name);
  const twice = async (label: string, cells: Cells, cell: (c: number) => Promise<LoopResult>) => {
    for (let run = 0; run < 2; run++) {
      for (const c of scale.concurrency) {
        ctx.log(`${label} C=${c} run ${run + 1}`);
        (cells[c] ??= []).push(await cell(c));
      }
    }
  };
  /**
   * Two workloads cell by cell, each C of each run: a busy moment of the shared machine (another
   * process's burst lasts seconds) then hits both alike, as with the raw limits below, instead of
   * whichever kind ran all its cells in that window. The second run swaps the order, so neither
   * kind always runs right after the other's heaviest cell (C=32) or first on a cold process.
   */
  const sideBySide = async (kinds: readonly { label: string; cells: Cells; cell: (c: number) => Promise<LoopResult> }[]) => {
    for (let run = 0; run < 2; run++) {
      for (const c of scale.concurrency) {
        for (const kind of run === 0 ? kinds : [...kinds].reverse()) {
          ctx.log(`${kind.label} C=${c} run ${run + 1}`);
          (kind.cells[c] ??= []).push(await kind.cell(c));
        }
      }
    }
  };
  /** Runs a cell against a server child, with the share of a core the child used during it. */
  const withCpu = async (server: { cpuMs(): Promise<number> }, cell: () => Promise<LoopResult>) => {
    const before = await server.cpuMs();
    const result = await cell();
    const cpu = (await server.cpuMs()) - before;
    return { ...result, serverCpuPercent: Math.round((cpu / (timing.warmupMs + timing.durationMs)) * 100) } as LoopResult;
  };

  if (only('postgraphile') || only('emmett')) ensurePeersInstalled(ctx.log);
  const raw: Cells = {};
  const rawIndexed: Cells = {};
  // The two raw limits side by side, cell after cell, so a busy moment of the machine hits both alike.
  await twice('raw append (named; minimal constraints, then the product\'s indexes)', {}, async (c) => {
    (raw[c] ??= []).push(await rawAppendCell(url, 'raw.events_minimal', c, timing));
    const indexed = await rawAppendCell(url, 'raw.events', c, timing);
    (rawIndexed[c] ??= []).push(indexed);
    return indexed;
  });

  const graphqlCarts: Cells = {};
  const graphqlCounters: Cells = {};
  if (only('graphql')) {
    const api = await startApi({ databaseUrl: url, ...ctx.profile('commands-graphql') });
    try {
      await sideBySide([
        { label: 'GraphQL commands (carts)', cells: graphqlCarts, cell: (c) => withCpu(api, () => graphqlCommandsCell(api.url, c, timing)) },
        { label: 'GraphQL commands (counters)', cells: graphqlCounters, cell: (c) => withCpu(api, () => graphqlCounterCell(api.url, c, timing)) },
      ]);
    } finally {
      await api.stop();
    }
  }
  const postgraphile: Cells = {};
  if (only('postgraphile')) {
    await createPostGraphileEventsTable(url);
    const server = await startPostGraphile({ databaseUrl: url, poolSize: ctx.apiPoolSize, ...ctx.profile('commands-postgraphile') });
    try {
      await twice('PostGraphile createEvent', postgraphile, (c) => withCpu(server, () => postgraphileAppendCell(server.url, c, timing)));
    } finally {
      await server.stop();
    }
  }
  const libraryCarts: Cells = {};
  const libraryCounters: Cells = {};
  if (only('library')) {
    const orm = await openOrm({ url, poolSize: ctx.apiPoolSize, ...ormSchema });
    try {
      await migrate(orm);
      await sideBySide([
        { label: 'library commands (carts)', cells: libraryCarts, cell: (c) => libraryCommandsCell(orm, c, timing) },
        { label: 'library commands (counters)', cells: libraryCounters, cell: (c) => libraryCounterCell(orm, c, timing) },
      ]);
    } finally {
      await orm.close();
    }
  }
  const emmett: Cells = {};
  if (only('emmett')) await twice('Emmett appendToStream', emmett, (c) => emmettAppendCell(url, c, timing, ctx.apiPoolSize));

  const rawLabel = 'named guarded INSERT, primary key + 2 unique constraints';
  const indexedLabel = `same INSERT, the product's ${indexes.productIndexes} indexes`;
  const rows: Row[] = [];
  const peer = (label: string, cells: Cells, c: number, figure: Figure) => (cells[c] ? [{ label, runs: cells[c].map(figure.of) }] : []);
  // Judged on the worse run of each: the product's slower run against the peer's slower run.
  const atLeastPeer = (name: string, cells: Cells, c: number) =>
    cells[c] ? { target: { text: `≥ ${name}`, worse: 'lower' as const, check: (worst: number) => worst >= Math.min(...cells[c]!.map((x) => x.eventsPerS)) } } : {};
  const atMostPeerP99 = (name: string, cells: Cells, c: number) =>
    cells[c] ? { target: { text: `≤ ${name}'s p99`, worse: 'higher' as const, check: (worst: number) => worst <= Math.max(...cells[c]!.map((x) => x.latencyMs.p99)) } } : {};

  for (const c of scale.concurrency) {
    const base = (figure: Figure) => ({ unit: figure.unit, raw: raw[c]!.map(figure.of), rawLabel, rawIndexed: { label: indexedLabel, runs: rawIndexed[c]!.map(figure.of) } });
    for (const [cells, kind, note] of [[graphqlCarts, 'carts', CART_NOTE], [graphqlCounters, 'counters', COUNTER_NOTE]] as const) {
      if (!cells[c]) continue;
      for (const figure of FIGURES) {
        rows.push(row({ workload: W1, cell: `C=${c}, ${kind}`, figure: figure.name, runs: cells[c].map(figure.of), ...base(figure),
          peers: peer('PostGraphile createEvent (HTTP)', postgraphile, c, figure),
          ...(figure.name === 'events/s' ? { ...atLeastPeer('PostGraphile', postgraphile, c), note } : figure.name === 'p99 latency' ? atMostPeerP99('PostGraphile', postgraphile, c) : {}) }));
      }
    }
    for (const [cells, kind, note] of [[libraryCarts, 'carts', CART_NOTE], [libraryCounters, 'counters', COUNTER_NOTE]] as const) {
      if (!cells[c]) continue;
      for (const figure of FIGURES) {
        rows.push(row({ workload: W2, cell: `C=${c}, ${kind}`, figure: figure.name, runs: cells[c].map(figure.of), ...base(figure),
          peers: peer('Emmett appendToStream', emmett, c, figure),
          ...(figure.name === 'events/s' ? { ...atLeastPeer('Emmett', emmett, c), note: note.replace(/, answers with the cart/, '') } : {}) }));
      }
    }
    // The raw limit with the product's indexes as a row of its own, beside both peers: what the
    // indexes cost an append, and where the peers stand against the same two limits.
    for (const figure of FIGURES) {
      rows.push(row({ workload: WRAW, cell: `C=${c}`, figure: `${figure.name}, ${indexedLabel}`, unit: figure.unit, runs: rawIndexed[c]!.map(figure.of), raw: raw[c]!.map(figure.of), rawLabel,
        peers: [...peer('PostGraphile createEvent (HTTP)', postgraphile, c, figure), ...peer('Emmett appendToStream', emmett, c, figure)] }));
    }
  }
  const all = { raw, rawIndexed, graphqlCarts, graphqlCounters, postgraphile, libraryCarts, libraryCounters, emmett };
  const errors = Object.entries(all).flatMap(([name, cells]) => Object.values(cells).flat().filter((x) => x.errors > 0).map((x) => ({ name, ...x })));
  const notes = errors.length ? [`Commands: ${errors.length} cells saw errors, e.g. ${errors[0]!.name}: "${errors[0]!.firstError}"`] : [];
  return { rows, notes, details: { indexes, ...all } };
}
