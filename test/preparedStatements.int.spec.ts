import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { uuidv7Generator } from '../src/core/ids.ts';
import { query } from '../src/db/sql.ts';
import { appendToStream } from '../src/eventStore/log/append.ts';
import { readStream } from '../src/eventStore/log/read.ts';
import { openTestOrm } from './support/database.ts';
import { appUpcasters } from './support/commands.ts';

let db: Awaited<ReturnType<typeof openTestOrm>>;
beforeAll(async () => {
  db = await openTestOrm(2);
});
afterAll(async () => db?.close());

const preparedOnThisConnection = async (em: Parameters<typeof query>[0]) =>
  (await query<{ statement: string }>(em, `select statement from pg_prepared_statements where name like 'es\\_%'`)).map((row) => row.statement);

const event = () => ({ id: uuidv7Generator.uuid(), type: 'Prepared', data: {}, metadata: {} });

describe('named prepared statements', () => {
  it('an append inside a transaction runs as a prepared statement on that transaction’s connection', async () => {
    const statements = await db.orm.em.fork().transactional(async (tx) => {
      await appendToStream(tx, { streamId: 'prepared-1', streamType: 'Prepared', expectedVersion: 0, recordedAt: new Date(), events: [event()] });
      return await preparedOnThisConnection(tx);
    });
    expect(statements.some((text) => text.includes('insert into events'))).toBe(true);
  });

  it('a rolled-back transaction leaves its prepared statements usable on the connection', async () => {
    // One connection in the pool, so every step below runs on the same session.
    const single = await openTestOrm(1);
    try {
      const em = single.orm.em.fork();
      await expect(
        em.transactional(async (tx) => {
          await readStream(tx, appUpcasters, 'prepared-2');
          throw new Error('roll back');
        }),
      ).rejects.toThrow('roll back');
      await appendToStream(em, { streamId: 'prepared-2', streamType: 'Prepared', expectedVersion: 0, recordedAt: new Date(), events: [event()] });
      expect((await readStream(em, appUpcasters, 'prepared-2')).map((e) => e.version)).toEqual([1]);
      expect((await preparedOnThisConnection(em)).some((text) => text.includes('from events'))).toBe(true);
    } finally {
      await single.close();
    }
  });
});
