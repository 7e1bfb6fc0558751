import type { EntityManager } from '@mikro-orm/postgresql';
import type { EventMetadata } from '../../core/message.ts';
import type { IdGenerator } from '../../core/ids.ts';
import type { CommandEnvironment, CommandObserver } from './commandHandler.ts';
import type { InlineProjection } from '../projections/projection.ts';
import { createStateCacheStore, DEFAULT_STATE_CACHE_MAX_BYTES } from './stateCache.ts';
import { KeyedSerializer } from './streamLocks.ts';
import type { Identity } from '../../core/identity.ts';
import type { Policy } from '../../core/policy.ts';
import type { UpcasterRegistry } from '../log/upcasters.ts';
import type { SnapshotStore } from '../snapshots/snapshots.ts';

/**
 * The process-wide parts of running commands, made once per process: the per-stream queue and the
 * remembered aggregate states. Returns a factory for each request's CommandEnvironment. The API and
 * the benchmarks both use it.
 */
export function commandEnvironments(options: {
  ids: IdGenerator;
  projections: readonly InlineProjection[];
  retries: number;
  /** Told after every commit that appended events (in the API, the CommitNotifier built beside the feed). */
  notifier: { committed(): void };
  /** Estimated heap the remembered aggregate states may take; 0 remembers none (every command reads its stream). */
  stateCacheMaxBytes?: number;
  /** Told how each command ended (the API counts them for /metrics). */
  observer?: CommandObserver;
  /** Each stream type's policy (see Policy). */
  policies: ReadonlyMap<string, Policy<any, any>>;
  /** The composition's upcasters: every stream a command reads is folded in its events' current shape. */
  upcasters: UpcasterRegistry;
  /** Snapshots for the deciders that keep them; without, every cold command folds its whole stream. */
  snapshots?: SnapshotStore;
}): (em: EntityManager, metadata: EventMetadata, identity: Identity) => CommandEnvironment {
  const streamLocks = new KeyedSerializer();
  const stateCacheMaxBytes = options.stateCacheMaxBytes ?? DEFAULT_STATE_CACHE_MAX_BYTES;
  const stateCache = stateCacheMaxBytes > 0 ? createStateCacheStore(stateCacheMaxBytes) : undefined;
  const onCommitted = () => options.notifier.committed();
  return (em, metadata, identity) => ({
    em,
    identity,
    policies: options.policies,
    upcasters: options.upcasters,
    ...(options.snapshots ? { snapshots: options.snapshots } : {}),
    ids: options.ids,
    projections: options.projections,
    retries: options.retries,
    streamLocks,
    stateCache,
    onCommitted,
    metadata,
    ...(options.observer ? { observer: options.observer } : {}),
  });
}
