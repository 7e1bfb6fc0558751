/**
 * Where the CPU of a GraphQL command goes, per event: the API process, PostgreSQL's processes and
 * this load generator, for the product's `incrementCounter` and PostGraphile's `createEvent` side
 * by side, with how busy the machine was. The bench's cells give rates; this says which process
 * pays for them, which is what decides whether another core (node:cluster) would help.
 *
 *   node_modules/.bin/node bench/cpuPerEvent.ts                 # C = 1 and 32, both systems
 *   node_modules/.bin/node bench/cpuPerEvent.ts --c=8,32 --instances=2   # the product as two API processes, clients split
 *
 * PostgreSQL is DATABASE_URL's server, else an embedded one as `npm run bench` starts it; its
 * processes are found by name (`postgres`), so run nothing else on that server meanwhile.
 */
import { execSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { createDatabase, startDatabase } from './lib/db.ts';
import { GraphQLHttpClient } from './lib/http.ts';
import { closedLoop, type LoopResult } from './lib/loop.ts';
import { startApi } from './lib/server.ts';
import { createPostGraphileEventsTable, startPostGraphile } from './peers/postgraphile.ts';
import { ensurePeersInstalled } from './peers/install.ts';
import { appendMix } from './workloads/appendMix.ts';
import { postgraphileAppendCell } from './workloads/commands.ts';

const { values: args } = parseArgs({ options: { c: { type: 'string', default: '1,32' }, instances: { type: 'string', default: '1' }, ms: { type: 'string', default: '4000' } } });
const concurrencies = args.c.split(',').map(Number);
const instances = Number(args.instances);
const timing = { warmupMs: 1_000, durationMs: Number(args.ms) };

const INCREMENT = `mutation Increment($input: IncrementCounterInput!) {
  incrementCounter(input: $input) { __typename ... on IncrementCounterSuccess { position counter { counterId value version } } ... on Error { message } }
}`;

/** CPU ms (user + system) of a process, from /proc. */
function processCpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}
const postgresCpuMs = () =>
  execSync('pgrep -x postgres || true').toString().split('\n').filter(Boolean).reduce((sum, pid) => {
    try {
      return sum + processCpuMs(Number(pid));
    } catch {
      return sum; // a backend that ended meanwhile
    }
  }, 0);
/** The machine's busy and total CPU ms so far, from /proc/stat. */
function machineMs(): { busy: number; total: number } {
  const [user, nice, system, idle, iowait, irq, softirq, steal] = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.split(/\s+/).slice(1).map(Number) as number[];
  return { busy: (user! + nice! + system! + irq! + softirq!) * 10, total: (user! + nice! + system! + idle! + iowait! + irq! + softirq! + steal!) * 10 };
}

async function measured(label: string, serverPids: number[], cell: () => Promise<LoopResult>): Promise<void> {
  const before = { api: serverPids.reduce((s, pid) => s + processCpuMs(pid), 0), pg: postgresCpuMs(), self: process.cpuUsage(), machine: machineMs() };
  const result = await cell();
  const api = serverPids.reduce((s, pid) => s + processCpuMs(pid), 0) - before.api;
  const pg = postgresCpuMs() - before.pg;
  const self = process.cpuUsage(before.self);
  const machine = machineMs();
  // Both windows, warm-up included: the CPU counters cannot tell them apart.
  const events = (result.eventsPerS * (timing.warmupMs + timing.durationMs)) / 1000;
  const perEvent = (ms: number) => (ms / events).toFixed(3);
  console.log(
    `${label} C=${result.concurrency}: ${Math.round(result.eventsPerS)} ev/s, p50 ${result.latencyMs.p50.toFixed(2)} p99 ${result.latencyMs.p99.toFixed(2)} ms, ${result.errors} errors; ` +
      `CPU per event: API ${perEvent(api)} ms, PostgreSQL ${perEvent(pg)} ms, load generator ${perEvent((self.user + self.system) / 1000)} ms; ` +
      `machine ${Math.round((100 * (machine.busy - before.machine.busy)) / (machine.total - before.machine.total))} % busy`,
  );
}

const database = await startDatabase();
try {
  const url = await createDatabase(database.url, `cpu_per_event_${Date.now()}`);
  const apis = await Promise.all(Array.from({ length: instances }, () => startApi({ databaseUrl: url })));
  try {
    for (const c of concurrencies) {
      const clients = apis.map((api) => new GraphQLHttpClient(api.url, c));
      const mix = appendMix('counter', async (stream, _first, client) => {
        const response = await clients[client % clients.length]!.request(INCREMENT, { input: { counterId: stream.id, amount: 1, expectedVersion: stream.version } });
        if (!String(response.data?.incrementCounter?.__typename).endsWith('Success')) throw new Error(`incrementCounter failed: ${JSON.stringify(response)}`);
      });
      await measured(`product (${instances} API process${instances > 1 ? 'es' : ''})`, apis.map((api) => api.pid), () => closedLoop({ ...timing, concurrency: c, client: mix }));
      clients.forEach((client) => client.close());
    }
  } finally {
    await Promise.all(apis.map((api) => api.stop()));
  }
  ensurePeersInstalled();
  await createPostGraphileEventsTable(url);
  const postgraphile = await startPostGraphile({ databaseUrl: url, poolSize: 10 });
  try {
    for (const c of concurrencies) await measured('PostGraphile', [postgraphile.pid], () => postgraphileAppendCell(postgraphile.url, c, timing));
  } finally {
    await postgraphile.stop();
  }
} finally {
  await database.stop();
}
