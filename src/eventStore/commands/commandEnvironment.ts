import type { EntityManager } from '@mikro-orm/postgresql';
import type { EventMetadata } from '../../core/message.ts';
import type { IdGenerator } from '../../core/ids.ts';
import type { Logger } from '../../core/logger.ts';
import { EVENTS_CHANNEL } from '../log/append.ts';
import type { CommandEnvironment, CommandObserver } from './commandHandler.ts';
import { CommitNotifier } from '../feed/commitNotifier.ts';
import type { InlineProjection } from '../projections/projection.ts';
import { createStateCacheStore, DEFAULT_STATE_CACHE_MAX_BYTES } from './stateCache.ts';
import { KeyedSerializer } from './streamLocks.ts';

/**
 * The process-wide parts of running commands, made once per process: the per-stream queue, the
 * remembered aggregate states, and the after-commit notifier (publish after commit, never before:
 * it wakes this process's follower at once and, coalesced, the other instances' followers).
 * Returns a factory for each request's CommandEnvironment. The API and the benchmarks both use it.
 */
export function commandEnvironments(options: {
  em: EntityManager;
  ids: IdGenerator;
  projections: readonly InlineProjection[];
  retries: number;
  logger: Logger;
  /** Estimated heap the remembered aggregate states may take; 0 remembers none (every command reads its stream). */
  stateCacheMaxBytes?: number;
  /** Told how each command ended (the API counts them for /metrics). */
  observer?: CommandObserver;
  /** Wakes this process's own log follower, if it has one. */
  wakeLocalFeed?: () => void;
}): (em: EntityManager, metadata: EventMetadata) => CommandEnvironment {
  const streamLocks = new KeyedSerializer();
  const stateCacheMaxBytes = options.stateCacheMaxBytes ?? DEFAULT_STATE_CACHE_MAX_BYTES;
  const stateCache = stateCacheMaxBytes > 0 ? createStateCacheStore(stateCacheMaxBytes) : undefined;
  const notifier = new CommitNotifier({
    send: () => options.em.getConnection().execute(`select pg_notify('${EVENTS_CHANNEL}', '')`),
    wakeLocal: options.wakeLocalFeed ?? (() => undefined),
    logger: options.logger,
  });
  const onCommitted = () => notifier.committed();
  return (em, metadata) => ({
    em,
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
