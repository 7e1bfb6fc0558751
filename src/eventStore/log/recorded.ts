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

/**
 * What a reader needs of each event: every column, or every column but the metadata, for a reader
 * that never looks at it (a history page whose query asks for no metadata). The metadata is the
 * largest column after the payload and is decoded and parsed row by row; without it, the event's
 * `metadata` holds only `schemaVersion`, which is all upcasting reads of it (see
 * UpcasterRegistry.upcast), so the payload is upcast exactly as with every column.
 */
export type EventColumns = 'all' | 'withoutMetadata';

const COLUMNS_WITHOUT_METADATA =
  `global_position, transaction_id, event_id, stream_id, stream_type, stream_version, event_type, data, ` +
  `jsonb_strip_nulls(jsonb_build_object('schemaVersion', metadata->'schemaVersion')) as metadata, recorded_at`;

/** The select list of `columns`, as EventRow names them. */
export const eventColumns = (columns: EventColumns): string => (columns === 'all' ? EVENT_COLUMNS : COLUMNS_WITHOUT_METADATA);

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
