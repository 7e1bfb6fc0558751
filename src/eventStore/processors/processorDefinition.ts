import type { EntityManager } from '@mikro-orm/postgresql';
import type { Logger } from '../../core/logger.ts';
import type { RecordedEvent } from '../../core/message.ts';
import type { UpcasterRegistry } from '../log/upcasters.ts';

/**
 * How a processor's effects relate to its checkpoint.
 * - `transactional`: the handler writes only to this PostgreSQL, through the `em` it is given, which
 *   is the very transaction that moves the checkpoint: each event's effect happens exactly once.
 * - `external`: the handler reaches another system; the checkpoint moves after it returned, so after
 *   a crash an event may be handed over again (at least once). Deduplicate with `event.id`.
 */
export type ProcessorDelivery = 'transactional' | 'external';

/** Which events a processor wants; every condition given must hold. Nothing given: the whole log. */
export type ProcessorFilter = {
  readonly streamTypes?: readonly string[];
  readonly eventTypes?: readonly string[];
};

export type ProcessorContext = {
  /** For `transactional` processors the checkpoint's transaction; for `external` ones a fork outside any transaction. */
  readonly em: EntityManager;
  readonly logger: Logger;
  /** For reading more of the log than the batch (e.g. a stream's earlier events): read events must be upcast like the batch's. */
  readonly upcasters: UpcasterRegistry;
  /** Aborted when the processor must stop (shutdown, or the lease was lost): stop early, the batch is handed over again. */
  readonly signal: AbortSignal;
};

/**
 * A named, checkpointed consumer of the log. One process in the whole deployment runs it at a time;
 * it reads in commit order through the reader the live feed uses, in batches of matching events.
 * A batch that throws is retried with backoff, then the runner narrows it down to the failing event,
 * parks that event and goes on (or stops, with `onParked: 'stop'`).
 */
export type ProcessorDefinition = {
  /** Unique across the app; the key of its checkpoint and of its parked events. */
  readonly name: string;
  readonly filter?: ProcessorFilter;
  readonly delivery: ProcessorDelivery;
  /** At most this many events a call; defaults to the runner's setting. */
  readonly batchSize?: number;
  /** Attempts before an event is parked; defaults to the runner's setting. */
  readonly maxAttempts?: number;
  /** After parking an event: go on with the next (default) or stop until an admin retries or skips it. */
  readonly onParked?: 'continue' | 'stop';
  /** A read model this processor keeps, so queries can wait for it (read-your-writes) and a reset rebuilds it. */
  readonly readModel?: string;
  /** Handles a batch, in commit order. Throwing fails the whole batch. */
  handle(events: readonly RecordedEvent[], context: ProcessorContext): Promise<void>;
  /** For a reset to the start: empty what the processor keeps (same transaction as the checkpoint). */
  reset?(em: EntityManager): Promise<void>;
};
