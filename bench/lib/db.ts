import { chmod, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { startEmbeddedPostgres } from '../../src/db/embeddedPostgres.ts';
import { migrate, openOrm } from '../../src/db/orm.ts';
import { compose } from '../../src/app/composition.ts';
import { modules } from '../../src/app/modules.ts';
import { LOG_START, type LogPosition } from '../../src/eventStore/log/position.ts';

const { orm: ormSchema } = compose(modules);

export type BenchDatabase = {
  /** Server-level URL (the `postgres` database or whatever DATABASE_URL names). */
  readonly url: string;
  readonly source: 'embedded' | 'DATABASE_URL';
  stop(): Promise<void>;
};

/**
 * The PostgreSQL the run measures: DATABASE_URL when set, else an embedded server in a temp dir,
 * started exactly as `npm start` starts it (no extra settings: durable commits, fsync on).
 */
export async function startDatabase(): Promise<BenchDatabase> {
  if (process.env.DATABASE_URL) {
    return { url: process.env.DATABASE_URL, source: 'DATABASE_URL', stop: async () => undefined };
  }
  const dir = await mkdtemp(path.join(os.tmpdir(), 'es-graphql-bench-'));
  // As root, PostgreSQL runs as the `postgres` OS user, which must be able to enter this directory.
  await chmod(dir, 0o755);
  const embedded = await startEmbeddedPostgres({ dataDir: path.join(dir, 'pg'), persistent: false });
  return {
    url: embedded.url,
    source: 'embedded',
    stop: async () => {
      await embedded.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export function databaseUrl(serverUrl: string, name: string): string {
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

export async function withClient<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, application_name: 'bench' });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** A fresh database for one workload family, migrated as the app migrates it. */
export async function createDatabase(serverUrl: string, name: string): Promise<string> {
  await withClient(serverUrl, async (client) => {
    await client.query(`drop database if exists ${name} with (force)`);
    await client.query(`create database ${name}`);
  });
  const url = databaseUrl(serverUrl, name);
  const orm = await openOrm({ url, poolSize: 1, ...ormSchema });
  try {
    await migrate(orm);
  } finally {
    await orm.close();
  }
  return url;
}

export async function dropDatabase(serverUrl: string, name: string): Promise<void> {
  await withClient(serverUrl, (client) => client.query(`drop database if exists ${name} with (force)`));
}

/**
 * `raw.events`: a copy of `events` with the same columns, defaults, constraints and indexes, for
 * the raw-SQL limits, so they do the same work on a table of their own.
 */
export async function createRawEventsTable(url: string): Promise<void> {
  await withClient(url, async (client) => {
    await client.query('create schema if not exists raw');
    await client.query('drop table if exists raw.events');
    await client.query('create table raw.events (like public.events including all)');
  });
}

/**
 * The two tables the append limits write to: `raw.events`, the product's own (a copy of `events`
 * with every index, as above), and `raw.events_minimal`, the same columns with only what
 * correctness needs: the primary key, one event id once, one event per stream version (which
 * also serves the guard's max(stream_version) lookup). The difference between the two rows is
 * what the product's other indexes cost an append. Returns how many indexes each has.
 */
export async function createRawEventsTables(url: string): Promise<{ minimalIndexes: number; productIndexes: number }> {
  await createRawEventsTable(url);
  return withClient(url, async (client) => {
    await client.query('drop table if exists raw.events_minimal');
    await client.query('create table raw.events_minimal (like public.events including defaults including identity including constraints)');
    await client.query(`alter table raw.events_minimal
      add primary key (global_position),
      add constraint events_minimal_event_id_unique unique (event_id),
      add constraint events_minimal_stream_version_unique unique (stream_id, stream_version)`);
    const { rows } = await client.query<{ table: string; count: number }>(
      `select tablename as table, count(*)::int as count from pg_indexes where schemaname = 'raw' and tablename in ('events', 'events_minimal') group by tablename`);
    const count = (table: string) => rows.find((r) => r.table === table)?.count ?? 0;
    return { minimalIndexes: count('events_minimal'), productIndexes: count('events') };
  });
}

/** The settings that decide the figures, as the server reports them. */
export async function postgresSettings(url: string): Promise<Record<string, string>> {
  return withClient(url, async (client) => {
    const names = ['server_version', 'shared_buffers', 'synchronous_commit', 'fsync', 'full_page_writes', 'wal_sync_method', 'max_connections', 'work_mem', 'effective_io_concurrency', 'commit_delay', 'wal_level', 'max_wal_size', 'jit'];
    const { rows } = await client.query<{ name: string; setting: string }>(
      `select name, current_setting(name) as setting from pg_settings where name = any($1::text[])`, [names]);
    return Object.fromEntries(rows.map((r) => [r.name, r.setting]));
  });
}

/**
 * Waits until every processor's checkpoint is at the log's last event: an API started on a
 * preloaded log first runs its processors over all of it (product sales reads every checkout's
 * cart), in the same process that then serves the measured requests. On a loaded machine that
 * catch-up outlasted the paging cell's first run and tripled its CPU time per page.
 */
export async function waitForProcessorsAtHead(url: string, timeoutMs = 600_000): Promise<{ seconds: number }> {
  const started = Date.now();
  return withClient(url, async (client) => {
    for (;;) {
      const { rows } = await client.query<{ processors: number; behind: number }>(`
        select count(*)::int as processors,
               count(*) filter (where (c.transaction_id, c.global_position) < (h.transaction_id, h.global_position))::int as behind
        from processor_checkpoints c
        cross join (select transaction_id, global_position from events order by transaction_id desc, global_position desc limit 1) h`);
      const { processors, behind } = rows[0]!;
      if (processors > 0 && behind === 0) return { seconds: (Date.now() - started) / 1000 };
      if (Date.now() - started > timeoutMs) throw new Error(`processors still behind the log head after ${timeoutMs / 1000} s (${behind} of ${processors})`);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  });
}

/** The newest event every reader may see now (below the oldest running transaction), as a log position. */
export async function logHead(url: string): Promise<LogPosition> {
  return withClient(url, async (client) => {
    const { rows } = await client.query<{ t: string; g: string }>(
      `select transaction_id::text as t, global_position::text as g from events
       where transaction_id < pg_snapshot_xmin(pg_current_snapshot()) order by transaction_id desc, global_position desc limit 1`);
    return rows[0] ? { transactionId: BigInt(rows[0].t), globalPosition: BigInt(rows[0].g) } : LOG_START;
  });
}
