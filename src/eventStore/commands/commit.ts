import type { EntityManager } from '@mikro-orm/postgresql';
import type { RecordedEvent } from '../../core/message.ts';
import { APPENDED, appendToStream, type AppendRequest } from '../log/append.ts';
import type { InlineProjection, PlannedWrites } from '../projections/projection.ts';

export type CommitOptions = {
  readonly projections: readonly InlineProjection[];
  /** More writes that must commit with the events (e.g. the idempotency record); forces a transaction. */
  readonly inSameTransaction?: (tx: EntityManager, recorded: readonly RecordedEvent[]) => Promise<void>;
};

/**
 * Appends a command's events and brings every inline projection of the stream type up to date,
 * atomically. When every projection can say what it will write without reading (see
 * InlineProjection.plan), it all goes to PostgreSQL as one self-committing statement: one round
 * trip, as cheap as a bare insert plus the row writes. Otherwise the append and `apply` share a
 * transaction. Either way nothing is visible unless everything is.
 */
export async function appendAndProject(em: EntityManager, request: AppendRequest, options: CommitOptions): Promise<RecordedEvent[]> {
  const projections = options.projections.filter((p) => p.streamTypes.includes(request.streamType));
  // Inside a caller's transaction the commit is theirs, so the projections must wait for it.
  if (!options.inSameTransaction && !em.isInTransaction()) {
    const provisional = provisionalEvents(request);
    const plans = projections.map((p) => p.plan?.(em, provisional));
    if (plans.every((plan): plan is PlannedWrites => plan !== undefined)) {
      const recorded = await appendToStream(em, request, (bind) => plans.flatMap((plan) => plan.sql(bind, APPENDED)));
      // The request's EntityManager now knows the rows it wrote, so reading them back costs nothing.
      for (const plan of plans) for (const { entity, row } of plan.rows) em.merge(entity, row as never, { refresh: true });
      for (const projection of projections) projection.afterCommit?.(provisional);
      return recorded;
    }
  }
  const recorded = await em.transactional(async (tx) => {
    const appended = await appendToStream(tx, request);
    await options.inSameTransaction?.(tx, appended);
    for (const projection of projections) await projection.apply(tx, appended);
    return appended;
  });
  for (const projection of projections) projection.afterCommit?.(recorded);
  return recorded;
}

/** The events as they will be recorded, but for their log position, which the insert assigns. */
function provisionalEvents(request: AppendRequest): RecordedEvent[] {
  return request.events.map((event, index) => ({
    ...event,
    streamId: request.streamId,
    streamType: request.streamType,
    version: request.expectedVersion + index + 1,
    recordedAt: request.recordedAt,
    position: '',
    globalPosition: 0n,
    transactionId: 0n,
  }));
}
