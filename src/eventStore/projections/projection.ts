import type { EntityManager } from '@mikro-orm/postgresql';
import { type EntityName, LockMode } from '@mikro-orm/core';
import type { Event, RecordedEvent } from '../../core/message.ts';
import { LRUCache } from 'lru-cache';
import { deleteSql, upsertSql, type Bind } from './upsertSql.ts';
import { readStream } from '../log/read.ts';
import { foldStream, isReverted, type Reverted } from '../log/reverts.ts';
import type { UpcasterRegistry } from '../log/upcasters.ts';

/**
 * An inline projection: runs inside the append's transaction, so its read model commits with the
 * events or not at all. A projection that throws rolls the whole command back.
 */
export type InlineProjection = {
  readonly name: string;
  /** Stream types whose events this projection wants. */
  readonly streamTypes: readonly string[];
  /** `upcasters` is for reading more of the log than `events` (a revert replays the stream): read events must be in their current shape. */
  apply(em: EntityManager, events: readonly RecordedEvent[], upcasters: UpcasterRegistry): Promise<void>;
  /**
   * Optional fast path: the projection's writes as SQL riding along in the append statement, when
   * they need no reads. Return undefined to have `apply` run in a transaction instead. The events'
   * log positions are not known yet here.
   */
  plan?(em: EntityManager, events: readonly RecordedEvent[]): PlannedWrites | undefined;
  /** Called with the same `events` once their transaction has committed (never after a rollback). */
  afterCommit?(events: readonly RecordedEvent[]): void;
  /** How to rebuild this projection's tables from the log (see rebuild.ts); without it, it cannot be rebuilt. */
  readonly rebuild?: Rebuildable;
};

/**
 * What a rebuild needs to know of a projection. A rebuild builds the projection's tables beside the
 * live ones (in a schema of their own, first on the search path, so the projection's unqualified
 * SQL and MikroORM's writes land there unchanged), catches up and swaps them in atomically.
 */
export type Rebuildable = {
  /**
   * Bump it whenever the code changes what the projection writes for the same events. The version
   * the live tables were built with is stored (projection_versions); a different one marks the
   * read model stale until it is rebuilt.
   */
  readonly version: number;
  /** The entities whose tables this projection alone writes: what is rebuilt and swapped. */
  readonly entities: readonly EntityName<any>[];
  /** A new instance that remembers nothing, so a rebuild leaves the live instance's caches alone. */
  fresh(): InlineProjection;
  /**
   * For a view of one row per stream: lets the rebuild fold the log stream by stream (each row is a
   * pure function of its own stream) and bulk-insert rows, instead of applying the log in commit order.
   */
  readonly view?: Pick<StreamView<any, any>, 'streamType' | 'entity' | 'evolve'>;
  /**
   * Whether the live instance may remember rows between commands (default on). Off while the live
   * tables were built by another version: a remembered row may then have grown from an old row, and
   * would be written on into the rebuilt tables. Switching it off forgets what was remembered.
   */
  remember?(on: boolean): void;
};

export type PlannedWrites = {
  /** Statements for the append statement's CTEs; each must hold `condition` (the append happened). */
  readonly sql: (bind: Bind, condition: string) => string[];
  /** The rows written, so callers can register them with their EntityManager instead of reading them back. */
  readonly rows: readonly { readonly entity: EntityName<any>; readonly row: object }[];
};

/**
 * A read model with one row per stream, kept by a pure `evolve` over the stream's events. The same
 * `evolve` rebuilds the row as of any version for time travel, so live and historical views cannot drift.
 */
export type StreamView<View extends object, E extends Event> = {
  readonly name: string;
  readonly streamType: string;
  readonly entity: EntityName<View>;
  /** The code's version of the view (default 1): bump it when `evolve` changes, and rebuild (see Rebuildable.version). */
  readonly version?: number;
  /** The view after `event`; `null` removes the row. Pure: everything it needs is on the event. */
  readonly evolve: (view: View | null, event: RecordedEvent<E>) => View | null;
  /**
   * The row after a revert (see reverts.ts), from the row as it was at the revert's target version:
   * typically that row with the revert's version and time, so `version` stays the stream's. Without
   * it, the target's row as it was.
   */
  readonly reverted?: (view: View, event: RecordedEvent<Reverted>) => View;
};

/**
 * The view of one stream rebuilt from its events from version 1 (e.g. up to some version), reverts
 * included: what time travel, a replayed command and any rebuild use, so they agree with the live row.
 */
export function replayView<View extends object, E extends Event>(
  view: Pick<StreamView<View, E>, 'evolve' | 'reverted'>,
  events: Iterable<RecordedEvent<E | Reverted>>,
): View | null {
  const { reverted } = view;
  return foldStream<View | null, E>({ initial: null, evolve: view.evolve, ...(reverted ? { reverted: (row, event) => row && reverted(row, event) } : {}) }, events);
}

type CachedView<View> = { readonly version: number; readonly row: View | null };

/**
 * Keeps a StreamView's rows in step with the log. The row each stream had after its last committed
 * event is remembered (bounded, most recently used), so the common case reads nothing and writes one
 * upsert, riding along in the append statement itself. That is safe because a row is a pure function
 * of its stream's events, committed events never change, and a remembered row is used only when it is
 * exactly at the version the new events follow; it is remembered only after its write committed.
 */
export function inlineStreamView<View extends object, E extends Event>(view: StreamView<View, E>, options: { cacheSize?: number } = {}): InlineProjection {
  const committed = new LRUCache<string, CachedView<View>>({ max: options.cacheSize ?? 10_000 });
  let remembering = true;
  const uncommitted = new WeakMap<readonly RecordedEvent[], Map<string, CachedView<View>>>();

  const byStream = (events: readonly RecordedEvent[]) => {
    const groups = new Map<string, RecordedEvent<E>[]>();
    for (const event of events) {
      if (event.streamType !== view.streamType) continue;
      const list = groups.get(event.streamId) ?? [];
      list.push(event as RecordedEvent<E>);
      groups.set(event.streamId, list);
    }
    return groups;
  };
  /** The row before these events, when known without reading: a new stream, or remembered. */
  const knownBefore = (streamId: string, streamEvents: RecordedEvent<E>[]): { row: View | null } | undefined => {
    // A revert needs the row at an older version, which only the stream's events know: `apply` reads them.
    if (streamEvents.some(isReverted)) return undefined;
    const before = streamEvents[0]!.version - 1;
    if (before === 0) return { row: null };
    const cached = remembering ? committed.get(streamId) : undefined;
    return cached?.version === before ? { row: cached.row } : undefined;
  };
  const evolveAll = (row: View | null, streamEvents: RecordedEvent<E>[]) => streamEvents.reduce<View | null>((v, e) => view.evolve(v, e), row);
  /** The row after events that hold a revert: the whole stream replayed, its committed part read in this transaction. */
  const replayedAfter = async (em: EntityManager, upcasters: UpcasterRegistry, streamId: string, streamEvents: RecordedEvent<E>[]) =>
    replayView(view, [...((await readStream(em, upcasters, streamId, { toVersion: streamEvents[0]!.version - 1 })) as RecordedEvent<E>[]), ...streamEvents]);

  return {
    name: view.name,
    streamTypes: [view.streamType],
    rebuild: {
      version: view.version ?? 1,
      entities: [view.entity],
      view,
      // A rebuild touches every stream once, in a burst: its own, larger memory of rows.
      fresh: () => inlineStreamView(view, { cacheSize: 100_000 }),
      remember(on) {
        remembering = on;
        if (!on) committed.clear();
      },
    },
    plan(em, events) {
      const changes: { streamId: string; before: View | null; after: View | null; version: number }[] = [];
      for (const [streamId, streamEvents] of byStream(events)) {
        const known = knownBefore(streamId, streamEvents);
        if (!known) return undefined;
        changes.push({ streamId, before: known.row, after: evolveAll(known.row, streamEvents), version: streamEvents.at(-1)!.version });
      }
      uncommitted.set(events, new Map(changes.map((c) => [c.streamId, { version: c.version, row: c.after }])));
      return {
        sql: (bind, condition) =>
          changes.flatMap(({ streamId, before, after }) => {
            if (after !== null) return [upsertSql(em, view.entity, after as Record<string, unknown>, bind, condition)];
            return before === null ? [] : [deleteSql(em, view.entity, streamId, bind, condition)];
          }),
        rows: changes.flatMap((c) => (c.after === null ? [] : [{ entity: view.entity, row: c.after }])),
      };
    },
    async apply(em, events, upcasters) {
      const written = new Map<string, CachedView<View>>();
      for (const [streamId, streamEvents] of byStream(events)) {
        let current = knownBefore(streamId, streamEvents)?.row;
        if (current === undefined) {
          // FOR SHARE: while a rebuild switches tables (it holds them IN EXCLUSIVE MODE) this read
          // waits, then reads the rebuilt table, instead of growing a row the switch is replacing.
          const row = await em.findOne(view.entity, streamId as never, { lockMode: LockMode.PESSIMISTIC_READ });
          current = row ? ({ ...row } as View) : null;
        }
        const next = streamEvents.some(isReverted) ? await replayedAfter(em, upcasters, streamId, streamEvents) : evolveAll(current, streamEvents);
        if (next !== null) await em.upsert(view.entity, next as never);
        else if (current !== null) await em.nativeDelete(view.entity, streamId as never);
        written.set(streamId, { version: streamEvents.at(-1)!.version, row: next });
      }
      uncommitted.set(events, written);
    },
    afterCommit(events) {
      if (!remembering) return;
      for (const [streamId, entry] of uncommitted.get(events) ?? []) committed.set(streamId, entry);
    },
  };
}
