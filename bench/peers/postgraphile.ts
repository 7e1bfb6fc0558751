import { spawn } from 'node:child_process';
import path from 'node:path';
import { withClient } from '../lib/db.ts';
import { processCpuMs, ROOT, stopChild } from '../lib/server.ts';
import { ensurePeersInstalled, PEERS_DIR } from './install.ts';

/** The schema PostGraphile serves: one plain events table and nothing else. */
export const POSTGRAPHILE_SCHEMA = 'peer_postgraphile';

/**
 * The table a PostGraphile user would make for an event log: the product's columns without the
 * commit-order bookkeeping (no transaction id), the primary key, and the two unique constraints
 * that make it correct: one event id once, and one event per stream version, which is what turns
 * "insert version n + 1" into an append with an expected version (a concurrent writer's insert
 * of the same version fails on the constraint).
 */
export async function createPostGraphileEventsTable(url: string): Promise<void> {
  await withClient(url, async (client) => {
    await client.query(`drop schema if exists ${POSTGRAPHILE_SCHEMA} cascade`);
    await client.query(`create schema ${POSTGRAPHILE_SCHEMA}`);
    await client.query(`
      create table ${POSTGRAPHILE_SCHEMA}.events (
        global_position bigint generated always as identity primary key,
        event_id uuid not null,
        stream_id text not null,
        stream_type text not null,
        stream_version integer not null check (stream_version > 0),
        event_type text not null,
        data jsonb not null,
        metadata jsonb not null default '{}'::jsonb,
        recorded_at timestamptz not null default now(),
        constraint events_event_id_unique unique (event_id),
        constraint events_stream_version_unique unique (stream_id, stream_version)
      )`);
  });
}

/** Copies the first `count` events of the product's log into PostGraphile's table, so both page the same rows. */
export async function copyEventsForPostGraphile(url: string, count: number): Promise<void> {
  await withClient(url, async (client) => {
    await client.query(`
      insert into ${POSTGRAPHILE_SCHEMA}.events (event_id, stream_id, stream_type, stream_version, event_type, data, metadata, recorded_at)
      select event_id, stream_id, stream_type, stream_version, event_type, data, metadata, recorded_at
      from public.events order by global_position limit $1`, [count]);
    await client.query(`vacuum (analyze) ${POSTGRAPHILE_SCHEMA}.events`);
  });
}

export type PeerServer = { readonly url: string; readonly pid: number; cpuMs(): Promise<number>; stop(): Promise<void> };

/** PostGraphile in a child process of its own, like the product's API, on loopback. */
export async function startPostGraphile(options: { databaseUrl: string; poolSize: number; profileDir?: string; profileName?: string }): Promise<PeerServer> {
  ensurePeersInstalled();
  const execArgv = options.profileDir ? ['--cpu-prof', '--cpu-prof-dir', options.profileDir, ...(options.profileName ? ['--cpu-prof-name', options.profileName] : [])] : [];
  const argument = JSON.stringify({ databaseUrl: options.databaseUrl, schema: POSTGRAPHILE_SCHEMA, poolSize: options.poolSize });
  const child = spawn(process.execPath, [...execArgv, path.join(PEERS_DIR, 'postgraphileServer.ts'), argument], {
    cwd: ROOT,
    // Deployed as its docs say to deploy it: production mode (no development-only checks).
    env: { ...process.env, NODE_ENV: 'production', GRAPHILE_ENV: 'production' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const stderr: string[] = [];
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    stderr.push(chunk);
    if (stderr.length > 200) stderr.shift();
    if (process.env.BENCH_VERBOSE) process.stderr.write(`[postgraphile] ${chunk}`);
  });
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`PostGraphile did not start in 60 s:\n${stderr.join('')}`)), 60_000);
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
      const match = /PostGraphile:\s+(http:\/\/\S+)/.exec(out);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`PostGraphile exited with ${code} before it was ready:\n${stderr.join('')}`));
    });
  });
  child.stdout!.resume();
  const pid = child.pid!;
  return { url, pid, cpuMs: () => processCpuMs(pid), stop: () => stopChild(child, 10_000) };
}
