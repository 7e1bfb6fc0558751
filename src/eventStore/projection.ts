import type { EntityManager } from '@mikro-orm/postgresql';
import type { EntityName } from '@mikro-orm/core';
import type { Event, RecordedEvent } from '../core/message.ts';
import { LruCache } from './lruCache.ts';

/**
 * An inline projection: runs inside the append's transaction, so its read model commits with the
 * events or not at all. A projection that throws rolls the whole command back.
 */
export type InlineProjection = {
  readonly name: string;
  /** Stream types whose events this projection wants. */
  readonly streamTypes: readonly string[];
  apply(em: EntityManager, events: readonly RecordedEvent[]): Promise<void>;
  /** Called with the same `events` once their transaction has committed (never after a rollback). */
  afterCommit?(events: readonly RecordedEvent[]): void;
};

/**
 * A read model with one row per stream, kept by a pure `evolve` over the stream's events. The same
 * `evolve` rebuilds the row as of any version for time travel, so live and historical views cannot drift.
 */
export type StreamView<View extends object, E extends Event> = {
  readonly name: string;
  readonly streamType: string;
  readonly entity: EntityName<View>;
  /** The view after `event`; `null` removes the row. Pure: everything it needs is on the event. */
  readonly evolve: (view: View | null, event: RecordedEvent<E>) => View | null;
};

/** The view of one stream rebuilt from its events (e.g. the events up to some version). */
export function replayView<View extends object, E extends Event>(
  view: Pick<StreamView<View, E>, 'evolve'>,
  events: Iterable<RecordedEvent<E>>,
): View | null {
  let state: View | null = null;
  for (const event of events) state = view.evolve(state, event);
  return state;
}

type CachedView<View> = { readonly version: number; readonly row: View | null };

/**
 * Keeps a StreamView's rows inside the append's transaction. The row each stream had after its last
 * committed event is remembered (bounded, most recently used), so the common case writes one upsert
 * and reads nothing. That is safe because a row is a pure function of its stream's events, events
 * never change once committed, and a cached row is used only when it is exactly at the version the
 * new events follow; it enters the cache only after its transaction commits.
 */
export function inlineStreamView<View extends object, E extends Event>(view: StreamView<View, E>, options: { cacheSize?: number } = {}): InlineProjection {
  const committed = new LruCache<string, CachedView<View>>(options.cacheSize ?? 10_000);
  const uncommitted = new WeakMap<readonly RecordedEvent[], Map<string, CachedView<View>>>();
  return {
    name: view.name,
    streamTypes: [view.streamType],
    async apply(em, events) {
      const byStream = new Map<string, RecordedEvent<E>[]>();
      for (const event of events) {
        if (event.streamType !== view.streamType) continue;
        const list = byStream.get(event.streamId) ?? [];
        list.push(event as RecordedEvent<E>);
        byStream.set(event.streamId, list);
      }
      const written = new Map<string, CachedView<View>>();
      for (const [streamId, streamEvents] of byStream) {
        const before = streamEvents[0]!.version - 1;
        const cached = committed.get(streamId);
        let current: View | null;
        if (before === 0) current = null;
        else if (cached?.version === before) current = cached.row;
        else {
          const row = await em.findOne(view.entity, streamId as never);
          current = row ? ({ ...row } as View) : null;
        }
        let next = current;
        for (const event of streamEvents) next = view.evolve(next, event);
        if (next !== null) await em.upsert(view.entity, next as never);
        else if (current !== null) await em.nativeDelete(view.entity, streamId as never);
        written.set(streamId, { version: streamEvents.at(-1)!.version, row: next });
      }
      uncommitted.set(events, written);
    },
    afterCommit(events) {
      for (const [streamId, entry] of uncommitted.get(events) ?? []) committed.set(streamId, entry);
    },
  };
}
