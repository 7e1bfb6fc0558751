import { chmod, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { startEmbeddedPostgres, type RunningPostgres } from '../../src/db/embeddedPostgres.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Server-level URL; each spec file creates its own database on it. */
    databaseUrl: string;
  }
}

let embedded: RunningPostgres | undefined;
let dataDir: string | undefined;

/** One PostgreSQL for the whole run: `DATABASE_URL` when set, else an embedded throwaway server. */
export async function setup(project: TestProject): Promise<void> {
  if (process.env.DATABASE_URL) {
    project.provide('databaseUrl', process.env.DATABASE_URL);
    return;
  }
  dataDir = await mkdtemp(path.join(os.tmpdir(), 'es-graphql-test-'));
  // As root, PostgreSQL runs as the `postgres` OS user, which must be able to enter this directory.
  await chmod(dataDir, 0o755);
  embedded = await startEmbeddedPostgres({ dataDir: path.join(dataDir, 'pg'), persistent: false, postgresFlags: ['-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off'] });
  project.provide('databaseUrl', embedded.url);
}

export async function teardown(): Promise<void> {
  await embedded?.stop();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
}
