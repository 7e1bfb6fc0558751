import type { EntityManager } from '@mikro-orm/postgresql';
import type { LogPosition } from '../log/position.ts';
import type { LogFilter, LogPage } from '../log/read.ts';
import { fanOut } from './fanOut.ts';
import { FeedClosedError } from './feedClosedError.ts';
import { emptyFeedStats, FEED_DEFAULTS, type FeedOptions, type FeedSettings, type FeedStats } from './feedOptions.ts';
import { LogFollower } from './follower.ts';
import type { LogLag } from './lag.ts';
import { LogListener } from './listener.ts';
import { SubscriberIndex } from './subscriberIndex.ts';
import { FeedSubscription } from './subscription.ts';

export { FEED_DEFAULTS, type FeedOptions, type FeedStats } from './feedOptions.ts';
export { FeedClosedError } from './feedClosedError.ts';
export { matchesFilter } from './subscriberIndex.ts';
export { FeedSubscription } from './subscription.ts';

/**
 * The live feed of one process: a LISTEN connection that wakes one follower of the log (on NOTIFY,
 * sent after every commit, or on a timer), which hands each batch to the subscriptions in memory
 * that want it. Subscriptions never touch the database while they are live.
 */
export class LogFeed {
  readonly stats: FeedStats = emptyFeedStats();
  /** @internal */
  readonly settings: FeedSettings;
  private readonly subscribers = new SubscriberIndex<FeedSubscription>();
  private readonly listener: LogListener;
  private readonly follower: LogFollower;
  private readonly advanceListeners = new Set<(position: LogPosition) => void>();
  /** Backend process ids of this process's commit-notifier sessions (see notifiesFrom). */
  private readonly ownNotifiers = new Set<number>();
  private started = false;
  private stopped = false;

  constructor(options: FeedOptions) {
    const { em, databaseUrl, logger, upcasters, ...rest } = options;
    this.settings = { ...FEED_DEFAULTS, ...rest };
    this.follower = new LogFollower({ em, upcasters, logger, settings: this.settings, stats: this.stats, deliver: (events) => fanOut(this.subscribers, events),
      advanced: (position) => {
        for (const listener of this.advanceListeners) listener(position);
      },
    });
    this.listener = new LogListener({
      databaseUrl,
      logger,
      // This process's own commits already pumped the follower (CommitNotifier.committed): their
      // NOTIFY coming back would only read the log once more for nothing, once per NOTIFY.
      onNotification: (sender) => {
        if (!this.ownNotifiers.has(sender)) void this.pump();
      },
      onLost: (error) => this.failSubscriptions(error),
      onReconnected: () => {
        this.stats.reconnects++;
        void this.pump();
      },
    });
  }

  /** Every event up to here has been handed to the subscriptions that want it. */
  get position(): LogPosition {
    return this.follower.position;
  }

  /**
   * Calls `listener` with the follower's new position each time it has read further (everything up
   * to it is final: see readLog), so that processors read when the log moved instead of polling.
   * Returns the function that stops it.
   */
  onAdvance(listener: (position: LogPosition) => void): () => void {
    this.advanceListeners.add(listener);
    return () => this.advanceListeners.delete(listener);
  }

  get subscriberCount(): number {
    return this.subscribers.size;
  }

  /** True while the LISTEN connection is up; while it is down, subscribing fails fast. */
  get connected(): boolean {
    return this.listener.connected && !this.stopped;
  }

  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    // LISTEN before reading the head, so an append committing in between still wakes us.
    await this.listener.start();
    await this.follower.start();
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    const reading = this.follower.stop();
    for (const subscription of this.subscribers.snapshot()) subscription.end();
    await this.listener.stop();
    await reading;
  }

  /**
   * Events matching `filter` after `after` (or from the live head, without it), then live ones,
   * each once, in log order. Throws FeedClosedError while the feed has no database connection.
   */
  subscribe(options: { after?: LogPosition; filter?: LogFilter } = {}): FeedSubscription {
    if (this.stopped) throw new FeedClosedError('The event feed is shut down; subscribe again on another server');
    if (!this.listener.connected) throw new FeedClosedError('The event feed is reconnecting to the database; subscribe again shortly', options.after ? { resumeAfter: options.after } : {});
    const subscription = new FeedSubscription(this, options.filter ?? {}, options.after);
    this.subscribers.add(subscription);
    return subscription;
  }

  /** Reads the log now and fans out what is new; resolves when caught up with what was committed before the call. */
  /**
   * NOTIFYs from this backend session come (`own`), or no longer come, from this process's
   * CommitNotifier, which pumps this feed itself after every commit before notifying.
   */
  notifiesFrom(sender: number, own: boolean): void {
    if (own) this.ownNotifiers.add(sender);
    else this.ownNotifiers.delete(sender);
  }

  pump(): Promise<void> {
    return this.follower.pump();
  }

  /** How far this follower is behind the log and what holds the log back. */
  lag(): Promise<LogLag> {
    return this.follower.lag();
  }

  /**
   * A processor's batch: matching events after `after` up to `upTo` (at most the feed's position),
   * from the events the follower holds in memory when it still holds them, else from readLog on `em`.
   */
  readBatch(em: EntityManager, after: LogPosition, upTo: LogPosition, filter: LogFilter, limit: number): Promise<LogPage> {
    return this.follower.readBatch(em, after, upTo, filter, limit);
  }

  /** @internal */
  unsubscribe(subscription: FeedSubscription): void {
    this.subscribers.delete(subscription);
  }

  /** @internal one page of catch-up for a subscription, bounded by where the follower is. */
  readPage(after: LogPosition, upTo: LogPosition, filter: LogFilter): Promise<LogPage> {
    return this.follower.readPage(after, upTo, filter);
  }

  /** Without the LISTEN connection live delivery can't be trusted: every subscription is told to resubscribe from its last position. */
  private failSubscriptions(error: Error): void {
    for (const subscription of this.subscribers.snapshot()) {
      subscription.fail('The event feed lost its database connection; resubscribe with `after` set to the last position you received', error);
    }
  }
}
