import pg from 'pg';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { RecordedEvent } from '../core/message.ts';
import type { Logger } from '../logger.ts';
import { query } from '../db/sql.ts';
import { EVENTS_CHANNEL } from './append.ts';
import { comparePositions, LOG_START, type LogPosition } from './position.ts';
import { type LogFilter, readLog } from './read.ts';

export type FeedOptions = {
  /** For reads (catch-up pages and the follower's batches). */
  readonly em: EntityManager;
  /** Connection string for the dedicated LISTEN connection. */
  readonly databaseUrl: string;
  readonly logger: Logger;
  /** Fallback poll, for wake-ups NOTIFY cannot give (a long transaction that held the log back ends). */
  readonly pollIntervalMs?: number;
  /** Events the follower reads per query. */
  readonly batchSize?: number;
  /** Events one subscriber may have waiting before it is moved back to catch-up reading. */
  readonly bufferSize?: number;
};

export class FeedClosedError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'FeedClosedError';
  }
}

export function matchesFilter(filter: LogFilter, event: RecordedEvent): boolean {
  if (filter.streamId !== undefined && filter.streamId !== event.streamId) return false;
  if (filter.streamType !== undefined && filter.streamType !== event.streamType) return false;
  if (filter.types !== undefined && !filter.types.includes(event.type)) return false;
  return true;
}

const positionOf = (event: RecordedEvent): LogPosition => ({ transactionId: event.transactionId, globalPosition: event.globalPosition });

/**
 * The process's one reader of the log. It wakes on NOTIFY (sent by every append, delivered on commit)
 * or on a timer, reads new events in commit order in batches, and hands them to every matching
 * subscription in memory. Subscriptions never poll the database while they are live.
 */
export class LogFeed {
  private readonly options: Required<FeedOptions>;
  private readonly subscriptions = new Set<FeedSubscription>();
  private listener: pg.Client | undefined;
  private timer: NodeJS.Timeout | undefined;
  private pumping = false;
  private pumpAgain = false;
  private stopped = false;
  private current: LogPosition = LOG_START;

  constructor(options: FeedOptions) {
    this.options = { pollIntervalMs: 1000, batchSize: 1000, bufferSize: 1000, ...options };
  }

  /** Everything up to here has been handed to subscriptions. */
  get position(): LogPosition {
    return this.current;
  }

  get subscriberCount(): number {
    return this.subscriptions.size;
  }

  async start(): Promise<void> {
    this.current = await this.head();
    await this.listen();
    this.timer = setInterval(() => void this.pump(), this.options.pollIntervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    for (const subscription of this.subscriptions) subscription.end();
    const listener = this.listener;
    this.listener = undefined;
    await listener?.end().catch(() => undefined);
  }

  /** Events after `after` (or from now, without it), then live ones, each once, in commit order. */
  subscribe(options: { after?: LogPosition; filter?: LogFilter } = {}): FeedSubscription {
    if (this.stopped) throw new FeedClosedError('The event feed is shut down');
    const subscription = new FeedSubscription(this, options.filter ?? {}, options.after, this.options.bufferSize);
    this.subscriptions.add(subscription);
    return subscription;
  }

  /** @internal */
  unsubscribe(subscription: FeedSubscription): void {
    this.subscriptions.delete(subscription);
  }

  /** @internal one page of catch-up for a subscription, bounded by where the follower is. */
  readPage(after: LogPosition, upTo: LogPosition, filter: LogFilter, limit: number) {
    return readLog(this.options.em, { after, upTo, filter, limit });
  }

  /** The newest event every reader may see now. */
  private async head(): Promise<LogPosition> {
    const [row] = await query<{ transaction_id: string; global_position: string }>(
      this.options.em,
      `select transaction_id::text, global_position from events
       where transaction_id < pg_snapshot_xmin(pg_current_snapshot())
       order by transaction_id desc, global_position desc limit 1`,
    );
    return row ? { transactionId: BigInt(row.transaction_id), globalPosition: BigInt(row.global_position) } : LOG_START;
  }

  private async listen(): Promise<void> {
    const client = new pg.Client({ connectionString: this.options.databaseUrl, application_name: 'event-feed' });
    client.on('notification', () => void this.pump());
    client.on('error', (error) => this.connectionLost(error));
    await client.connect();
    await client.query(`LISTEN ${EVENTS_CHANNEL}`);
    this.listener = client;
  }

  /** Reads until caught up; concurrent wake-ups fold into one more round. */
  private async pump(): Promise<void> {
    if (this.stopped) return;
    if (this.pumping) {
      this.pumpAgain = true;
      return;
    }
    this.pumping = true;
    try {
      do {
        this.pumpAgain = false;
        for (;;) {
          const page = await readLog(this.options.em, { after: this.current, limit: this.options.batchSize });
          if (page.events.length === 0) break;
          this.current = page.next;
          for (const subscription of this.subscriptions) subscription.offer(page.events);
          if (page.events.length < this.options.batchSize) break;
        }
      } while (this.pumpAgain && !this.stopped);
    } catch (error) {
      this.options.logger.error('event feed could not read the log', { error });
    } finally {
      this.pumping = false;
    }
  }

  /**
   * The LISTEN connection broke: without it live delivery can't be trusted, so every subscription
   * ends with an error telling the client to resubscribe from its last position; then reconnect.
   */
  private connectionLost(error: Error): void {
    if (this.stopped) return;
    this.options.logger.error('event feed lost its database connection', { error });
    this.listener?.end().catch(() => undefined);
    this.listener = undefined;
    const failure = new FeedClosedError('The event feed lost its database connection; resubscribe with `after` set to your last position', { cause: error });
    for (const subscription of this.subscriptions) subscription.fail(failure);
    void this.reconnect();
  }

  private async reconnect(): Promise<void> {
    for (let attempt = 1; !this.stopped && !this.listener; attempt++) {
      await new Promise((resolve) => setTimeout(resolve, Math.min(200 * 2 ** attempt, 5000)));
      try {
        await this.listen();
        this.options.logger.info('event feed reconnected', { attempt });
        void this.pump();
      } catch (error) {
        this.options.logger.warn('event feed reconnect failed', { attempt, error });
      }
    }
  }
}

const CATCH_UP_PAGE = 500;

/**
 * One subscriber's view of the feed: first a catch-up read from the database up to the follower's
 * position, while live events arriving meanwhile are held; then the held events, then live ones.
 * A subscriber whose waiting events exceed the buffer drops them and goes back to catch-up from the
 * last event it took, so memory stays bounded and nothing is lost or repeated.
 */
export class FeedSubscription implements AsyncIterableIterator<RecordedEvent> {
  private queue: RecordedEvent[] = [];
  /** Live events held while catching up; `undefined` when live. */
  private held: RecordedEvent[] | undefined;
  private heldOverflow = false;
  /** Last event handed to the consumer. */
  private delivered: LogPosition;
  /** Where the next catch-up page starts; `undefined` when live. */
  private catchUpFrom: LogPosition | undefined;
  private wake: (() => void) | undefined;
  private closed = false;
  private failure: Error | undefined;

  private readonly feed: LogFeed;
  private readonly filter: LogFilter;
  private readonly bufferSize: number;

  constructor(feed: LogFeed, filter: LogFilter, after: LogPosition | undefined, bufferSize: number) {
    this.feed = feed;
    this.filter = filter;
    this.bufferSize = bufferSize;
    this.delivered = after ?? feed.position;
    this.catchUpFrom = after;
  }

  /** @internal called by the follower, in commit order, for every new batch. */
  offer(events: readonly RecordedEvent[]): void {
    if (this.closed) return;
    const target = this.held ?? (this.catchUpFrom === undefined ? this.queue : undefined);
    if (!target) return; // catching up and not yet holding: the catch-up read will find these
    for (const event of events) {
      if (matchesFilter(this.filter, event)) target.push(event);
    }
    if (target.length > this.bufferSize) {
      if (target === this.held) {
        this.heldOverflow = true;
        this.held = [];
      } else {
        // Too far behind: forget what waits, re-read it from the database when the consumer asks.
        this.queue = [];
        this.catchUpFrom = this.delivered;
      }
    }
    this.wake?.();
  }

  end(): void {
    this.closed = true;
    this.feed.unsubscribe(this);
    this.queue = [];
    this.held = undefined;
    this.wake?.();
  }

  fail(error: Error): void {
    this.failure = error;
    this.end();
  }

  async next(): Promise<IteratorResult<RecordedEvent>> {
    for (;;) {
      if (this.closed) {
        if (this.failure) {
          const failure = this.failure;
          this.failure = undefined;
          throw failure;
        }
        return { value: undefined, done: true };
      }
      const event = this.queue.shift();
      if (event) {
        const position = positionOf(event);
        if (comparePositions(position, this.delivered) <= 0) continue;
        this.delivered = position;
        return { value: event, done: false };
      }
      if (this.catchUpFrom !== undefined) {
        await this.catchUpPage(this.catchUpFrom);
        continue;
      }
      await new Promise<void>((resolve) => (this.wake = resolve));
      this.wake = undefined;
    }
  }

  private async catchUpPage(from: LogPosition): Promise<void> {
    if (!this.held || this.heldOverflow) {
      // Start (or restart) holding live events; everything up to the follower's position now is read from the database.
      this.held = [];
      this.heldOverflow = false;
    }
    const target = this.feed.position;
    const page = await this.feed.readPage(from, target, this.filter, CATCH_UP_PAGE);
    if (this.closed) return;
    this.queue.push(...page.events);
    if (page.events.length === CATCH_UP_PAGE) {
      this.catchUpFrom = page.next;
      return;
    }
    if (this.heldOverflow) {
      // Live events were dropped while we read: catch up again from where this read ended.
      this.catchUpFrom = target;
      return;
    }
    const held = this.held;
    this.held = undefined;
    this.catchUpFrom = undefined;
    this.queue.push(...held.filter((e) => comparePositions(positionOf(e), target) > 0));
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
