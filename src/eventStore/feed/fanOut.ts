import type { RecordedEvent } from '../../core/message.ts';
import { comparePositions, type LogPosition, positionOf } from '../log/position.ts';
import type { LogFilter } from '../log/read.ts';
import type { FeedStats } from './feedOptions.ts';
import { matchesFilter, type SubscriberIndex } from './subscriberIndex.ts';

/** What the follower's batches are handed to. */
export interface Subscriber {
  readonly filter: LogFilter;
  /** Takes an event its filter matches; true when the subscriber should be woken once the batch is out. */
  offer(event: RecordedEvent): boolean;
  wakeUp(): void;
}

/**
 * Hands one batch, in log order, to every subscriber whose filter matches each event, then wakes
 * each subscriber that got any, once. Synchronous, so that when the follower moves its position and
 * calls this in one step, no subscriber sees the position without the events it covers.
 */
export function fanOut<S extends Subscriber>(subscribers: SubscriberIndex<S>, events: readonly RecordedEvent[]): void {
  const touched: S[] = [];
  const visit = (subscriber: S, event: RecordedEvent) => {
    if (matchesFilter(subscriber.filter, event) && subscriber.offer(event)) touched.push(subscriber);
  };
  for (const event of events) subscribers.forEachCandidate(event, visit);
  for (const subscriber of touched) subscriber.wakeUp();
}

/**
 * What one subscriber has waiting, never more than `capacity` events. Live, offered events join the
 * queue; a live subscriber that falls `capacity` behind loses what waits and is no longer live (it
 * catches up from the database from the last event it took). Catching up, offered events are held
 * while a page is read, and join the queue when the subscriber goes live; a hold that overflows is
 * dropped, and the database read has to cover those events too.
 */
export class Inbox {
  private readonly capacity: number;
  private readonly stats: Pick<FeedStats, 'fallbacks'>;
  private queue: RecordedEvent[] = [];
  private head = 0;
  private isLive: boolean;
  /** Catching up: live events offered since holding started; `undefined` while not holding. */
  private held: RecordedEvent[] | undefined;
  private heldOverflowed = false;

  constructor(capacity: number, live: boolean, stats: Pick<FeedStats, 'fallbacks'>) {
    this.capacity = capacity;
    this.isLive = live;
    this.stats = stats;
  }

  get live(): boolean {
    return this.isLive;
  }

  /** Nothing waits in the queue. */
  get empty(): boolean {
    return this.head === this.queue.length;
  }

  /** A new event from the follower; true when it is the only one waiting (the consumer may be asleep). */
  offer(event: RecordedEvent): boolean {
    if (this.isLive) {
      if (this.queue.length - this.head >= this.capacity) {
        // Too far behind: forget what waits and re-read it from the database when the consumer asks.
        this.clear();
        this.isLive = false;
        this.stats.fallbacks++;
        return false;
      }
      this.queue.push(event);
      return this.queue.length - this.head === 1;
    }
    if (!this.held || this.heldOverflowed) return false;
    if (this.held.length >= this.capacity) {
      // The database read will have to cover these too; stop holding until it has.
      this.held = [];
      this.heldOverflowed = true;
      return false;
    }
    this.held.push(event);
    return false;
  }

  /** The next waiting event, if any. */
  take(): RecordedEvent | undefined {
    if (this.head === this.queue.length) return undefined;
    const event = this.queue[this.head]!;
    this.queue[this.head++] = undefined as never; // let it be collected once handed out
    if (this.head === this.queue.length) {
      this.queue = [];
      this.head = 0;
    }
    return event;
  }

  /** Catching up, before a page is read: (re)start holding, unless a hold is under way and whole. */
  hold(): void {
    if (this.held && !this.heldOverflowed) return;
    this.held = [];
    this.heldOverflowed = false;
  }

  /** Catching up: a page read from the log joins the queue. */
  enqueue(events: readonly RecordedEvent[]): void {
    for (const event of events) this.queue.push(event);
  }

  /**
   * Catching up, once everything up to `upTo` is in the queue: goes live with the held events after
   * `upTo`. False when the hold overflowed: read on from `upTo` (holding restarts with the next page).
   */
  goLive(upTo: LogPosition): boolean {
    if (this.heldOverflowed) return false;
    const held = this.held ?? [];
    this.held = undefined;
    this.isLive = true;
    for (const event of held) {
      if (comparePositions(positionOf(event), upTo) > 0) this.queue.push(event);
    }
    return true;
  }

  clear(): void {
    this.queue = [];
    this.head = 0;
    this.held = undefined;
  }
}
