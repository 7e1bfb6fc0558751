import pg from 'pg';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { RecordedEvent } from '../../core/message.ts';
import type { Logger } from '../../core/logger.ts';
import { query } from '../../db/sql.ts';
import { EVENTS_CHANNEL } from '../log/append.ts';
import { readLogLag, type LogLag } from './lag.ts';
import { comparePositions, encodePosition, LOG_START, type LogPosition } from '../log/position.ts';
import { RecentEvents } from './recentEvents.ts';
import { type LogFilter, type LogPage, readLog } from '../log/read.ts';

export type FeedOptions = {
  /** For reads (catch-up pages and the follower's batches). Used outside any transaction. */
  readonly em: EntityManager;
  /** Connection string for the dedicated LISTEN connection. */
  readonly databaseUrl: string;
  readonly logger: Logger;
  /**
   * Fallback poll. NOTIFY wakes the follower on every append's commit; the poll covers wake-ups NOTIFY
   * cannot give, such as a transaction that held the log back ending without appending (a rollback).
   */
  readonly pollIntervalMs?: number;
  /** Events the follower reads per query. */
  readonly batchSize?: number;
  /** Events one live subscriber may have waiting before it is moved back to catch-up reading. */
  readonly bufferSize?: number;
  /** Newest events kept in memory, so subscribers a little behind catch up without a query. */
  readonly recentEvents?: number;
  /** Events one catch-up query reads for one subscriber. */
  readonly catchUpPageSize?: number;
  /** How often the follower measures its lag, to warn in the log about transactions holding it back. */
  readonly lagCheckIntervalMs?: number;
  /** Warn when events are held back by a transaction older than this. */
  readonly lagWarningSeconds?: number;
};

export const FEED_DEFAULTS = {
  pollIntervalMs: 500,
  batchSize: 1000,
  bufferSize: 1000,
  catchUpPageSize: 500,
  recentEvents: 10_000,
  lagCheckIntervalMs: 10_000,
  lagWarningSeconds: 10,
} as const;

/**
 * A subscription ended before its client did: the database connection was lost, or the feed shut
 * down. Nothing was skipped: resubscribe with `after` set to the last position received (also given
 * as `resumeAfter`). GraphQL servers copy `extensions` onto the error they send.
 */
export class FeedClosedError extends Error {
  readonly code = 'FEED_CLOSED';
  readonly resumeAfter: string | undefined;
  readonly extensions: { readonly code: 'FEED_CLOSED'; readonly resumeAfter?: string };

  constructor(message: string, options: ErrorOptions & { resumeAfter?: LogPosition } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'FeedClosedError';
    this.resumeAfter = options.resumeAfter ? encodePosition(options.resumeAfter) : undefined;
    this.extensions = { code: this.code, ...(this.resumeAfter !== undefined ? { resumeAfter: this.resumeAfter } : {}) };
  }
}

export function matchesFilter(filter: LogFilter, event: RecordedEvent): boolean {
  if (filter.streamId !== undefined && filter.streamId !== event.streamId) return false;
  if (filter.streamType !== undefined && filter.streamType !== event.streamType) return false;
  if (filter.types !== undefined && !filter.types.includes(event.type)) return false;
  return true;
}

const positionOf = (event: RecordedEvent): LogPosition => ({ transactionId: event.transactionId, globalPosition: event.globalPosition });

/** Counters since the process started, for /metrics. */
export type FeedStats = {
  /** Events the follower read from the log and fanned out. */
  eventsRead: number;
  /** Times a live subscriber fell more than its buffer behind and went back to catch-up reading. */
  fallbacks: number;
  /** Catch-up queries run for subscribers. */
  catchUpPages: number;
  /** Catch-up pages served from the recent events held in memory. */
  catchUpPagesFromMemory: number;
  /** Times the LISTEN connection was re-established. */
  reconnects: number;
  /** Follower reads that failed (retried on the next wake-up or poll). */
  readErrors: number;
  /** Subscriptions ended with a FeedClosedError. */
  subscriptionsFailed: number;
};

/**
 * The process's one reader of the log. It wakes on NOTIFY (sent by every append, delivered on commit)
 * or on a timer, reads new events in commit order in batches, and hands them to every matching
 * subscription in memory. Subscriptions never touch the database while they are live.
 *
 * Subscriptions are indexed by the most selective key of their filter (stream id, else stream type),
 * so an event costs work only for the subscribers that can want it.
 */
export class LogFeed {
  readonly stats: FeedStats = { eventsRead: 0, fallbacks: 0, catchUpPages: 0, catchUpPagesFromMemory: 0, reconnects: 0, readErrors: 0, subscriptionsFailed: 0 };
  /** @internal */
  readonly settings: Required<Omit<FeedOptions, 'em' | 'databaseUrl' | 'logger'>>;
  private readonly options: FeedOptions;
  private readonly all = new Set<FeedSubscription>();
  private readonly byStreamId = new Map<string, Set<FeedSubscription>>();
  private readonly byStreamType = new Map<string, Set<FeedSubscription>>();
  private readonly unkeyed = new Set<FeedSubscription>();
  /** Subscriptions that got events in the batch being fanned out; woken once per batch. */
  private readonly touched: FeedSubscription[] = [];
  private listener: pg.Client | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  private lagTimer: NodeJS.Timeout | undefined;
  private pumping: Promise<void> | undefined;
  private pumpAgain = false;
  private started = false;
  private stopped = false;
  private current: LogPosition = LOG_START;
  private readonly recent: RecentEvents;

  constructor(options: FeedOptions) {
    this.options = options;
    const { em: _em, databaseUrl: _url, logger: _logger, ...rest } = options;
    this.settings = { ...FEED_DEFAULTS, ...rest };
    this.recent = new RecentEvents(this.settings.recentEvents, LOG_START);
  }

  /** Every event up to here has been handed to the subscriptions that want it. */
  get position(): LogPosition {
    return this.current;
  }

  get subscriberCount(): number {
    return this.all.size;
  }

  /** True while the LISTEN connection is up; while it is down, subscribing fails fast. */
  get connected(): boolean {
    return this.listener !== undefined && !this.stopped;
  }

  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    // LISTEN before reading the head, so an append committing in between still wakes us.
    await this.listen();
    this.current = await this.head();
    this.recent.reset(this.current);
    this.pollTimer = setInterval(() => void this.pump(), this.settings.pollIntervalMs);
    this.pollTimer.unref();
    this.lagTimer = setInterval(() => void this.warnIfHeldBack(), this.settings.lagCheckIntervalMs);
    this.lagTimer.unref();
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.pollTimer);
    clearInterval(this.lagTimer);
    for (const subscription of [...this.all]) subscription.end();
    const listener = this.listener;
    this.listener = undefined;
    await listener?.end().catch(() => undefined);
    await this.pumping;
  }

  /**
   * Events matching `filter` after `after` (or from the live head, without it), then live ones,
   * each once, in log order. Throws FeedClosedError while the feed has no database connection.
   */
  subscribe(options: { after?: LogPosition; filter?: LogFilter } = {}): FeedSubscription {
    if (this.stopped) throw new FeedClosedError('The event feed is shut down; subscribe again on another server');
    if (!this.listener) throw new FeedClosedError('The event feed is reconnecting to the database; subscribe again shortly', options.after ? { resumeAfter: options.after } : {});
    const subscription = new FeedSubscription(this, options.filter ?? {}, options.after);
    this.all.add(subscription);
    this.index(subscription, true);
    return subscription;
  }

  /** Reads the log now and fans out what is new; resolves when caught up with what was committed before the call. */
  pump(): Promise<void> {
    if (this.stopped || !this.started) return Promise.resolve();
    if (this.pumping) {
      this.pumpAgain = true;
      return this.pumping;
    }
    this.pumping = this.readUntilCaughtUp().finally(() => (this.pumping = undefined));
    return this.pumping;
  }

  /** How far this follower is behind the log and what holds the log back. */
  lag(): Promise<LogLag> {
    return readLogLag(this.options.em, this.current);
  }

  /** @internal */
  unsubscribe(subscription: FeedSubscription): void {
    if (!this.all.delete(subscription)) return;
    this.index(subscription, false);
  }

  /** @internal one page of catch-up for a subscription, bounded by where the follower is. */
  readPage(after: LogPosition, upTo: LogPosition, filter: LogFilter): Promise<LogPage> {
    const held = this.recent.read(after, upTo, filter, this.settings.catchUpPageSize, matchesFilter);
    if (held) {
      this.stats.catchUpPagesFromMemory++;
      return Promise.resolve(held);
    }
    this.stats.catchUpPages++;
    return readLog(this.options.em, { after, upTo, filter, limit: this.settings.catchUpPageSize });
  }

  /** @internal a subscription has events waiting; wake it once the batch is fanned out. */
  touch(subscription: FeedSubscription): void {
    this.touched.push(subscription);
  }

  private index(subscription: FeedSubscription, add: boolean): void {
    const { streamId, streamType } = subscription.filter;
    const [map, key] = streamId !== undefined ? [this.byStreamId, streamId] : streamType !== undefined ? [this.byStreamType, streamType] : [undefined, undefined];
    if (!map || key === undefined) {
      if (add) this.unkeyed.add(subscription);
      else this.unkeyed.delete(subscription);
      return;
    }
    let set = map.get(key);
    if (add) {
      if (!set) map.set(key, (set = new Set()));
      set.add(subscription);
    } else if (set) {
      set.delete(subscription);
      if (set.size === 0) map.delete(key);
    }
  }

  /** The newest event every reader may see now. */
  private async head(): Promise<LogPosition> {
    const [row] = await query<{ transaction_id: string; global_position: string }>(
      this.options.em,
      // `events.transaction_id`: a bare name would sort the text the select list calls transaction_id ('999' after '1000').
      `select transaction_id::text, global_position from events
       where transaction_id < pg_snapshot_xmin(pg_current_snapshot())
       order by events.transaction_id desc, events.global_position desc limit 1`,
    );
    return row ? { transactionId: BigInt(row.transaction_id), globalPosition: BigInt(row.global_position) } : LOG_START;
  }

  private async listen(): Promise<void> {
    const client = new pg.Client({ connectionString: this.options.databaseUrl, application_name: 'event-feed' });
    client.on('notification', () => void this.pump());
    client.on('error', (error) => this.connectionLost(client, error));
    client.on('end', () => this.connectionLost(client, new Error('the LISTEN connection closed')));
    try {
      await client.connect();
      await client.query(`LISTEN ${EVENTS_CHANNEL}`);
    } catch (error) {
      client.removeAllListeners('end');
      client.removeAllListeners('error');
      client.on('error', () => undefined);
      await client.end().catch(() => undefined);
      throw error;
    }
    this.listener = client;
  }

  /** Reads until caught up; wake-ups while reading fold into one more round. */
  private async readUntilCaughtUp(): Promise<void> {
    try {
      do {
        this.pumpAgain = false;
        for (;;) {
          const page = await readLog(this.options.em, { after: this.current, limit: this.settings.batchSize });
          if (this.stopped || page.events.length === 0) break;
          // Position and fan-out change together, synchronously: a subscription that reads the
          // position has been offered everything up to it and will be offered everything after it.
          this.current = page.next;
          this.recent.append(page.events);
          this.stats.eventsRead += page.events.length;
          this.fanOut(page.events);
          if (page.events.length < this.settings.batchSize) break;
        }
      } while (this.pumpAgain && !this.stopped);
    } catch (error) {
      this.stats.readErrors++;
      this.options.logger.error('event feed could not read the log; retrying on the next wake-up', { error });
    }
  }

  private fanOut(events: readonly RecordedEvent[]): void {
    const unkeyed = this.unkeyed.size > 0 ? this.unkeyed : undefined;
    for (const event of events) {
      const byId = this.byStreamId.get(event.streamId);
      if (byId) for (const subscription of byId) subscription.offer(event);
      const byType = this.byStreamType.get(event.streamType);
      if (byType) for (const subscription of byType) subscription.offer(event);
      if (unkeyed) for (const subscription of unkeyed) subscription.offer(event);
    }
    for (const subscription of this.touched) subscription.wakeUp();
    this.touched.length = 0;
  }

  /**
   * The LISTEN connection broke: without it live delivery can't be trusted, so every subscription
   * ends with an error telling the client to resubscribe from its last position; then reconnect.
   */
  private connectionLost(client: pg.Client, error: Error): void {
    if (this.stopped || client !== this.listener) return;
    this.listener = undefined;
    client.removeAllListeners('end');
    client.on('error', () => undefined);
    client.end().catch(() => undefined);
    this.options.logger.error('event feed lost its database connection; ending subscriptions and reconnecting', { error });
    for (const subscription of [...this.all]) {
      subscription.fail('The event feed lost its database connection; resubscribe with `after` set to the last position you received', error);
    }
    void this.reconnect();
  }

  private async reconnect(): Promise<void> {
    for (let attempt = 1; !this.stopped && !this.listener; attempt++) {
      await new Promise((resolve) => setTimeout(resolve, Math.min(100 * 2 ** attempt, 5000)));
      if (this.stopped) return;
      try {
        await this.listen();
        this.stats.reconnects++;
        this.options.logger.info('event feed reconnected', { attempt });
        void this.pump();
      } catch (error) {
        this.options.logger.warn('event feed reconnect failed', { attempt, error });
      }
    }
  }

  private async warnIfHeldBack(): Promise<void> {
    if (this.stopped) return;
    try {
      const lag = await this.lag();
      const oldest = lag.oldestOpenTransaction;
      if (lag.eventsHeldBack > 0 && oldest && oldest.ageSeconds >= this.settings.lagWarningSeconds) {
        this.options.logger.warn('a long-running transaction holds the event feed back', {
          eventsHeldBack: lag.eventsHeldBack,
          eventsBehind: lag.eventsBehind,
          transaction: oldest,
        });
      }
    } catch (error) {
      this.options.logger.warn('event feed could not measure its lag', { error });
    }
  }
}

/**
 * One subscriber's view of the feed. Two modes:
 * - live: the follower pushes matching events into `queue`, at most `bufferSize` of them;
 * - catching up: pages are read from the database after `cursor`, each up to the follower's
 *   position at that moment, while live events offered meanwhile are held (at most `bufferSize`).
 *   When a page comes back short, the held events after that page's bound join the queue and the
 *   subscription is live. The seam is exact because the follower updates its position and offers the
 *   batch in one synchronous step: everything up to the position read was offered before holding
 *   could have started, or is in the database read; everything after it is held.
 * A live subscriber that falls `bufferSize` behind drops what waits and goes back to catching up from
 * the last event it took; a hold that overflows is dropped and restarted after the next page. Memory
 * per subscriber stays bounded, and nothing is lost or repeated.
 */
export class FeedSubscription implements AsyncIterableIterator<RecordedEvent> {
  /** @internal */
  readonly filter: LogFilter;
  private readonly feed: LogFeed;
  private readonly bufferSize: number;
  private queue: RecordedEvent[] = [];
  private queueHead = 0;
  private live: boolean;
  /** Catching up: the next page starts after this. */
  private cursor: LogPosition;
  /** Catching up: live events offered since holding started; `undefined` while not holding. */
  private held: RecordedEvent[] | undefined;
  private heldOverflowed = false;
  /** The last event handed to the consumer (or where the subscription started). */
  private delivered: LogPosition;
  private wake: (() => void) | undefined;
  private closed = false;
  private failure: FeedClosedError | undefined;

  constructor(feed: LogFeed, filter: LogFilter, after: LogPosition | undefined) {
    this.feed = feed;
    this.filter = filter;
    this.bufferSize = feed.settings.bufferSize;
    this.delivered = after ?? feed.position;
    this.cursor = this.delivered;
    this.live = after === undefined;
  }

  /** Where this subscription would resume: the last event it handed out, or where it started. */
  get lastPosition(): LogPosition {
    return this.delivered;
  }

  /** @internal called by the follower, in log order, for every new event that may match. */
  offer(event: RecordedEvent): void {
    if (this.closed) return;
    const { streamType, types } = this.filter;
    if (streamType !== undefined && streamType !== event.streamType) return;
    if (types !== undefined && !types.includes(event.type)) return;
    if (this.filter.streamId !== undefined && this.filter.streamId !== event.streamId) return;
    if (this.live) {
      if (this.queue.length - this.queueHead >= this.bufferSize) {
        // Too far behind: forget what waits and re-read it from the database when the consumer asks.
        this.queue = [];
        this.queueHead = 0;
        this.live = false;
        this.cursor = this.delivered;
        this.feed.stats.fallbacks++;
        return;
      }
      if (this.queue.length === this.queueHead) this.feed.touch(this);
      this.queue.push(event);
      return;
    }
    if (!this.held || this.heldOverflowed) return;
    if (this.held.length >= this.bufferSize) {
      // The database read will have to cover these too; stop holding until it has.
      this.held = [];
      this.heldOverflowed = true;
      return;
    }
    this.held.push(event);
  }

  /** @internal */
  wakeUp(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  /** Ends the subscription normally; the consumer sees `done`. */
  end(): void {
    if (this.closed) return;
    this.closed = true;
    this.feed.unsubscribe(this);
    this.queue = [];
    this.queueHead = 0;
    this.held = undefined;
    this.wakeUp();
  }

  /** @internal ends the subscription with a FeedClosedError carrying where to resume. */
  fail(message: string, cause?: unknown): void {
    if (this.closed) return;
    this.failure = new FeedClosedError(message, { cause, resumeAfter: this.delivered });
    this.feed.stats.subscriptionsFailed++;
    this.end();
  }

  async next(): Promise<IteratorResult<RecordedEvent>> {
    for (;;) {
      if (this.closed) {
        const failure = this.failure;
        if (failure) {
          this.failure = undefined;
          throw failure;
        }
        return { value: undefined, done: true };
      }
      if (this.queueHead < this.queue.length) {
        const event = this.queue[this.queueHead]!;
        this.queue[this.queueHead++] = undefined as never; // let it be collected once handed out
        if (this.queueHead === this.queue.length) {
          this.queue = [];
          this.queueHead = 0;
        }
        const position = positionOf(event);
        if (comparePositions(position, this.delivered) <= 0) continue;
        this.delivered = position;
        return { value: event, done: false };
      }
      if (!this.live) {
        await this.catchUpPage();
        continue;
      }
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }

  private async catchUpPage(): Promise<void> {
    if (!this.held || this.heldOverflowed) {
      // (Re)start holding: live events from now on are after the bound this page reads up to.
      this.held = [];
      this.heldOverflowed = false;
    }
    const upTo = this.feed.position;
    let page: LogPage;
    try {
      page = await this.feed.readPage(this.cursor, upTo, this.filter);
    } catch (error) {
      this.fail('The event feed could not read the log; resubscribe with `after` set to the last position you received', error);
      return;
    }
    if (this.closed) return;
    for (const event of page.events) this.queue.push(event);
    if (page.events.length === this.feed.settings.catchUpPageSize) {
      this.cursor = page.next;
      return;
    }
    // Everything up to `upTo` is now in the queue.
    this.cursor = upTo;
    if (this.heldOverflowed) return; // read on from `upTo`; holding restarts with the next page
    const held = this.held;
    this.held = undefined;
    this.live = true;
    for (const event of held) {
      if (comparePositions(positionOf(event), upTo) > 0) this.queue.push(event);
    }
  }

  async return(): Promise<IteratorResult<RecordedEvent>> {
    this.end();
    return { value: undefined, done: true };
  }

  async throw(error?: unknown): Promise<IteratorResult<RecordedEvent>> {
    this.end();
    throw error;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}
