import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { inject } from 'vitest';
import { migrate, openOrm, type Orm } from '../../src/db/orm.ts';
import { entities } from '../../src/app/modules.ts';

/** A fresh, migrated database of its own for one spec file; dropped again by `drop`. */
export type TestDatabase = { readonly url: string; readonly name: string; drop(): Promise<void> };

export async function createTestDatabase(): Promise<TestDatabase> {
  const serverUrl = new URL(inject('databaseUrl'));
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
  const migrator = await openOrm({ url: url.toString(), poolSize: 1, entities });
  await migrate(migrator);
  await migrator.close();
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
  const orm = await openOrm({ url: database.url, poolSize, entities });
  return {
    orm,
    database,
    close: async () => {
      await orm.close();
      await database.drop();
    },
  };
}
