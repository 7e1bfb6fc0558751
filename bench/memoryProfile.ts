/**
 * What holds memory per idle subscription: heap snapshots of the API before and after `count` idle
 * subscriptions open, as the memory cell opens them (warm-up first, filters mixed, one socket
 * each), written to `outDir` as before.heapsnapshot and after.heapsnapshot. Compare them with
 * bench/heapSummary.ts. The RSS it prints is inflated by the snapshots themselves: the memory cell
 * (`npm run bench -- --only=memory`) is the figure.
 *
 *   node bench/memoryProfile.ts [count=10000] [outDir=/tmp/memprof]
 *   node --max-old-space-size=4000 bench/heapSummary.ts /tmp/memprof/before.heapsnapshot /tmp/memprof/after.heapsnapshot --per=10000
 */
import { mkdir, readdir, rename, stat } from 'node:fs/promises';
import path from 'node:path';
import { startLoadProcess } from './lib/child.ts';
import { createDatabase, startDatabase } from './lib/db.ts';
import { GraphQLHttpClient } from './lib/http.ts';
import { startApi } from './lib/server.ts';
import { sleep } from './lib/stats.ts';
import { mixedFilters } from './workloads/live.ts';
import { settledRss } from './workloads/memory.ts';

const count = Number(process.argv[2] ?? 10_000);
const outDir = path.resolve(process.argv[3] ?? '/tmp/memprof');
const streams = (n: number) => Array.from({ length: Math.max(1, Math.floor(n / 3)) }, (_, i) => `idle-cart-${i}`);

/** Signals the API to write a heap snapshot and waits until the file has stopped growing. */
async function snapshot(pid: number, name: string): Promise<void> {
  const existing = new Set(await readdir(outDir));
  process.kill(pid, 'SIGUSR2');
  let file: string | undefined;
  while (!file) {
    await sleep(500);
    const fresh = (await readdir(outDir)).find((f) => !existing.has(f) && f.endsWith('.heapsnapshot'));
    if (fresh) file = path.join(outDir, fresh);
  }
  for (let last = -1; ; ) {
    await sleep(1000);
    const { size } = await stat(file);
    if (size > 0 && size === last) break;
    last = size;
  }
  await rename(file, path.join(outDir, `${name}.heapsnapshot`));
}

await mkdir(outDir, { recursive: true });
const database = await startDatabase();
try {
  const url = await createDatabase(database.url, 'bench_memory_profile');
  const api = await startApi({ databaseUrl: url, execArgv: ['--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${outDir}`] });
  try {
    const http = new GraphQLHttpClient(api.url, 1);
    for (let i = 0; i < 20; i++) await http.request('{ events(first: 10) { edges { node { eventId } } } }');
    http.close();
    const warm = await startLoadProcess('bench/clients/subscribers.ts', { wsUrl: api.wsUrl });
    await warm.ask({ type: 'open', subscribers: mixedFilters(300, streams(300)) }, 'opened', 120_000);
    await sleep(500);
    await warm.ask({ type: 'close' }, 'closed', 60_000);
    await warm.stop();

    await snapshot(api.pid, 'before');
    const before = await settledRss(api.pid);
    const load = await startLoadProcess('bench/clients/subscribers.ts', { wsUrl: api.wsUrl });
    try {
      const opened = await load.ask<{ opened: number; failed: number }>({ type: 'open', subscribers: mixedFilters(count, streams(count)) }, 'opened', 600_000);
      const after = await settledRss(api.pid);
      console.log(JSON.stringify({ ...opened, rssBeforeMiB: before / 2 ** 20, rssAfterMiB: after / 2 ** 20, bytesPerSubscription: Math.round((after - before) / Math.max(1, opened.opened)) }));
      await snapshot(api.pid, 'after');
      await load.ask({ type: 'close' }, 'closed', 120_000);
    } finally {
      await load.stop();
    }
  } finally {
    await api.stop();
  }
} finally {
  await database.stop();
}
