import { appUpcasters } from './support/commands.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import type { RecordedEvent } from '../src/core/message.ts';
import { uuidv7 } from '../src/core/ids.ts';
import { appendToStream, EVENTS_CHANNEL } from '../src/eventStore/log/append.ts';
import { FeedClosedError, type FeedOptions, LogFeed, type FeedSubscription } from '../src/eventStore/feed/feed.ts';
import { comparePositions, LOG_START, type LogPosition } from '../src/eventStore/log/position.ts';
import { type LogFilter, readLog } from '../src/eventStore/log/read.ts';
import { silentLogger } from '../src/core/logger.ts';
import type { Orm } from '../src/db/orm.ts';
import { openTestOrm } from './support/database.ts';

let orm: Orm;
let databaseUrl: string;
let closeDatabase: () => Promise<void>;
const feeds: LogFeed[] = [];

beforeAll(async () => {
  const opened = await openTestOrm(12);
  orm = opened.orm;
  databaseUrl = opened.database.url;
  closeDatabase = opened.close;
});

afterAll(async () => {
  await Promise.all(feeds.map((feed) => feed.stop()));
  await closeDatabase();
});

async function startFeed(options: Partial<FeedOptions> = {}): Promise<LogFeed> {
  // No recent events in memory: these specs exercise the database catch-up path (the e2e specs run
  // with the server's default, where a subscriber shortly behind catches up from memory).
  const feed = new LogFeed({ em: orm.em.fork(), databaseUrl, logger: silentLogger, upcasters: appUpcasters, recentEvents: 0, ...options });
  feeds.push(feed);
  await feed.start();
  return feed;
}

/** Appends, commits and notifies followers, as the API's command path does; returns the recorded events. */
async function append(streamId: string, types: string[], streamType = 'Thing'): Promise<RecordedEvent[]> {
  const em = orm.em.fork();
  const [head] = await em.getConnection().execute<{ version: number }[]>('select coalesce(max(stream_version), 0)::int as version from events where stream_id = ?', [streamId]);
  const recorded = await em.transactional((tx) =>
    appendToStream(tx, {
      streamId,
      streamType,
      expectedVersion: head?.version ?? 0,
      recordedAt: new Date(),
      events: types.map((type, index) => ({ id: uuidv7(), type, data: { index }, metadata: {} })),
    }),
  );
  await em.getConnection().execute(`select pg_notify('${EVENTS_CHANNEL}', '')`);
  return recorded;
}

/** The next `count` events of a subscription; fails instead of hanging. */
async function take(subscription: FeedSubscription, count: number, timeoutMs = 15_000): Promise<RecordedEvent[]> {
  const events: RecordedEvent[] = [];
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${events.length}/${count} events`)), timeoutMs);
  });
  try {
    while (events.length < count) {
      const result = await Promise.race([subscription.next(), timeout]);
      if (result.done) throw new Error(`subscription ended after ${events.length}/${count} events`);
      events.push(result.value);
    }
  } finally {
    clearTimeout(timer);
  }
  return events;
}

/**
 * Has the follower read the log and checks it handed out `event`, committed before the call. Only
 * this spec file's transactions run on its cluster, so once they have ended nothing holds it back.
 */
async function caughtUp(feed: LogFeed, event: RecordedEvent): Promise<void> {
  await feed.pump();
  expect(comparePositions(feed.position, at(event)), `the follower is at ${feed.position.transactionId}_${feed.position.globalPosition}, short of ${event.position}`).toBeGreaterThanOrEqual(0);
}

async function wholeLog(filter?: LogFilter): Promise<RecordedEvent[]> {
  return (await readLog(orm.em.fork(), appUpcasters, { limit: 1_000_000, ...(filter ? { filter } : {}) })).events;
}

/** The filter semantics, written out independently of the code under test. */
const wanted = (filter: LogFilter, e: RecordedEvent) =>
  (filter.streamId === undefined || e.streamId === filter.streamId) &&
  (filter.streamType === undefined || e.streamType === filter.streamType) &&
  (filter.types === undefined || filter.types.includes(e.type));
const ids = (events: readonly RecordedEvent[]) => events.map((e) => e.id);
const at = (event: RecordedEvent): LogPosition => ({ transactionId: event.transactionId, globalPosition: event.globalPosition });

describe('the log feed', () => {
  it('delivers an append that took a lower position but committed last exactly once, in log order, live and in catch-up', async () => {
    const feed = await startFeed();
    const live = feed.subscribe();
    const start = feed.position;

    // Given an append whose transaction stays open after taking the lower sequence value…
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let lateEvents: RecordedEvent[] = [];
    let appended!: () => void;
    const lateAppended = new Promise<void>((resolve) => (appended = resolve));
    const late = orm.em.fork().transactional(async (tx) => {
      lateEvents = await appendToStream(tx, {
        streamId: 'late', streamType: 'Thing', expectedVersion: 0, recordedAt: new Date(),
        events: [{ id: uuidv7(), type: 'Happened', data: {}, metadata: {} }],
      });
      appended();
      await gate;
    });
    let early: RecordedEvent[];
    try {
      await lateAppended;
      // …when later appends commit first…
      early = [...(await append('early-1', ['Happened'])), ...(await append('early-2', ['Happened']))];
      await feed.pump();

      // …then nothing at or after the open transaction is handed out yet: reading past it would skip it for ever.
      expect(feed.position).toEqual(start);
      expect((await readLog(orm.em.fork(), appUpcasters, { after: start, limit: 100 })).events).toEqual([]);
      const lag = await feed.lag();
      expect(lag.eventsHeldBack).toBe(2);
      expect(lag.oldestOpenTransaction).not.toBeNull();
    } finally {
      // Even when an assertion failed: an open transaction would hold every later spec's log back.
      release();
      await late;
    }
    await caughtUp(feed, early.at(-1)!);

    const [lateEvent] = lateEvents;
    expect(lateEvent!.globalPosition).toBeLessThan(early[0]!.globalPosition);
    const expected = [lateEvent!.id, ...ids(early)];
    expect(ids(await take(live, 3))).toEqual(expected);
    const replay = feed.subscribe({ after: start });
    expect(ids(await take(replay, 3))).toEqual(expected);
    expect(ids((await readLog(orm.em.fork(), appUpcasters, { after: start, limit: 100 })).events)).toEqual(expected);
    live.end();
    replay.end();
  });

  it('replays from a position, then continues live without a gap or a duplicate while writers keep appending', async () => {
    const feed = await startFeed({ catchUpPageSize: 7 });
    const before = await wholeLog();
    const from = before.at(-1) ? at(before.at(-1)!) : LOG_START;
    let firstCommitted!: () => void;
    const writing = new Promise<void>((resolve) => (firstCommitted = resolve));
    const writers = Array.from({ length: 6 }, async (_, writer) => {
      for (let round = 0; round < 10; round++) {
        await append(`seam-${writer}`, ['A', 'B']);
        firstCommitted();
      }
    });
    // Subscribe while the writers are busy (one append is in, 59 to come), from where the log stood before them.
    await writing;
    const subscription = feed.subscribe({ after: from });
    const received = await take(subscription, 120);
    await Promise.all(writers);
    const log = (await readLog(orm.em.fork(), appUpcasters, { after: from, limit: 1000 })).events;
    expect(ids(received)).toEqual(ids(log));
    expect(new Set(ids(received)).size).toBe(120);
    for (let writer = 0; writer < 6; writer++) {
      expect(received.filter((e) => e.streamId === `seam-${writer}`).map((e) => e.version)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    }
    subscription.end();
  });

  it('delivers events committed while the last catch-up page is in flight once, right after that page', async () => {
    // The seam between replay and live: hold the catch-up read's answer until more events have been fanned out.
    let entered!: () => void;
    let pageRead = new Promise<void>((resolve) => (entered = resolve));
    let release: (() => void) | undefined;
    class SlowReadFeed extends LogFeed {
      override async readPage(...args: Parameters<LogFeed['readPage']>) {
        const page = await super.readPage(...args);
        entered();
        if (release === undefined) await new Promise<void>((resolve) => (release = resolve));
        return page;
      }
    }
    const feed = new SlowReadFeed({ em: orm.em.fork(), databaseUrl, logger: silentLogger, upcasters: appUpcasters });
    feeds.push(feed);
    await feed.start();
    const from = feed.position;
    const replayed = await append('seam-read', ['A', 'B', 'C']);
    await caughtUp(feed, replayed.at(-1)!);

    const subscription = feed.subscribe({ after: from });
    const received = take(subscription, 5);
    await pageRead;
    const whileReading = await append('seam-read', ['D', 'E']);
    await caughtUp(feed, whileReading.at(-1)!);
    release!();
    expect(ids(await received)).toEqual(ids([...replayed, ...whileReading]));
    pageRead = Promise.resolve();
    subscription.end();
  });

  it('moves a subscriber that falls a full buffer behind back to catch-up, and it still gets everything once, in order', async () => {
    const feed = await startFeed({ bufferSize: 10, catchUpPageSize: 8 });
    const subscription = feed.subscribe();
    const start = feed.position;
    let last: RecordedEvent[] = [];
    for (let i = 0; i < 30; i++) last = await append(`slow-${i % 3}`, ['A', 'B']);
    await caughtUp(feed, last.at(-1)!);
    expect(feed.stats.fallbacks).toBeGreaterThanOrEqual(1);

    // Reading while more is appended also overflows the buffer of live events held during catch-up.
    const more = (async () => {
      for (let i = 0; i < 30; i++) await append(`slow-${i % 3}`, ['C', 'D', 'E']);
    })();
    const received = await take(subscription, 150);
    await more;
    const log = (await readLog(orm.em.fork(), appUpcasters, { after: start, limit: 1000 })).events;
    expect(log).toHaveLength(150);
    expect(ids(received)).toEqual(ids(log));
    subscription.end();
  });

  it('gives each filter exactly the matching events, in catch-up and live alike', async () => {
    const feed = await startFeed();
    const start = feed.position;
    const filters: LogFilter[] = [
      { streamId: 'filter-cart-1' },
      { streamType: 'Order' },
      { types: ['ItemAdded', 'OrderPlaced'] },
      { streamType: 'Cart', types: ['ItemAdded'] },
      { streamId: 'filter-order-1', streamType: 'Cart' },
    ];
    const live = filters.map((filter) => feed.subscribe({ filter }));
    const writes = async () => {
      await append('filter-cart-1', ['CartOpened', 'ItemAdded'], 'Cart');
      await append('filter-cart-2', ['CartOpened', 'ItemAdded', 'ItemRemoved'], 'Cart');
      await append('filter-order-1', ['OrderPlaced', 'OrderShipped'], 'Order');
      return append('filter-cart-1', ['ItemAdded', 'CheckedOut'], 'Cart');
    };
    await caughtUp(feed, (await writes()).at(-1)!);
    const log = (await readLog(orm.em.fork(), appUpcasters, { after: start, limit: 100 })).events;
    const expected = [
      log.filter((e) => e.streamId === 'filter-cart-1'),
      log.filter((e) => e.streamType === 'Order'),
      log.filter((e) => e.type === 'ItemAdded' || e.type === 'OrderPlaced'),
      log.filter((e) => e.streamType === 'Cart' && e.type === 'ItemAdded'),
      [],
    ];
    expect(expected.map((list) => list.length)).toEqual([4, 2, 4, 3, 0]);
    // Each filter gets a last event of its own, so a stray extra event would show as a shifted sequence.
    const sentinels: [string, string, string][] = [
      ['filter-cart-1', 'Sentinel', 'Cart'],
      ['filter-order-2', 'Sentinel', 'Order'],
      ['filter-cart-3', 'OrderPlaced', 'Cart'],
      ['filter-cart-3', 'ItemAdded', 'Cart'],
      ['filter-order-1', 'Sentinel', 'Cart'],
    ];
    for (const [index, filter] of filters.entries()) {
      const [streamId, type, streamType] = sentinels[index]!;
      const [sentinel] = await append(streamId, [type], streamType);
      await caughtUp(feed, sentinel!);
      const want = (await readLog(orm.em.fork(), appUpcasters, { after: start, limit: 100 })).events.filter((e) => wanted(filter, e));
      expect(want.at(-1)!.id).toBe(sentinel!.id);
      expect(ids(await take(live[index]!, want.length))).toEqual(ids(want));
      const replay = feed.subscribe({ after: start, filter });
      expect(ids(await take(replay, want.length))).toEqual(ids(want));
      replay.end();
      live[index]!.end();
    }
  });

  it('ends subscriptions with FeedClosedError when the database connection is lost, reconnects, and resumes from the last position', async () => {
    const feed = await startFeed();
    const subscription = feed.subscribe({ filter: { streamId: 'lost' } });
    const first = await append('lost', ['A']);
    await caughtUp(feed, first[0]!);
    expect(ids(await take(subscription, 1))).toEqual(ids(first));

    const admin = new pg.Client({ connectionString: databaseUrl });
    await admin.connect();
    try {
      const killed = await admin.query(
        `select pg_terminate_backend(pid) from pg_stat_activity where application_name = 'event-feed' and datname = current_database()`,
      );
      expect(killed.rowCount).toBeGreaterThanOrEqual(1);
    } finally {
      await admin.end();
    }
    const failure = await subscription.next().then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(failure).toBeInstanceOf(FeedClosedError);
    expect((failure as FeedClosedError).resumeAfter).toBe(first[0]!.position);
    // While reconnecting, new subscriptions are refused rather than silently missing events.
    if (!feed.connected) expect(() => feed.subscribe()).toThrow(FeedClosedError);

    const missed = await append('lost', ['B', 'C']);
    await expect.poll(() => feed.connected, { timeout: 10_000 }).toBe(true);
    expect(feed.stats.reconnects).toBe(1);
    const resumed = feed.subscribe({ after: at(first[0]!), filter: { streamId: 'lost' } });
    const after = await append('lost', ['D']);
    expect(ids(await take(resumed, 3))).toEqual(ids([...missed, ...after]));
    resumed.end();
  });
});

/** Uses up transaction ids until the next one handed out is at least `target`. */
async function useTransactionIdsUntil(target: bigint): Promise<void> {
  const connection = orm.em.fork().getConnection();
  for (;;) {
    const [row] = await connection.execute<{ xid: string }[]>('select pg_current_xact_id()::text as xid');
    const missing = target - BigInt(row!.xid) - 1n;
    if (missing <= 0n) return;
    // Each subtransaction that writes takes a transaction id of its own: thousands per statement.
    const count = missing < 100_000n ? Number(missing) : 100_000;
    await connection.execute(`do $$ begin
      create temp table if not exists used_transaction_ids (n int);
      for i in 1..${count} loop begin insert into used_transaction_ids values (i); exception when others then null; end; end loop;
    end $$`);
  }
}

describe('where a follower starts', () => {
  it('is the newest event, also when transaction ids have just gained a digit', async () => {
    // Compared as text, transaction id 999 comes after 1000: the start must compare them as numbers.
    const [row] = await orm.em.fork().getConnection().execute<{ xid: string }[]>('select pg_current_xact_id()::text as xid');
    const nextPowerOfTen = 10n ** BigInt(row!.xid.length);
    await useTransactionIdsUntil(nextPowerOfTen - 10n);
    const [older] = await append('digits-older', ['A']);
    await useTransactionIdsUntil(nextPowerOfTen);
    const [newest] = await append('digits-newest', ['B']);
    expect(String(older!.transactionId).length).toBeLessThan(String(newest!.transactionId).length);
    const feed = await startFeed();
    expect(feed.position).toEqual(at(newest!));
  });
});
