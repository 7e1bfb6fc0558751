import type { EntityManager } from '@mikro-orm/postgresql';
import pg from 'pg';
import type { RecordedEvent } from '../../core/message.ts';
import { query } from '../../db/sql.ts';
import { LAG_COUNT_CAP } from '../feed/lag.ts';
import { LOG_START, type LogPosition } from '../log/position.ts';
import type { LogFilter } from '../log/read.ts';

/** Where a processor's progress is told to every process (read-your-writes waiters), at the checkpoint's commit. */
export const PROGRESS_CHANNEL = 'processor_progress';
/** Where an admin change (retry, skip, reset) is told to the process holding the processor. */
export const CONTROL_CHANNEL = 'processor_control';

/** `stopped`: parked an event with `onParked: 'stop'`, and waits for an admin to retry or skip it. */
export type CheckpointStatus = 'running' | 'stopped';

export type Checkpoint = {
  readonly name: string;
  readonly position: LogPosition;
  readonly epoch: bigint;
  readonly status: CheckpointStatus;
  readonly owner: string | null;
};

/** `retrying`: an admin asked for another run; `skipped` and `resolved` are kept as a record. */
export type ParkedStatus = 'parked' | 'retrying' | 'skipped' | 'resolved';

export type ParkedEvent = {
  readonly processor: string;
  readonly eventId: string;
  readonly position: LogPosition;
  readonly error: string;
  readonly attempts: number;
  readonly firstFailedAt: Date;
  readonly lastFailedAt: Date;
  readonly status: ParkedStatus;
  readonly resolvedAt: Date | null;
};

/** The checkpoint's row was claimed again since this holder claimed it (another process, or an admin change). */
export class FencedError extends Error {
  constructor(processor: string) {
    super(`processor ${processor} was claimed again since this holder claimed it; it stops writing`);
    this.name = 'FencedError';
  }
}

type CheckpointRow = { name: string; transaction_id: string; global_position: string; epoch: string; status: CheckpointStatus; owner: string | null };

const toCheckpoint = (row: CheckpointRow): Checkpoint => ({
  name: row.name,
  position: { transactionId: BigInt(row.transaction_id), globalPosition: BigInt(row.global_position) },
  epoch: BigInt(row.epoch),
  status: row.status,
  owner: row.owner,
});

const CHECKPOINT_COLUMNS = 'name, transaction_id::text, global_position, epoch, status, owner';
const pos = (position: LogPosition) => [position.transactionId.toString(), position.globalPosition.toString()];

/** Makes sure every processor has a row (at the log's start), so claims and admin changes have something to lock. */
export async function ensureCheckpoints(em: EntityManager, names: readonly string[], now: Date): Promise<void> {
  if (names.length === 0) return;
  await query(
    em,
    `insert into processor_checkpoints (name, transaction_id, global_position, epoch, status, owner, claimed_at, updated_at)
     select name, '0'::xid8, 0, 0, 'running', null, null, $2::timestamptz from unnest($1::text[]) as name
     on conflict (name) do nothing`,
    [names, now],
  );
}

export async function readCheckpoints(em: EntityManager): Promise<Map<string, Checkpoint>> {
  const rows = await query<CheckpointRow>(em, `select ${CHECKPOINT_COLUMNS} from processor_checkpoints`);
  return new Map(rows.map((row) => [row.name, toCheckpoint(row)]));
}

export async function readCheckpoint(em: EntityManager, name: string): Promise<Checkpoint | undefined> {
  const [row] = await query<CheckpointRow>(em, `select ${CHECKPOINT_COLUMNS} from processor_checkpoints where name = $1`, [name]);
  return row ? toCheckpoint(row) : undefined;
}

/**
 * A new epoch for the checkpoint, and the checkpoint as it is now. Taking the row's lock waits for
 * a transaction of an earlier holder still under way, so what is read here is final: that holder's
 * later writes carry an older epoch and change nothing. Admin changes call this first in their
 * transaction, for the same reason.
 */
export async function bumpEpoch(on: EntityManager | pg.Client, name: string, now: Date, owner?: string): Promise<Checkpoint> {
  const params: unknown[] = [name, now];
  const ownerSet = owner !== undefined ? `, owner = $${params.push(owner)}, claimed_at = $2::timestamptz` : '';
  const sql = `update processor_checkpoints set epoch = epoch + 1, updated_at = $2::timestamptz${ownerSet} where name = $1 returning ${CHECKPOINT_COLUMNS}`;
  // A holder claims on the connection that holds its lock: if that connection is gone, so is the claim.
  const [row] = on instanceof pg.Client ? (await on.query<CheckpointRow>(sql, params)).rows : await query<CheckpointRow>(on, sql, params);
  if (!row) throw new Error(`processor ${name} has no checkpoint row`);
  return toCheckpoint(row);
}

/**
 * Moves the checkpoint, only while `epoch` is still the current one (else FencedError), and tells
 * every process of it when the transaction commits. `status` stops or restarts the processor.
 */
export async function advanceCheckpoint(
  em: EntityManager,
  name: string,
  epoch: bigint,
  position: LogPosition,
  now: Date,
  options: { status?: CheckpointStatus; onlyForward?: boolean } = {},
): Promise<void> {
  const [t, g] = pos(position);
  const target = options.onlyForward
    ? `transaction_id = greatest(transaction_id, $3::text::xid8), global_position = case when (transaction_id, global_position) < ($3::text::xid8, $4::bigint) then $4::bigint else global_position end`
    : `transaction_id = $3::text::xid8, global_position = $4::bigint`;
  const rows = await query<{ name: string }>(
    em,
    `with moved as (
       update processor_checkpoints set ${target}, updated_at = $5::timestamptz${options.status ? `, status = '${options.status}'` : ''}
       where name = $1 and epoch = $2::bigint
       returning name, transaction_id::text as t, global_position::text as g
     )
     select name, pg_notify('${PROGRESS_CHANNEL}', name || ' ' || t || ' ' || g) from moved`,
    [name, epoch.toString(), t, g, now],
  );
  if (rows.length === 0) throw new FencedError(name);
}

/** Records a failure that used up its attempts; a second parking of the same event (after a retry) adds to it. */
export async function parkEvent(em: EntityManager, processor: string, event: RecordedEvent, failure: { error: string; attempts: number; firstFailedAt: Date; lastFailedAt: Date }): Promise<void> {
  await query(
    em,
    `insert into processor_parked (processor, event_id, transaction_id, global_position, error, attempts, first_failed_at, last_failed_at, status, resolved_at)
     values ($1, $2::uuid, $3::text::xid8, $4::bigint, $5, $6, $7::timestamptz, $8::timestamptz, 'parked', null)
     on conflict (processor, event_id) do update set
       error = excluded.error, attempts = processor_parked.attempts + excluded.attempts,
       last_failed_at = excluded.last_failed_at, status = 'parked', resolved_at = null`,
    [processor, event.id, event.transactionId.toString(), event.globalPosition.toString(), failure.error, failure.attempts, failure.firstFailedAt, failure.lastFailedAt],
  );
}

type ParkedRow = {
  processor: string;
  event_id: string;
  transaction_id: string;
  global_position: string;
  error: string;
  attempts: number;
  first_failed_at: Date | string;
  last_failed_at: Date | string;
  status: ParkedStatus;
  resolved_at: Date | string | null;
};
const date = (value: Date | string) => (value instanceof Date ? value : new Date(value));
const toParked = (row: ParkedRow): ParkedEvent => ({
  processor: row.processor,
  eventId: row.event_id,
  position: { transactionId: BigInt(row.transaction_id), globalPosition: BigInt(row.global_position) },
  error: row.error,
  attempts: row.attempts,
  firstFailedAt: date(row.first_failed_at),
  lastFailedAt: date(row.last_failed_at),
  status: row.status,
  resolvedAt: row.resolved_at === null ? null : date(row.resolved_at),
});
const PARKED_COLUMNS = 'processor, event_id::text, transaction_id::text, global_position, error, attempts, first_failed_at, last_failed_at, status, resolved_at';

/** A processor's parked events in commit order, those still waiting (`parked`, `retrying`) unless `all`. */
export async function listParked(em: EntityManager, processor: string, options: { all?: boolean; limit?: number } = {}): Promise<ParkedEvent[]> {
  const rows = await query<ParkedRow>(
    em,
    `select ${PARKED_COLUMNS} from processor_parked where processor = $1 ${options.all ? '' : `and status in ('parked', 'retrying')`}
     order by transaction_id, global_position limit $2`,
    [processor, options.limit ?? 100],
  );
  return rows.map(toParked);
}

export async function readParked(em: EntityManager, processor: string, eventId: string): Promise<ParkedEvent | undefined> {
  const [row] = await query<ParkedRow>(em, `select ${PARKED_COLUMNS} from processor_parked where processor = $1 and event_id = $2::uuid`, [processor, eventId]);
  return row ? toParked(row) : undefined;
}

export async function setParkedStatus(em: EntityManager, processor: string, eventId: string, status: ParkedStatus, now: Date): Promise<void> {
  const resolved = status === 'skipped' || status === 'resolved';
  await query(em, `update processor_parked set status = $3, resolved_at = $4::timestamptz where processor = $1 and event_id = $2::uuid`, [
    processor,
    eventId,
    status,
    resolved ? now : null,
  ]);
}

/** After a reset the events after `position` are read again; parked ones among them would only be parked twice. */
export async function dropParkedAfter(em: EntityManager, processor: string, position: LogPosition): Promise<void> {
  await query(
    em,
    `delete from processor_parked where processor = $1 and status in ('parked', 'retrying') and (transaction_id, global_position) > ($2::text::xid8, $3::bigint)`,
    [processor, ...pos(position)],
  );
}

export async function countParked(em: EntityManager): Promise<Map<string, number>> {
  const rows = await query<{ processor: string; n: number }>(em, `select processor, count(*)::int as n from processor_parked where status in ('parked', 'retrying') group by processor`);
  return new Map(rows.map((row) => [row.processor, row.n]));
}

/**
 * Whether a processor's read model is consistent with `position`: its stored checkpoint has passed
 * it, or no event the processor matches lies between the checkpoint and it and it is final (below
 * the horizon, see readLog: nothing can still commit before it). The second is how a position the
 * processor never handles (another aggregate's command) is answered at once, from any process,
 * while its holder keeps its checkpoint over such events in memory (see ProcessorRunner.advanceIdle).
 * One probe of the (event_type | stream_type, transaction_id, global_position) index: the position
 * bounds seek into it, however far apart the two are.
 */
export async function readConsistency(em: EntityManager, name: string, position: LogPosition, filter: LogFilter): Promise<{ checkpoint: LogPosition; consistent: boolean }> {
  const params: unknown[] = [name, ...pos(position)];
  const conditions = [
    '(e.transaction_id, e.global_position) > (c.transaction_id, c.global_position)',
    '(e.transaction_id, e.global_position) <= ($2::text::xid8, $3::bigint)',
  ];
  if (filter.streamTypes !== undefined) conditions.push(`e.stream_type = any($${params.push(filter.streamTypes)}::text[])`);
  if (filter.types !== undefined) conditions.push(`e.event_type = any($${params.push(filter.types)}::text[])`);
  const [row] = await query<{ transaction_id: string; global_position: string; consistent: boolean }>(
    em,
    `select c.transaction_id::text, c.global_position::text,
            (c.transaction_id, c.global_position) >= ($2::text::xid8, $3::bigint)
            or ($2::text::xid8 < pg_snapshot_xmin(pg_current_snapshot()) and not exists (select 1 from events e where ${conditions.join(' and ')})) as consistent
     from processor_checkpoints c where c.name = $1`,
    params,
    // A generic plan does not know how rare the filtered types are and scans the log for a match.
    { planEachCall: filter.streamTypes !== undefined || filter.types !== undefined },
  );
  if (!row) return { checkpoint: LOG_START, consistent: false };
  return { checkpoint: { transactionId: BigInt(row.transaction_id), globalPosition: BigInt(row.global_position) }, consistent: row.consistent };
}

export type ProcessorLag = {
  /** Matching events after the checkpoint (capped at LAG_COUNT_CAP). */
  readonly events: number;
  /** When the oldest of them was recorded; null when none waits. */
  readonly oldestRecordedAt: Date | null;
};

/** What a processor at `position` has yet to handle, under its filter. */
export async function readProcessorLag(em: EntityManager, position: LogPosition, filter: LogFilter): Promise<ProcessorLag> {
  const params: unknown[] = pos(position);
  const conditions = ['(transaction_id, global_position) > ($1::text::xid8, $2::bigint)'];
  if (filter.streamTypes !== undefined) conditions.push(`stream_type = any($${params.push(filter.streamTypes)}::text[])`);
  if (filter.types !== undefined) conditions.push(`event_type = any($${params.push(filter.types)}::text[])`);
  const where = conditions.join(' and ');
  const [row] = await query<{ events: number; oldest: Date | string | null }>(
    em,
    `select (select count(*) from (select 1 from events where ${where} limit ${LAG_COUNT_CAP}) behind)::int as events,
            (select recorded_at from events where ${where} order by transaction_id, global_position limit 1) as oldest`,
    params,
  );
  return { events: row?.events ?? 0, oldestRecordedAt: row?.oldest ? date(row.oldest) : null };
}

export { LOG_START };
