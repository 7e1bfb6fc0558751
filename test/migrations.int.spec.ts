import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '../src/db/orm.ts';
import { openTestOrm } from './support/database.ts';

let db: Awaited<ReturnType<typeof openTestOrm>>;
beforeAll(async () => {
  db = await openTestOrm(2);
});
afterAll(async () => db?.close());

describe('the database schema', () => {
  it('the migrations build exactly the schema the MikroORM entities describe', async () => {
    // An entity changed without a migration (or the reverse) shows up here as pending DDL.
    expect(await db.orm.schema.getUpdateSchemaSQL({ wrap: false })).toBe('');
  });

  it('running the migrations again changes nothing', async () => {
    expect(await migrate(db.orm)).toEqual([]);
  });
});
