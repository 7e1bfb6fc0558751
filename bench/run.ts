/**
 * `npm run bench`: starts a PostgreSQL (embedded, or DATABASE_URL), runs each workload family on
 * a fresh database after a warm-up, twice per cell, each beside its raw-SQL limit measured in the
 * same run, and writes bench/results/latest.md and latest.json.
 *
 *   npm run bench                      the full suite (under 10 minutes on 2 cores)
 *   npm run bench -- --quick           tiny sizes, for development (about a minute)
 *   npm run bench -- --only=catchup,history   (families or their parts: processor, productsales, …)
 *   npm run bench -- --only=postgraphile,emmett,paging   the peers' cells (and the raw limits beside them)
 *   npm run bench -- --quick --only=snapshots   cold commands on long streams, with and without snapshots
 *   npm run bench -- --quick --only=rabbitmq   the RabbitMQ forwarder beside a bare amqplib client
 *   npm run bench -- --profile         V8 CPU profiles of the API child (and this process) in bench/results/profiles
 *   npm run bench -- --out=name        write bench/results/<name>.md/json instead of latest
 */
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { postgresSettings, startDatabase } from './lib/db.ts';
import { writeReport, type Row } from './lib/report.ts';
import { ROOT } from './lib/server.ts';
import { round } from './lib/stats.ts';
import { commandsFamily } from './families/commands.ts';
import type { FamilyContext, FamilyResult, Scale } from './families/context.ts';
import { logFamily } from './families/log.ts';
import { liveFamily } from './families/live.ts';
import { memoryFamily } from './families/memory.ts';
import { snapshotsFamily } from './families/snapshots.ts';
import { forwardingFamily } from './families/forwarding.ts';
import { rebuildFamily } from './families/rebuild.ts';
import { productSalesFamily } from './families/productSales.ts';

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    profile: { type: 'boolean', default: false },
    out: { type: 'string', default: 'latest' },
  },
});

const FULL: Scale = {
  concurrency: [1, 8, 32],
  commandWarmupMs: 1_500,
  commandDurationMs: 5_000,
  logEvents: 1_000_000,
  smallLogEvents: 10_000,
  eventsPerTransaction: 10,
  historyQueries: 200,
  pagingEvents: 200_000,
  liveSubscribers: 1_000,
  ownStreamSubscribers: 10_000,
  liveRate: 500,
  liveWarmupMs: 2_000,
  liveDurationMs: 8_000,
  idleSubscriptions: 10_000,
  coldCommands: 300,
  forwardEvents: 100_000,
};
const QUICK: Scale = {
  concurrency: [1, 8, 32],
  commandWarmupMs: 300,
  commandDurationMs: 1_000,
  logEvents: 30_000,
  smallLogEvents: 3_000,
  eventsPerTransaction: 10,
  historyQueries: 50,
  pagingEvents: 20_000,
  liveSubscribers: 100,
  ownStreamSubscribers: 200,
  liveRate: 100,
  liveWarmupMs: 500,
  liveDurationMs: 2_000,
  idleSubscriptions: 500,
  coldCommands: 100,
  forwardEvents: 10_000,
};

const FAMILIES: { name: string; parts: string[]; run: (ctx: FamilyContext) => Promise<FamilyResult> }[] = [
  { name: 'commands', parts: ['graphql', 'postgraphile', 'library', 'emmett'], run: commandsFamily },
  { name: 'log', parts: ['catchup', 'history', 'paging', 'processor'], run: logFamily },
  { name: 'productsales', parts: [], run: productSalesFamily },
  { name: 'live', parts: [], run: liveFamily },
  { name: 'memory', parts: [], run: memoryFamily },
  { name: 'snapshots', parts: [], run: snapshotsFamily },
  { name: 'forwarding', parts: ['rabbitmq'], run: forwardingFamily },
  { name: 'rebuild', parts: [], run: rebuildFamily },
];

async function main(): Promise<void> {
  const started = Date.now();
  const git = gitState();
  const scale = args.quick ? QUICK : FULL;
  const only = args.only ? new Set(args.only.split(',').map((s) => s.trim()).filter(Boolean)) : undefined;
  const profileDir = path.join(ROOT, 'bench/results/profiles');
  const log = (message: string) => process.stderr.write(`[bench ${((Date.now() - started) / 1000).toFixed(0).padStart(4)} s] ${message}\n`);
  const loadAverageAtStart = os.loadavg().map((v) => round(v, 2));
  // The machine may be shared: sample the 1-minute load average through the run.
  const loadSamples: number[] = [];
  const loadTimer = setInterval(() => loadSamples.push(os.loadavg()[0]!), 10_000);
  loadTimer.unref();

  log(`starting PostgreSQL (${process.env.DATABASE_URL ? 'DATABASE_URL' : 'embedded'})`);
  const database = await startDatabase();
  const rows: Row[] = [];
  const notes: string[] = [];
  const details: Record<string, unknown> = {};
  const apiPoolSize = Number(process.env.DB_POOL_SIZE ?? 10);
  let settings: Record<string, string> = {};
  try {
    settings = await postgresSettings(database.url);
    const ctx: FamilyContext = {
      serverUrl: database.url,
      scale,
      apiPoolSize,
      only,
      profile: (name) => (args.profile ? { profileDir, profileName: `${name}.cpuprofile` } : {}),
      log,
    };
    for (const family of FAMILIES) {
      if (only && !only.has(family.name) && !family.parts.some((part) => only.has(part))) continue;
      log(`— ${family.name} —`);
      const familyStarted = Date.now();
      try {
        const result = await family.run(ctx);
        rows.push(...result.rows);
        notes.push(...result.notes);
        details[family.name] = { ...result.details, wallClockS: round((Date.now() - familyStarted) / 1000, 1) };
      } catch (error) {
        log(`${family.name} failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
        notes.push(`The ${family.name} workloads failed: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
  } finally {
    await database.stop();
  }

  clearInterval(loadTimer);
  const cpus = os.cpus();
  const loadDuringRun = loadSamples.length
    ? { mean: round(loadSamples.reduce((a, b) => a + b, 0) / loadSamples.length, 2), max: round(Math.max(...loadSamples), 2), samples: loadSamples.length }
    : undefined;
  if (loadDuringRun && loadDuringRun.mean > cpus.length * 0.75) {
    notes.unshift(`The machine was saturated during this run: 1-minute load average ${loadDuringRun.mean} on average and ${loadDuringRun.max} at most on ${cpus.length} cores (sampled every 10 s). Part of that is the benchmark's own processes (API, PostgreSQL, load generators); anything else running on the machine adds to it. Expect wide run-to-run spreads and pessimistic latencies.`);
  }
  const meta = {
    startedAt: new Date(started).toISOString(),
    mode: args.quick ? 'quick' : 'full',
    wallClockS: round((Date.now() - started) / 1000, 1),
    scale,
    machine: {
      cpuModel: cpus[0]?.model ?? 'unknown',
      cores: cpus.length,
      memoryGiB: round(os.totalmem() / 2 ** 30, 1),
      os: `${os.type()} ${os.release()} ${os.arch()}`,
      loadAverageAtStart,
      loadAverageAtEnd: os.loadavg().map((v) => round(v, 2)),
      loadDuringRun,
    },
    git,
    node: process.version,
    postgres: { version: settings.server_version ?? 'unknown', source: database.source, settings },
    api: { dbPoolSize: apiPoolSize, process: 'node src/main.ts (child process), HOST=127.0.0.1, LOG_LEVEL=warn' },
  };
  await writeReport(path.join(ROOT, 'bench/results'), { meta, rows, notes, details }, args.out);
  log(`wrote bench/results/${args.out}.md and .json (${meta.wallClockS} s)`);
  const misses = rows.filter((r) => r.pass === false);
  for (const miss of misses) log(`MISS ${miss.workload} ${miss.cell} ${miss.figure}: ${miss.runs.join(' / ')} ${miss.unit} (target ${miss.target})`);
}

/** Which code was measured: the commit, and the source files that differed from it. */
function gitState(): { commit: string; uncommitted: string[] } | undefined {
  try {
    const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
    const status = execFileSync('git', ['status', '--porcelain', '--', 'src', 'migrations', 'package.json'], { cwd: ROOT, encoding: 'utf8' });
    return { commit, uncommitted: status.split('\n').filter(Boolean).map((line) => line.slice(3)) };
  } catch {
    return undefined;
  }
}

main().catch((error) => {
  process.stderr.write(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
