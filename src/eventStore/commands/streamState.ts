import type { EntityManager } from '@mikro-orm/postgresql';
import type { Decider } from '../../core/decider.ts';
import type { Event, RecordedEvent } from '../../core/message.ts';
import { readStream } from '../log/read.ts';
import { foldHistory, foldStream, isReverted } from '../log/reverts.ts';
import type { UpcasterRegistry } from '../log/upcasters.ts';
import type { SnapshotStore } from '../snapshots/snapshots.ts';

/** What reading a stream's state needs: where to read, how to upcast, and the snapshots, when kept. */
export type StreamStateSource = {
  readonly em: EntityManager;
  readonly upcasters: UpcasterRegistry;
  readonly snapshots?: SnapshotStore;
};

/** A stream's state at a version; `eventsRead` says how many events were folded for it (after a snapshot, only the tail). */
export type StreamState<S> = { readonly version: number; readonly state: S; readonly eventsRead: number };

/**
 * The one place a command folds the log: the state of a stream after its events up to `toVersion`
 * (all of them when not given), starting from the newest usable snapshot when the decider keeps
 * them, and folding the events after it (upcast, like every read). Without snapshots this is the
 * fold of the whole stream, which is also what a snapshot must equal.
 */
export async function readStreamState<E extends Event, S>(
  source: StreamStateSource,
  decider: Pick<Decider<never, E, S>, 'streamType' | 'initialState' | 'evolve'>,
  streamId: string,
  toVersion?: number,
): Promise<StreamState<S>> {
  const policy = source.snapshots?.policyFor(decider.streamType);
  // Undefined when the snapshot found could not be read: the whole stream is read below instead.
  const read = policy && (await source.snapshots!.newestWithTail<S>(source.em, source.upcasters, policy, streamId, toVersion));
  const from = read?.snapshot?.version ?? 0;
  // A revert in the tail to a version before the snapshot needs the state there, which only the whole stream gives.
  if (read && !read.tail.some((event) => isReverted(event) && event.data.toVersion < from)) {
    const tail = read.tail as RecordedEvent<E>[];
    const state = foldStream<S, E>({ initial: read.snapshot?.state ?? decider.initialState(), initialVersion: from, evolve: decider.evolve }, tail);
    return { version: from + tail.length, state, eventsRead: tail.length };
  }
  const events = (await readStream(source.em, source.upcasters, streamId, toVersion !== undefined ? { toVersion } : {})) as RecordedEvent<E>[];
  return { version: events.length, state: foldHistory(decider, events), eventsRead: events.length };
}
