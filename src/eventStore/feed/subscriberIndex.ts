import type { RecordedEvent } from '../../core/message.ts';
import type { LogFilter } from '../log/read.ts';

/** Whether `filter` asks for `event`. */
export function matchesFilter(filter: LogFilter, event: RecordedEvent): boolean {
  if (filter.streamId !== undefined && filter.streamId !== event.streamId) return false;
  if (filter.streamType !== undefined && filter.streamType !== event.streamType) return false;
  if (filter.streamTypes !== undefined && !filter.streamTypes.includes(event.streamType)) return false;
  if (filter.types !== undefined && !filter.types.includes(event.type)) return false;
  return true;
}

/**
 * Which subscribers may want which event. Each is filed under the most selective key of its filter
 * (stream id, else stream type, else no key), so an event costs work only for the subscribers filed
 * under its stream id, its stream type, or no key; their filters may still refuse it (event types).
 */
export class SubscriberIndex<S extends { readonly filter: LogFilter }> {
  private readonly all = new Set<S>();
  private readonly byStreamId = new Map<string, Set<S>>();
  private readonly byStreamType = new Map<string, Set<S>>();
  private readonly unkeyed = new Set<S>();

  get size(): number {
    return this.all.size;
  }

  add(subscriber: S): void {
    if (this.all.has(subscriber)) return;
    this.all.add(subscriber);
    this.file(subscriber, true);
  }

  delete(subscriber: S): void {
    if (!this.all.delete(subscriber)) return;
    this.file(subscriber, false);
  }

  /** Every subscriber as of now, in a list of its own, so ending them while iterating is safe. */
  snapshot(): S[] {
    return [...this.all];
  }

  /** Calls `visit` for every subscriber filed under the event's stream id, its stream type, or no key. */
  forEachCandidate(event: RecordedEvent, visit: (subscriber: S, event: RecordedEvent) => void): void {
    const byId = this.byStreamId.get(event.streamId);
    if (byId) for (const subscriber of byId) visit(subscriber, event);
    const byType = this.byStreamType.get(event.streamType);
    if (byType) for (const subscriber of byType) visit(subscriber, event);
    if (this.unkeyed.size > 0) for (const subscriber of this.unkeyed) visit(subscriber, event);
  }

  private file(subscriber: S, add: boolean): void {
    const { streamId, streamType } = subscriber.filter;
    const [map, key] = streamId !== undefined ? [this.byStreamId, streamId] : streamType !== undefined ? [this.byStreamType, streamType] : [undefined, undefined];
    if (!map || key === undefined) {
      if (add) this.unkeyed.add(subscriber);
      else this.unkeyed.delete(subscriber);
      return;
    }
    let set = map.get(key);
    if (add) {
      if (!set) map.set(key, (set = new Set()));
      set.add(subscriber);
    } else if (set) {
      set.delete(subscriber);
      if (set.size === 0) map.delete(key);
    }
  }
}
