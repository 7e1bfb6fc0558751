import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../src/core/logger.ts';
import { CommitNotifier } from '../src/eventStore/feed/commitNotifier.ts';
import { EVENTS_CHANNEL } from '../src/eventStore/log/append.ts';
import { query } from '../src/db/sql.ts';
import { LogFeed } from '../src/eventStore/feed/feed.ts';
import { appendToStream } from '../src/eventStore/log/append.ts';
import { comparePositions } from '../src/eventStore/log/position.ts';
import type { RecordedEvent } from '../src/core/message.ts';
import { appUpcasters } from './support/commands.ts';
import { openTestOrm } from './support/database.ts';
import { until } from './support/until.ts';

let db: Awaited<ReturnType<typeof openTestOrm>>;
let listener: pg.Client;
let notifications = 0;
beforeAll(async () => {
  // A pool of one, so one open transaction holds all of it.
  db = await openTestOrm(1);
  listener = new pg.Client({ connectionString: db.database.url });
  await listener.connect();
  listener.on('notification', () => notifications++);
  await listener.query(`LISTEN ${EVENTS_CHANNEL}`);
});
afterAll(async () => {
  await listener?.end();
  await db?.close();
});

describe('the commit notifier', () => {
  it('with a connection of its own, wakes other processes while every pooled connection is busy, and falls back to the pool when that connection is gone', async () => {
    const notifier = new CommitNotifier({ em: db.orm.em, logger: silentLogger, databaseUrl: db.database.url });
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let holding!: () => void;
    const poolHeld = new Promise<void>((resolve) => (holding = resolve));
    const busy = db.orm.em.fork().transactional(async (tx) => {
      await query(tx, 'select 1');
      holding();
      await held;
    });
    await poolHeld;
    const before = notifications;
    notifier.committed();
    await until(async () => notifications > before, 'a NOTIFY while the pool is held');
    release();
    await busy;

    // Its own connection killed: the next NOTIFY goes through the pool, the one after reconnects.
    await listener.query(`select pg_terminate_backend(pid) from pg_stat_activity where application_name = 'commit-notifier' and datname = current_database()`);
    const beforeLoss = notifications;
    notifier.committed();
    await until(async () => notifications > beforeLoss, 'a NOTIFY through the pool after the loss');
    await notifier.settled();
    const afterLoss = notifications;
    notifier.committed();
    await until(async () => notifications > afterLoss, 'a NOTIFY on a new connection');
    const { rows } = await listener.query(`select count(*)::int as n from pg_stat_activity where application_name = 'commit-notifier' and datname = current_database()`);
    expect(rows[0].n).toBe(1);

    await notifier.close();
    const closed = await listener.query(`select count(*)::int as n from pg_stat_activity where application_name = 'commit-notifier' and datname = current_database()`);
    expect(closed.rows[0].n).toBe(0);
  });

  it("lets this process's feed, which its commits pump, skip their NOTIFY coming back, and still read for another process's", async () => {
    // No timer reads: every read the feed makes here is one a wake-up asked for.
    const feed = new LogFeed({ em: db.orm.em.fork(), databaseUrl: db.database.url, logger: silentLogger, upcasters: appUpcasters, pollIntervalMs: 3_600_000 });
    await feed.start();
    const notifier = new CommitNotifier({ em: db.orm.em, feed, logger: silentLogger, databaseUrl: db.database.url });
    const appendOne = async (streamId: string): Promise<RecordedEvent> => {
      const [event] = await db.orm.em.fork().transactional((tx) =>
        appendToStream(tx, { streamId, streamType: 'Thing', expectedVersion: 0, recordedAt: new Date(), events: [{ id: crypto.randomUUID(), type: 'ThingHappened', data: {}, metadata: {} }] }),
      );
      return event!;
    };
    const reached = (event: RecordedEvent) => comparePositions(feed.position, { transactionId: event.transactionId, globalPosition: event.globalPosition }) >= 0;
    try {
      const before = feed.stats.logReads;
      // Given ten commits of this process, each pumping the feed and sending its NOTIFY…
      for (let i = 0; i < 10; i++) {
        const event = await appendOne(`own-${i}`);
        notifier.committed();
        await notifier.settled();
        await until(async () => reached(event), 'the feed to read its own commit');
      }
      // …when another process commits and notifies (its NOTIFY arrives after all of those)…
      const foreign = await appendOne('foreign');
      await listener.query(`select pg_notify('${EVENTS_CHANNEL}', '')`);
      await until(async () => reached(foreign), "the feed to read the other process's commit");
      // …then the feed read once per commit: none of the ten NOTIFYs of its own made it read again.
      expect(feed.stats.logReads - before).toBe(11);
    } finally {
      await notifier.close();
      await feed.stop();
    }
  });
});
