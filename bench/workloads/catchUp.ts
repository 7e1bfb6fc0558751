import pg from 'pg';
import type { RecordedEvent } from '../../src/core/message.ts';
import type { Orm } from '../../src/db/orm.ts';
import { LogFeed } from '../../src/eventStore/feed/feed.ts';
import { comparePositions, LOG_START, type LogPosition } from '../../src/eventStore/log/position.ts';
import { EVENT_COLUMNS } from '../../src/eventStore/log/recorded.ts';
import { silentLogger } from '../../src/core/logger.ts';
import { compose } from '../../src/app/composition.ts';
import { modules } from '../../src/app/modules.ts';
import { startLoadProcess } from '../lib/child.ts';
import { logHead, withClient } from '../lib/db.ts';
import { round, sleep } from '../lib/stats.ts';
import type { WriterOptions, WriterReport } from '../clients/writers.ts';

export type CatchUpResult = {
  /** Events read up to the head as it was when the read started (the preloaded log). */
  catchUpEvents: number;
  catchUpSeconds: number;
  eventsPerS: number;
  /** Everything the subscription delivered, including what the writers appended meanwhile. */
  delivered: number;
  inTable: number;
  lost: number;
  repeated: number;
  outOfOrder: number;
  appendedDuringRead: number;
  writerErrors: number;
};

export type RawReadResult = { rows: number; seconds: number; eventsPerS: number; appendedDuringRead: number };

export async function startWriters(url: string, writers: number, prefix: string) {
  const options: WriterOptions = { databaseUrl: url, writers, rate: 0, cartsPerWriter: 0, record: false, prefix };
  const process = await startLoadProcess('bench/clients/writers.ts', options);
  await process.ask({ type: 'start' }, 'started');
  return {
    stop: async (): Promise<WriterReport> => {
      const { report } = await process.ask<{ report: WriterReport }>({ type: 'stop' }, 'report');
      await process.stop();
      return report;
    },
  };
}

/**
 * Workload 3: a feed subscription from the start of the log (the path `events(after:)`
 * subscriptions and history take: FeedSubscription's catch-up pages through readLog), while
 * `writers` writers append through the command handler in another process. Every delivered event
 * is checked off by its global position: lost, repeated and out-of-order deliveries are counted.
 */
export async function catchUpCell(url: string, orm: Orm, writers: number, prefix: string): Promise<CatchUpResult> {
  const preloadHead = await logHead(url);
  const feed = new LogFeed({ em: orm.em.fork(), databaseUrl: url, logger: silentLogger, upcasters: compose(modules).upcasters });
  await feed.start();
  let seen = new Uint8Array(Number(preloadHead.globalPosition) + 100_000);
  let delivered = 0;
  let repeated = 0;
  let outOfOrder = 0;
  let last: LogPosition = LOG_START;
  const see = (event: RecordedEvent) => {
    const position = Number(event.globalPosition);
    if (position >= seen.length) {
      const bigger = new Uint8Array(Math.max(position + 1, seen.length * 2));
      bigger.set(seen);
      seen = bigger;
    }
    if (seen[position]) repeated++;
    seen[position] = 1;
    delivered++;
    const here = { transactionId: event.transactionId, globalPosition: event.globalPosition };
    if (comparePositions(here, last) <= 0) outOfOrder++;
    last = here;
  };

  const writerProcess = await startWriters(url, writers, prefix);
  const subscription = feed.subscribe({ after: LOG_START });
  const started = performance.now();
  let catchUpEvents = 0;
  let catchUpSeconds = Number.NaN;
  let report: WriterReport | undefined;
  try {
    // Phase 1: read the preloaded log while the writers append.
    for (;;) {
      const { value, done } = await subscription.next();
      if (done) throw new Error('the subscription ended during catch-up');
      see(value);
      if (comparePositions(last, preloadHead) >= 0) {
        catchUpEvents = delivered;
        catchUpSeconds = (performance.now() - started) / 1000;
        break;
      }
    }
    report = await writerProcess.stop();
    // Phase 2: drain until everything committed has been delivered.
    const finalHead = await logHead(url);
    const deadline = performance.now() + 60_000;
    while (comparePositions(last, finalHead) < 0 && performance.now() < deadline) {
      const next = subscription.next();
      const result = await Promise.race([next, sleep(5_000).then(() => undefined)]);
      if (!result) break;
      if (result.done) break;
      see(result.value);
    }
  } finally {
    if (!report) await writerProcess.stop().catch(() => undefined);
    await subscription.return();
    await feed.stop();
  }
  const inTable = await withClient(url, async (client) => Number((await client.query<{ n: string }>('select count(*) as n from events')).rows[0]!.n));
  let distinct = 0;
  for (let i = 0; i < seen.length; i++) distinct += seen[i]!;
  return {
    catchUpEvents,
    catchUpSeconds: round(catchUpSeconds, 3),
    eventsPerS: round(catchUpEvents / catchUpSeconds, 0),
    delivered,
    inTable,
    lost: inTable - distinct,
    repeated,
    outOfOrder,
    appendedDuringRead: report?.appended ?? 0,
    writerErrors: report?.errors ?? 0,
  };
}

/**
 * The raw-SQL limit for a read: node `pg`, a server-side cursor over the table in position order,
 * FETCH 10000 at a time, rows decoded as pg decodes them. The same writers append meanwhile (none with 0).
 */
export async function rawCursorReadCell(url: string, writers: number, prefix: string): Promise<RawReadResult> {
  const writerProcess = writers > 0 ? await startWriters(url, writers, prefix) : undefined;
  const client = new pg.Client({ connectionString: url, application_name: 'bench-raw-read' });
  await client.connect();
  let rows = 0;
  let seconds = 0;
  try {
    const started = performance.now();
    await client.query('begin');
    await client.query(`declare log_cursor no scroll cursor for select ${EVENT_COLUMNS} from events order by global_position`);
    for (;;) {
      const result = await client.query('fetch 10000 from log_cursor');
      rows += result.rows.length;
      if (result.rows.length === 0) break;
    }
    await client.query('commit');
    seconds = (performance.now() - started) / 1000;
  } finally {
    await client.end();
  }
  const report = await writerProcess?.stop();
  return { rows, seconds: round(seconds, 3), eventsPerS: round(rows / seconds, 0), appendedDuringRead: report?.appended ?? 0 };
}
