import type { EntityManager } from '@mikro-orm/postgresql';
import type { EntityName } from '@mikro-orm/core';
import type { Event, RecordedEvent } from '../core/message.ts';

/**
 * An inline projection: runs inside the append's transaction, so its read model commits with the
 * events or not at all. A projection that throws rolls the whole command back.
 */
export type InlineProjection = {
  readonly name: string;
  /** Stream types whose events this projection wants. */
  readonly streamTypes: readonly string[];
  apply(em: EntityManager, events: readonly RecordedEvent[]): Promise<void>;
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

export function inlineStreamView<View extends object, E extends Event>(view: StreamView<View, E>): InlineProjection {
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
      for (const [streamId, streamEvents] of byStream) {
        const row = await em.findOne(view.entity, streamId as never);
        let next: View | null = row ? ({ ...row } as View) : null;
        for (const event of streamEvents) next = view.evolve(next, event);
        if (next === null) {
          if (row) em.remove(row);
        } else if (row) {
          em.assign(row, next as never);
        } else {
          em.create(view.entity, next as never);
        }
      }
      await em.flush();
    },
  };
}
