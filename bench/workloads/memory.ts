import { spawn } from 'node:child_process';
import { startLoadProcess } from '../lib/child.ts';
import { GraphQLHttpClient } from '../lib/http.ts';
import { processRss, ROOT, stopChild } from '../lib/server.ts';
import { sleep } from '../lib/stats.ts';
import { mixedFilters } from './live.ts';

export type MemoryResult = { subscriptions: number; failed: number; rssBeforeMiB: number; rssAfterMiB: number; bytesPerSubscription: number; firstError?: string };

/** RSS settles in steps as V8 grows and collects; take the median of a few samples a moment apart. */
export async function settledRss(pid: number): Promise<number> {
  await sleep(2000);
  const samples: number[] = [];
  for (let i = 0; i < 5; i++) {
    samples.push(await processRss(pid));
    await sleep(300);
  }
  return samples.sort((a, b) => a - b)[2]!;
}

/**
 * Workload 5: the server's resident memory before and after `count` idle subscriptions open (one
 * WebSocket connection each, filters mixed, held by another process). Before the baseline the
 * server serves a few queries and a few hundred subscriptions come and go, so code paths and
 * pools are warm and the difference is what the subscriptions themselves hold.
 */
export async function idleSubscriptionsCell(target: { pid: number; wsUrl: string; httpUrl?: string }, count: number): Promise<MemoryResult> {
  if (target.httpUrl) {
    const http = new GraphQLHttpClient(target.httpUrl, 1);
    for (let i = 0; i < 20; i++) await http.request('{ events(first: 10) { edges { node { eventId } } } }');
    http.close();
  }
  const warm = await startLoadProcess('bench/clients/subscribers.ts', { wsUrl: target.wsUrl });
  await warm.ask({ type: 'open', subscribers: mixedFilters(300, streams(300)) }, 'opened', 120_000);
  await sleep(500);
  await warm.ask({ type: 'close' }, 'closed', 60_000);
  await warm.stop();

  const before = await settledRss(target.pid);
  const load = await startLoadProcess('bench/clients/subscribers.ts', { wsUrl: target.wsUrl });
  try {
    const opened = await load.ask<{ opened: number; failed: number; firstError?: string }>({ type: 'open', subscribers: mixedFilters(count, streams(count)) }, 'opened', 600_000);
    const after = await settledRss(target.pid);
    await load.ask({ type: 'close' }, 'closed', 120_000);
    return {
      subscriptions: opened.opened,
      failed: opened.failed,
      rssBeforeMiB: Math.round((before / 2 ** 20) * 10) / 10,
      rssAfterMiB: Math.round((after / 2 ** 20) * 10) / 10,
      bytesPerSubscription: Math.round((after - before) / Math.max(1, opened.opened)),
      ...(opened.firstError ? { firstError: opened.firstError } : {}),
    };
  } finally {
    await load.stop();
  }
}

const streams = (count: number) => Array.from({ length: Math.max(1, Math.floor(count / 3)) }, (_, i) => `idle-cart-${i}`);

/** The bare-ws floor server as a child process. */
export async function startBareWsServer(): Promise<{ pid: number; wsUrl: string; stop(): Promise<void> }> {
  const child = spawn(process.execPath, ['bench/clients/bareWsServer.ts'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
      const match = /listening (\d+)/.exec(out);
      if (match) resolve(Number(match[1]));
    });
    child.once('exit', (code) => reject(new Error(`bare ws server exited with ${code}`)));
  });
  return { pid: child.pid!, wsUrl: `ws://127.0.0.1:${port}/graphql`, stop: () => stopChild(child, 5000) };
}
