import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { inject } from 'vitest';
import { migrate, openOrm, type Orm } from '../../src/db/orm.ts';
import { compose } from '../../src/app/composition.ts';
import { modules } from '../../src/app/modules.ts';
import type { ModuleDefinition } from '../../src/modules/moduleDefinition.ts';

const { orm: ormSchema } = compose(modules);

/** A fresh, migrated database of its own for one spec file; dropped again by `drop`. */
export type TestDatabase = { readonly url: string; readonly name: string; drop(): Promise<void> };

/**
 * The PostgreSQL cluster of the worker running this spec file: no other spec file runs on it
 * meanwhile, so nothing but this file's own transactions holds back what the log shows.
 */
export function clusterUrl(): URL {
  const urls = inject('databaseUrls');
  const slot = Number(process.env.VITEST_POOL_ID);
  const url = urls[slot - 1];
  if (!url) throw new Error(`no PostgreSQL cluster for worker slot ${process.env.VITEST_POOL_ID} (there are ${urls.length})`);
  return new URL(url);
}

/**
 * Migrated for the app's modules unless `modules` says which (an empty list: the event store alone),
 * or not at all when `empty` (for a restore to fill); on the worker's cluster unless `serverUrl`
 * names another (one a spec started itself, or the machine's).
 */
export async function createTestDatabase(options: { modules?: readonly ModuleDefinition[]; serverUrl?: string; empty?: boolean } = {}): Promise<TestDatabase> {
  const serverUrl = options.serverUrl ? new URL(options.serverUrl) : clusterUrl();
  const name = `test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: serverUrl.toString() });
  await admin.connect();
  try {
    await admin.query(`create database ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  if (!options.empty) {
    const schema = options.modules ? compose(options.modules).orm : ormSchema;
    const migrator = await openOrm({ url: url.toString(), poolSize: 1, ...schema });
    await migrate(migrator);
    await migrator.close();
  }
  return {
    url: url.toString(),
    name,
    drop: async () => {
      const client = new pg.Client({ connectionString: serverUrl.toString() });
      await client.connect();
      try {
        await client.query(`drop database if exists ${name} with (force)`);
      } finally {
        await client.end();
      }
    },
  };
}

/** An ORM on a fresh test database. */
export async function openTestOrm(poolSize = 10): Promise<{ orm: Orm; database: TestDatabase; close(): Promise<void> }> {
  const database = await createTestDatabase();
  const orm = await openOrm({ url: database.url, poolSize, ...ormSchema });
  return {
    orm,
    database,
    close: async () => {
      await orm.close();
      await database.drop();
    },
  };
}

/** Ends the API's LISTEN connection to a database, as a PostgreSQL restart or a network cut would. */
export async function terminateFeedConnection(databaseUrl: string): Promise<void> {
  const admin = new pg.Client({ connectionString: databaseUrl });
  await admin.connect();
  try {
    await admin.query(`select pg_terminate_backend(pid) from pg_stat_activity where application_name = 'event-feed' and datname = current_database()`);
  } finally {
    await admin.end();
  }
}
