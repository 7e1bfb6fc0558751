import type { EventMetadata, RecordedEvent } from '../../core/message.ts';
import { encodePosition } from './position.ts';
import type { UpcasterRegistry } from './upcasters.ts';

/** One row of `events` as the pg driver returns it (bigint and xid8 as strings). */
export type EventRow = {
  global_position: string;
  transaction_id: string;
  event_id: string;
  stream_id: string;
  stream_type: string;
  stream_version: number;
  event_type: string;
  data: object;
  metadata: EventMetadata;
  /** MikroORM's pg setup leaves timestamps as text; parsed here. */
  recorded_at: Date | string;
};

export const EVENT_COLUMNS =
  'global_position, transaction_id, event_id, stream_id, stream_type, stream_version, event_type, data, metadata, recorded_at';

/** A stored row as readers hand it on: in its event type's current shape (see UpcasterRegistry). */
export function toRecordedEvent(row: EventRow, upcasters: UpcasterRegistry): RecordedEvent {
  const transactionId = BigInt(row.transaction_id);
  const globalPosition = BigInt(row.global_position);
  return upcasters.upcast({
    id: row.event_id,
    type: row.event_type,
    data: row.data,
    streamId: row.stream_id,
    streamType: row.stream_type,
    version: row.stream_version,
    position: encodePosition({ transactionId, globalPosition }),
    globalPosition,
    transactionId,
    recordedAt: row.recorded_at instanceof Date ? row.recorded_at : new Date(row.recorded_at),
    metadata: row.metadata,
  });
}
