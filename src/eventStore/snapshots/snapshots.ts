import type { EntityManager } from '@mikro-orm/postgresql';
import type { Decider } from '../../core/decider.ts';
import type { Logger } from '../../core/logger.ts';
import type { RecordedEvent } from '../../core/message.ts';
import { query } from '../../db/sql.ts';
import { EVENT_COLUMNS, type EventRow, toRecordedEvent } from '../log/recorded.ts';
import type { UpcasterRegistry } from '../log/upcasters.ts';

/**
 * A decider's opt-in to snapshots: after every `every` events its state is stored, so a command
 * that remembers nothing of the stream folds only the events after the newest snapshot. `version`
 * names the state's shape: change it whenever the state (or evolve's meaning) changes, and every
 * snapshot taken with another version is ignored. A state that is not plain JSON (a Map, a Date, a
 * bigint) needs `serialise` and `deserialise`; both must round-trip exactly.
 */
export type SnapshotPolicy<S = any> = {
  readonly streamType: string;
  readonly every: number;
  readonly version: number;
  readonly serialise?: (state: S) => unknown;
  readonly deserialise?: (stored: unknown) => S;
};

/** A snapshot policy for a decider, typed by its state. */
export function snapshotPolicy<S>(decider: Pick<Decider<any, any, S>, 'streamType'>, settings: Omit<SnapshotPolicy<S>, 'streamType'>): SnapshotPolicy<S> {
  return { streamType: decider.streamType, ...settings };
}

/** A stored state: the fold of the stream's first `version` events. */
export type Snapshot<S> = { readonly version: number; readonly state: S };

/** The policies of a composition by stream type, checked: one per stream type, whole numbers from 1. */
export function snapshotPolicies(policies: readonly SnapshotPolicy[], streamTypes: ReadonlySet<string>): ReadonlyMap<string, SnapshotPolicy> {
  const byType = new Map<string, SnapshotPolicy>();
  for (const policy of policies) {
    const name = `The snapshot policy of ${policy.streamType}`;
    if (!streamTypes.has(policy.streamType)) throw new Error(`${name} is for a stream type no decider owns`);
    if (byType.has(policy.streamType)) throw new Error(`${name} is given twice`);
    if (!Number.isInteger(policy.every) || policy.every < 1) throw new Error(`${name}: every must be a whole number from 1, not ${policy.every}`);
    if (!Number.isInteger(policy.version) || policy.version < 1) throw new Error(`${name}: version must be a whole number from 1, not ${policy.version}`);
    if ((policy.serialise === undefined) !== (policy.deserialise === undefined)) throw new Error(`${name} needs both serialise and deserialise, or neither`);
    byType.set(policy.streamType, policy);
  }
  return byType;
}

/**
 * The newest snapshot of the policy's version at or below $4 and the events after it up to $4, in one
 * round trip, so a stream that has no snapshot costs what reading it did before snapshots. The
 * snapshot comes as the one row whose `snapshot_at` is set; its event columns are null.
 */
const NEWEST_AND_TAIL_SQL = `
  with snap as (
    select stream_version, state from snapshots
    where stream_id = $1 and snapshot_version = $2 and stream_type = $3 and stream_version <= $4
    order by stream_version desc limit 1
  )
  select null::int as snapshot_at, null::jsonb as snapshot_state, ${EVENT_COLUMNS} from events
  where stream_id = $1 and stream_version > coalesce((select stream_version from snap), 0) and stream_version <= $4
  union all
  select stream_version, state, null, null, null, null, null, null, null, null, null, null from snap
  order by stream_version`;

type SnapshotOrEventRow = EventRow & { snapshot_at: number | null; snapshot_state: unknown };

/**
 * Stores the snapshot only if the stream's event at that version is still the one the state was
 * folded up to, so a snapshot of a version that never committed (a caller's transaction rolled
 * back) is never written; then drops the stream's older snapshots, which nothing reads any more.
 */
const WRITE_SQL = `
  with written as (
    insert into snapshots (stream_id, snapshot_version, stream_version, stream_type, state)
    select $1, $2, $3, $4, $5::jsonb
    where exists (select 1 from events where stream_id = $1 and stream_version = $3 and event_id = $6::uuid)
    on conflict do nothing
    returning stream_version
  )
  delete from snapshots
  where stream_id = $1 and exists (select 1 from written)
    and ((snapshot_version = $2 and stream_version < $3) or snapshot_version < $2)`;

/**
 * The snapshots of one process: finds the newest usable one for a cold command, and writes new ones
 * after commits without the command waiting (a write that fails is logged and costs nothing but
 * a longer fold later). `settled` waits for the writes under way (shutdown, tests).
 */
export class SnapshotStore {
  private readonly policies: ReadonlyMap<string, SnapshotPolicy>;
  private readonly logger: Logger;
  private readonly pending = new Set<Promise<void>>();

  constructor(options: { policies: ReadonlyMap<string, SnapshotPolicy>; logger: Logger }) {
    this.policies = options.policies;
    this.logger = options.logger;
  }

  policyFor(streamType: string): SnapshotPolicy | undefined {
    return this.policies.get(streamType);
  }

  /**
   * The newest snapshot of the stream at or below `toVersion` taken with the policy's version, if
   * any, and the stream's events after it up to `toVersion` (all of them without a snapshot);
   * undefined when the snapshot found cannot be read (the caller then reads the whole stream).
   */
  async newestWithTail<S>(
    em: EntityManager, upcasters: UpcasterRegistry, policy: SnapshotPolicy<S>, streamId: string, toVersion = 2_147_483_647,
  ): Promise<{ snapshot: Snapshot<S> | undefined; tail: RecordedEvent[] } | undefined> {
    const rows = await query<SnapshotOrEventRow>(em, NEWEST_AND_TAIL_SQL, [streamId, policy.version, policy.streamType, toVersion]);
    const found = rows.find((row) => row.snapshot_at !== null);
    const tail = rows.filter((row) => row.snapshot_at === null).map((row) => toRecordedEvent(row, upcasters));
    if (!found) return { snapshot: undefined, tail };
    try {
      const state = policy.deserialise ? policy.deserialise(found.snapshot_state) : (found.snapshot_state as S);
      return { snapshot: { version: found.snapshot_at!, state }, tail };
    } catch (error) {
      // A snapshot that cannot be read is only a lost shortcut: the stream is folded from its start.
      this.logger.warn('snapshot unreadable, folding the whole stream', { streamId, streamType: policy.streamType, version: found.snapshot_at, error: String(error) });
      return undefined;
    }
  }

  /**
   * After a commit took the stream from `fromVersion` to `snapshot.version`: when that crossed a
   * multiple of the policy's `every`, stores the state in the background on a fork of `em` (which
   * MikroORM binds to the pool, never to the command's transaction). Returns at once.
   */
  afterCommit<S>(em: EntityManager, streamType: string, streamId: string, fromVersion: number, snapshot: Snapshot<S>, lastEventId: string): void {
    const policy = this.policies.get(streamType) as SnapshotPolicy<S> | undefined;
    if (!policy || Math.floor(fromVersion / policy.every) === Math.floor(snapshot.version / policy.every)) return;
    const write = this.write(em.fork(), policy, streamId, snapshot, lastEventId).then(
      () => undefined,
      (error: unknown) => this.logger.warn('snapshot not written', { streamId, streamType, version: snapshot.version, error: String(error) }),
    );
    this.pending.add(write);
    void write.finally(() => this.pending.delete(write));
  }

  private async write<S>(em: EntityManager, policy: SnapshotPolicy<S>, streamId: string, snapshot: Snapshot<S>, lastEventId: string): Promise<void> {
    const state = JSON.stringify(policy.serialise ? policy.serialise(snapshot.state) : snapshot.state);
    await query(em, WRITE_SQL, [streamId, policy.version, snapshot.version, policy.streamType, state, lastEventId]);
  }

  /** Resolves once every snapshot write started so far has finished (or failed and been logged). */
  async settled(): Promise<void> {
    while (this.pending.size > 0) await Promise.all([...this.pending]);
  }
}
