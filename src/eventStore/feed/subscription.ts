import type { RecordedEvent } from '../../core/message.ts';
import { comparePositions, type LogPosition, positionOf } from '../log/position.ts';
import type { LogFilter, LogPage } from '../log/read.ts';
import { Inbox, type Subscriber } from './fanOut.ts';
import { FeedClosedError } from './feedClosedError.ts';
import type { FeedSettings, FeedStats } from './feedOptions.ts';

/** What a subscription needs from its feed. */
export interface SubscriptionSource {
  /** Every event up to here has been offered to the live subscriptions that want it. */
  readonly position: LogPosition;
  readonly settings: Pick<FeedSettings, 'bufferSize' | 'catchUpPageSize'>;
  readonly stats: FeedStats;
  /** One catch-up page after `after`, up to `upTo`. */
  readPage(after: LogPosition, upTo: LogPosition, filter: LogFilter): Promise<LogPage>;
  unsubscribe(subscription: FeedSubscription): void;
}

/**
 * One subscriber's view of the feed: catch-up, then live, without a gap or a duplicate at the seam.
 * - live: the follower's fan-out queues matching events in the inbox, at most `bufferSize` of them;
 * - catching up: pages are read from the database after `cursor`, each up to the follower's
 *   position at that moment, while live events offered meanwhile are held in the inbox. When a page
 *   comes back short, the held events after that page's bound join the queue and the subscription is
 *   live. The seam is exact because the follower updates its position and offers the batch in one
 *   synchronous step: everything up to the position read was offered before holding could have
 *   started, or is in the database read; everything after it is held.
 * A live subscriber that falls `bufferSize` behind goes back to catching up from the last event it
 * took (see Inbox). Memory per subscriber stays bounded, and nothing is lost or repeated.
 */
export class FeedSubscription implements AsyncIterableIterator<RecordedEvent>, Subscriber {
  /** @internal */
  readonly filter: LogFilter;
  private readonly feed: SubscriptionSource;
  private readonly inbox: Inbox;
  /** Catching up: the next page starts after this; `undefined`: after the last event handed out. */
  private cursor: LogPosition | undefined;
  /** The last event handed to the consumer (or where the subscription started). */
  private delivered: LogPosition;
  private wake: (() => void) | undefined;
  private closed = false;
  private failure: FeedClosedError | undefined;

  constructor(feed: SubscriptionSource, filter: LogFilter, after: LogPosition | undefined) {
    this.feed = feed;
    this.filter = filter;
    this.delivered = after ?? feed.position;
    this.inbox = new Inbox(feed.settings.bufferSize, after === undefined, feed.stats);
  }

  /** Where this subscription would resume: the last event it handed out, or where it started. */
  get lastPosition(): LogPosition {
    return this.delivered;
  }

  /** @internal called by the fan-out, in log order, for every new event the filter matches. */
  offer(event: RecordedEvent): boolean {
    return !this.closed && this.inbox.offer(event);
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
    this.inbox.clear();
    this.wakeUp();
  }

  /** @internal ends the subscription with a FeedClosedError carrying where to resume. */
  fail(message: string, cause?: unknown): void {
    if (this.closed) return;
    this.failure = new FeedClosedError(message, { cause, resumeAfter: this.delivered });
    this.feed.stats.subscriptionsFailed++;
    this.end();
  }

  /**
   * The next event that is already waiting, without waiting or reading: undefined when none is (or
   * the subscription is closed; `next()` then says how it ended). A consumer that delivers
   * synchronously drains what a fan-out batch left it in one go, and awaits `next()` only for more.
   */
  takeReady(): RecordedEvent | undefined {
    if (this.closed) return undefined;
    for (;;) {
      const event = this.inbox.take();
      if (!event) return undefined;
      const position = positionOf(event);
      if (comparePositions(position, this.delivered) <= 0) continue;
      this.delivered = position;
      return event;
    }
  }

  /**
   * Calls `wake` once, when the fan-out next leaves this subscription an event or it ends, and
   * returns true; false, keeping nothing, while an event waits, while it is catching up (`next()`
   * reads the pages) or once it has ended. A pushing consumer waits so instead of in `next()`,
   * holding one function rather than suspended calls for as long as nothing happens.
   */
  wakeWhenReady(wake: () => void): boolean {
    if (this.closed || !this.inbox.live || !this.inbox.empty) return false;
    this.wake = wake;
    return true;
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
      const event = this.takeReady();
      if (event) return { value: event, done: false };
      if (!this.inbox.live) {
        await this.catchUpPage();
        continue;
      }
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }

  private async catchUpPage(): Promise<void> {
    // Live events from now on are after the bound this page reads up to.
    this.inbox.hold();
    const upTo = this.feed.position;
    let page: LogPage;
    try {
      page = await this.feed.readPage(this.cursor ?? this.delivered, upTo, this.filter);
    } catch (error) {
      this.fail('The event feed could not read the log; resubscribe with `after` set to the last position you received', error);
      return;
    }
    if (this.closed) return;
    this.inbox.enqueue(page.events);
    if (page.events.length === this.feed.settings.catchUpPageSize) {
      this.cursor = page.next;
      return;
    }
    // Everything up to `upTo` is now in the queue: live from here, or, if the hold overflowed, read on from `upTo`.
    this.cursor = this.inbox.goLive(upTo) ? undefined : upTo;
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
