import type { RecordedEvent } from '../../core/message.ts';
import { comparePositions, type LogPosition, positionOf } from '../log/position.ts';
import type { LogFilter, LogPage } from '../log/read.ts';

/**
 * The newest events the follower read, in log order: every event after `floor` up to the newest
 * one is held, so a subscription a little behind (reconnecting, or briefly too slow) catches up from
 * memory instead of sending its own queries, which under load would pile onto the pool exactly when
 * the server is busiest. Bounded by count; older reads go to the database as before.
 */
export class RecentEvents {
  private readonly capacity: number;
  private readonly maxBytes: number;
  private events: RecordedEvent[] = [];
  private sizes: number[] = [];
  private first = 0;
  private bytes = 0;
  private floor: LogPosition;

  /** Holds at most `capacity` events and, roughly, `maxBytes` of them (payloads can be large). */
  constructor(capacity: number, floor: LogPosition, maxBytes = 16 * 1024 * 1024) {
    this.capacity = capacity;
    this.maxBytes = maxBytes;
    this.floor = floor;
  }

  /** Starts over: nothing is held, and the next events follow `floor`. */
  reset(floor: LogPosition): void {
    this.events = [];
    this.sizes = [];
    this.first = 0;
    this.bytes = 0;
    this.floor = floor;
  }

  /** The follower's next batch, which continues exactly where the previous one ended. */
  append(batch: readonly RecordedEvent[]): void {
    for (const event of batch) {
      // A rough size: the payloads dominate, and they are what makes a few events weigh megabytes.
      const size = 256 + JSON.stringify(event.data).length + JSON.stringify(event.metadata).length;
      this.events.push(event);
      this.sizes.push(size);
      this.bytes += size;
    }
    let dropped = false;
    while (this.first < this.events.length && (this.events.length - this.first > this.capacity || this.bytes > this.maxBytes)) {
      this.bytes -= this.sizes[this.first]!;
      this.first++;
      dropped = true;
    }
    if (dropped) this.floor = positionOf(this.events[this.first - 1]!);
    // Compact now and then rather than shifting on every batch.
    if (this.first > 1024 && this.first * 2 > this.events.length) {
      this.events = this.events.slice(this.first);
      this.sizes = this.sizes.slice(this.first);
      this.first = 0;
    }
  }

  /** A catch-up page served from memory, or undefined when some of it is no longer (or not yet) held. */
  read(after: LogPosition, upTo: LogPosition, filter: LogFilter, limit: number, matches: (filter: LogFilter, event: RecordedEvent) => boolean): LogPage | undefined {
    if (comparePositions(after, this.floor) < 0) return undefined;
    const newest = this.events.at(-1);
    if (newest === undefined || comparePositions(upTo, this.first < this.events.length ? positionOf(newest) : this.floor) > 0) {
      return comparePositions(upTo, after) <= 0 ? { events: [], next: after } : undefined;
    }
    // Binary search for the first event after `after`.
    let low = this.first;
    let high = this.events.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (comparePositions(positionOf(this.events[middle]!), after) <= 0) low = middle + 1;
      else high = middle;
    }
    const page: RecordedEvent[] = [];
    for (let i = low; i < this.events.length && page.length < limit; i++) {
      const event = this.events[i]!;
      if (comparePositions(positionOf(event), upTo) > 0) break;
      if (matches(filter, event)) page.push(event);
    }
    const last = page.at(-1);
    return { events: page, next: last ? positionOf(last) : after };
  }

  get size(): number {
    return this.events.length - this.first;
  }
}
