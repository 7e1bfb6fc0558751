import type { EntityManager } from '@mikro-orm/postgresql';
import type { EventMetadata } from '../../core/message.ts';
import type { IdGenerator } from '../../core/ids.ts';
import type { CommandEnvironment } from './commandHandler.ts';
import type { InlineProjection } from '../projections/projection.ts';
import { createStateCacheStore } from './stateCache.ts';
import { KeyedSerializer } from './streamLocks.ts';

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
}): (em: EntityManager, metadata: EventMetadata) => CommandEnvironment {
  const streamLocks = new KeyedSerializer();
  const stateCache = createStateCacheStore();
  const onCommitted = () => options.notifier.committed();
  return (em, metadata) => ({
    em,
    ids: options.ids,
    projections: options.projections,
    retries: options.retries,
    streamLocks,
    stateCache,
    onCommitted,
    metadata,
  });
}
