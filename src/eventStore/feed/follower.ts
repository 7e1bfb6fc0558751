import type { EntityManager } from '@mikro-orm/postgresql';
import type { RecordedEvent } from '../../core/message.ts';
import type { Logger } from '../../core/logger.ts';
import { query } from '../../db/sql.ts';
import { LOG_START, type LogPosition } from '../log/position.ts';
import { type LogFilter, type LogPage, readLog } from '../log/read.ts';
import type { UpcasterRegistry } from '../log/upcasters.ts';
import type { FeedSettings, FeedStats } from './feedOptions.ts';
import { readLogLag, type LogLag } from './lag.ts';
import { RecentEvents } from './recentEvents.ts';
import { matchesFilter } from './subscriberIndex.ts';

export type FollowerOptions = {
  readonly em: EntityManager;
  readonly upcasters: UpcasterRegistry;
  readonly logger: Logger;
  readonly settings: FeedSettings;
  readonly stats: FeedStats;
  /** Gets every batch, in log order, right after `position` has moved past it (same synchronous step). */
  readonly deliver: (events: readonly RecordedEvent[]) => void;
  /** Told the new position after each batch, once it is delivered: how processors are woken (see LogFeed.onAdvance). */
  readonly advanced?: (position: LogPosition) => void;
};

/**
 * The process's one reader of the log. On every wake-up, and on a timer, it reads what committed
 * since its position, in commit order and in batches, never past the horizon (see readLog), and
 * delivers each batch. The newest events stay in memory, so catch-up reads a little behind need no query.
 */
export class LogFollower {
  private readonly options: FollowerOptions;
  private readonly recent: RecentEvents;
  private current: LogPosition = LOG_START;
  private pumping: Promise<void> | undefined;
  private pumpAgain = false;
  private running = false;
  private wokenBeforeStart = false;
  private stopped = false;
  private pollTimer: NodeJS.Timeout | undefined;
  private lagTimer: NodeJS.Timeout | undefined;
  /** The lag check under way: stop waits for it, as for a read, since it holds a pooled connection. */
  private checkingLag: Promise<void> | undefined;

  constructor(options: FollowerOptions) {
    this.options = options;
    this.recent = new RecentEvents(options.settings.recentEvents, LOG_START);
  }

  /** Every event up to here has been delivered. */
  get position(): LogPosition {
    return this.current;
  }

  /** Starts at the newest event every reader may see now. Start LISTENing first, so no commit in between goes unheard. */
  async start(): Promise<void> {
    this.current = await this.head();
    this.recent.reset(this.current);
    this.running = true;
    const { pollIntervalMs, lagCheckIntervalMs } = this.options.settings;
    this.pollTimer = setInterval(() => void this.pump(), pollIntervalMs);
    this.pollTimer.unref();
    this.lagTimer = setInterval(() => {
      this.checkingLag ??= this.warnIfHeldBack().finally(() => (this.checkingLag = undefined));
    }, lagCheckIntervalMs);
    this.lagTimer.unref();
    if (this.wokenBeforeStart) void this.pump();
  }

  /** Reads no more; the promise settles once a read under way has finished (the ORM's pool may close after it). */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.pollTimer);
    clearInterval(this.lagTimer);
    await Promise.all([this.pumping, this.checkingLag]);
  }

  /** Reads the log now and delivers what is new; resolves when caught up with what was committed before the call. */
  pump(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    if (!this.running) {
      // Reading before the starting position is known would read from the log's start.
      this.wokenBeforeStart = true;
      return Promise.resolve();
    }
    if (this.pumping) {
      this.pumpAgain = true;
      return this.pumping;
    }
    this.pumping = this.readUntilCaughtUp().finally(() => (this.pumping = undefined));
    return this.pumping;
  }

  /** One catch-up page for a subscriber, bounded by `upTo` (at most this position): from memory when it holds it. */
  readPage(after: LogPosition, upTo: LogPosition, filter: LogFilter): Promise<LogPage> {
    const { em, upcasters, settings, stats } = this.options;
    const held = this.recent.read(after, upTo, filter, settings.catchUpPageSize, matchesFilter);
    if (held) {
      stats.catchUpPagesFromMemory++;
      return Promise.resolve(held);
    }
    stats.catchUpPages++;
    return readLog(em, upcasters, { after, upTo, filter, limit: settings.catchUpPageSize });
  }

  /** The same page for a processor's batch (`limit` events at most), on `em`; not counted among subscribers' catch-up reads. */
  readBatch(em: EntityManager, after: LogPosition, upTo: LogPosition, filter: LogFilter, limit: number): Promise<LogPage> {
    return Promise.resolve(this.recent.read(after, upTo, filter, limit, matchesFilter) ?? readLog(em, this.options.upcasters, { after, upTo, filter, limit }));
  }

  /** How far this follower is behind the log and what holds the log back. */
  lag(): Promise<LogLag> {
    return readLogLag(this.options.em, this.current);
  }

  /** Reads until caught up; wake-ups while reading fold into one more round. */
  private async readUntilCaughtUp(): Promise<void> {
    const { em, upcasters, settings, stats, deliver, logger } = this.options;
    try {
      do {
        this.pumpAgain = false;
        for (;;) {
          stats.logReads++;
          const page = await readLog(em, upcasters, { after: this.current, limit: settings.batchSize });
          if (this.stopped || page.events.length === 0) break;
          // Position and delivery change together, synchronously: a subscription that reads the
          // position has been offered everything up to it and will be offered everything after it.
          this.current = page.next;
          this.recent.append(page.events);
          stats.eventsRead += page.events.length;
          deliver(page.events);
          this.options.advanced?.(this.current);
          if (page.events.length < settings.batchSize) break;
        }
      } while (this.pumpAgain && !this.stopped);
    } catch (error) {
      stats.readErrors++;
      logger.error('event feed could not read the log; retrying on the next wake-up', { error });
    }
  }

  /** The newest event every reader may see now. */
  private async head(): Promise<LogPosition> {
    const [row] = await query<{ transaction_id: string; global_position: string }>(
      this.options.em,
      `select transaction_id::text, global_position from events
       where transaction_id < pg_snapshot_xmin(pg_current_snapshot())
       order by events.transaction_id desc, events.global_position desc limit 1`,
    );
    return row ? { transactionId: BigInt(row.transaction_id), globalPosition: BigInt(row.global_position) } : LOG_START;
  }

  private async warnIfHeldBack(): Promise<void> {
    if (this.stopped) return;
    const { logger, settings } = this.options;
    try {
      const lag = await this.lag();
      const oldest = lag.oldestOpenTransaction;
      if (lag.eventsHeldBack > 0 && oldest && oldest.ageSeconds >= settings.lagWarningSeconds) {
        logger.warn('a long-running transaction holds the event feed back', { eventsHeldBack: lag.eventsHeldBack, eventsBehind: lag.eventsBehind, transaction: oldest });
      }
    } catch (error) {
      logger.warn('event feed could not measure its lag', { error });
    }
  }
}
