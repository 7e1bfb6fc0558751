import type { EntityManager } from '@mikro-orm/postgresql';
import type { RecordedEvent } from '../core/message.ts';
import { query } from '../db/sql.ts';
import { LOG_START, type LogPosition } from './position.ts';
import { EVENT_COLUMNS, type EventRow, toRecordedEvent } from './recorded.ts';

export type StreamRange = { readonly fromVersion?: number; readonly toVersion?: number };

/** A stream's events in version order, optionally a slice of it. */
export async function readStream(em: EntityManager, streamId: string, range: StreamRange = {}): Promise<RecordedEvent[]> {
  const rows = await query<EventRow>(
    em,
    `select ${EVENT_COLUMNS} from events
     where stream_id = $1 and stream_version >= $2 and stream_version <= $3
     order by stream_version`,
    [streamId, range.fromVersion ?? 1, range.toVersion ?? 2_147_483_647],
  );
  return rows.map(toRecordedEvent);
}

export type LogFilter = {
  readonly streamId?: string;
  readonly streamType?: string;
  readonly types?: readonly string[];
};

export type LogPage = {
  readonly events: RecordedEvent[];
  /** Where the next read continues: the last event's position, or `after` when nothing was new. */
  readonly next: LogPosition;
};

/**
 * The global log after `after` (and up to `upTo`, inclusive, when given), in commit order. Only transactions older than the oldest one still
 * running are read: a transaction that took a lower sequence number but commits later is then never
 * skipped, because nothing at or above it is handed out until it has finished.
 */
export async function readLog(
  em: EntityManager,
  options: { after?: LogPosition; limit: number; filter?: LogFilter; upTo?: LogPosition },
): Promise<LogPage> {
  const after = options.after ?? LOG_START;
  const params: unknown[] = [after.transactionId.toString(), after.globalPosition.toString(), options.limit];
  const conditions = ['(transaction_id, global_position) > ($1::text::xid8, $2::bigint)', 'transaction_id < pg_snapshot_xmin(pg_current_snapshot())'];
  if (options.upTo) {
    const a = params.push(options.upTo.transactionId.toString());
    const b = params.push(options.upTo.globalPosition.toString());
    conditions.push(`(transaction_id, global_position) <= ($${a}::text::xid8, $${b}::bigint)`);
  }
  const filter = options.filter ?? {};
  if (filter.streamId !== undefined) conditions.push(`stream_id = $${params.push(filter.streamId)}`);
  if (filter.streamType !== undefined) conditions.push(`stream_type = $${params.push(filter.streamType)}`);
  if (filter.types !== undefined) conditions.push(`event_type = any($${params.push(filter.types)}::text[])`);
  const rows = await query<EventRow>(
    em,
    `select ${EVENT_COLUMNS} from events where ${conditions.join(' and ')}
     order by transaction_id, global_position limit $3`,
    params,
  );
  const events = rows.map(toRecordedEvent);
  const last = events.at(-1);
  return { events, next: last ? { transactionId: last.transactionId, globalPosition: last.globalPosition } : after };
}
