import type { EntityManager } from '@mikro-orm/postgresql';
import type { Event, EventMetadata, RecordedEvent } from '../../core/message.ts';
import { ConcurrencyError } from '../../core/errors.ts';
import { pgErrorCode, query, UNIQUE_VIOLATION } from '../../db/sql.ts';
import { encodePosition } from './position.ts';
import type { Bind } from '../projections/upsertSql.ts';

/** The channel log followers LISTEN on; the API notifies it after commits (see commitNotifier.ts). */
export const EVENTS_CHANNEL = 'events_appended';

export type EventToAppend = Event & { readonly id: string; readonly metadata: EventMetadata };

export type AppendRequest = {
  readonly streamId: string;
  readonly streamType: string;
  /** The stream version the events were decided against (0 for a new stream). */
  readonly expectedVersion: number;
  readonly events: readonly EventToAppend[];
  readonly recordedAt: Date;
  /** Readers the stream gains with these events (see stream_readers); recorded in the same statement. */
  readonly newReaders?: readonly string[];
};

/**
 * One statement: checks that the stream is still at `expectedVersion` and inserts every event with
 * the next versions. (No NOTIFY here: inside the transaction it would serialise commits; see
 * commitNotifier.ts.) The unique (stream_id, stream_version) constraint settles a race between two
 * writers that both saw the same version: exactly one insert wins, the other gets a
 * ConcurrencyError. Further writes (read-model upserts) can ride along as CTEs guarded by
 * `APPENDED`, so that a command costs one round trip and commits atomically on its own.
 */
const APPEND_CTES = `
  with head as (
    select coalesce(max(stream_version), 0) as version from events where stream_id = $1
  ), inserted as (
    insert into events (event_id, stream_id, stream_type, stream_version, event_type, data, metadata, recorded_at)
    select e.id, $1, $2, head.version + e.ord::int, e.type, e.data, e.metadata, $7
    from head, unnest($3::uuid[], $4::text[], $5::jsonb[], $6::jsonb[]) with ordinality as e(id, type, data, metadata, ord)
    where head.version = $8
    returning global_position, transaction_id, stream_version
  )`;
const APPEND_RESULT = `select global_position, transaction_id, stream_version from inserted order by stream_version`;

/** True inside the append statement when the events were inserted; guards writes riding along. */
export const APPENDED = 'exists (select 1 from inserted)';

/** Writes to run in the append's own statement; each gets `bind` for its parameters. */
export type RideAlong = (bind: Bind) => string[];

type AppendedRow = { global_position: string; transaction_id: string; stream_version: number };

/**
 * Appends within `em`'s transaction, if it has one (projections that run separately must commit with
 * the events), else as one self-committing statement together with `rideAlong` writes.
 */
export async function appendToStream(em: EntityManager, request: AppendRequest, rideAlong?: RideAlong): Promise<RecordedEvent[]> {
  const { streamId, streamType, expectedVersion, events, recordedAt } = request;
  if (events.length === 0) return [];
  const params: unknown[] = [
    streamId,
    streamType,
    events.map((e) => e.id),
    events.map((e) => e.type),
    events.map((e) => JSON.stringify(e.data)),
    events.map((e) => JSON.stringify(e.metadata)),
    recordedAt,
    expectedVersion,
  ];
  const bind: Bind = (value, columnType) => `$${params.push(value)}::${columnType}`;
  const extra = rideAlong?.(bind) ?? [];
  if (request.newReaders && request.newReaders.length > 0) {
    extra.push(`insert into stream_readers (stream_id, reader, stream_type) select $1, reader, $2 from unnest(${bind(request.newReaders, 'text[]')}) as reader where ${APPENDED} on conflict do nothing`);
  }
  // Which stream types each event type occurs in, for history (see readHistory): once a pair is
  // known this probes its index and writes nothing. (Not ON CONFLICT: see the migration 20261202080000.)
  extra.push(
    `insert into event_stream_types (event_type, stream_type) select distinct type, $2 from unnest($4::text[]) as type
     where ${APPENDED} and not exists (select 1 from event_stream_types known where known.event_type = type and known.stream_type = $2)`,
  );
  const sql = `${APPEND_CTES}, ${extra.map((write, i) => `write_${i} as (${write})`).join(', ')} ${APPEND_RESULT}`;
  let rows: AppendedRow[];
  try {
    rows = await query<AppendedRow>(em, sql, params);
  } catch (error) {
    const { code, constraint } = pgErrorCode(error);
    if (code === UNIQUE_VIOLATION && constraint === 'events_stream_version_unique') {
      throw new ConcurrencyError(streamId, expectedVersion, await versionAfterRace(em, streamId, expectedVersion));
    }
    throw error;
  }
  if (rows.length === 0) {
    // The guard failed without an error, so the transaction is still usable for asking why.
    const [head] = await query<{ version: number }>(em, CURRENT_VERSION_SQL, [streamId]);
    throw new ConcurrencyError(streamId, expectedVersion, head?.version ?? 0);
  }
  return rows.map((row, index) => {
    const event = events[index]!;
    const transactionId = BigInt(row.transaction_id);
    const globalPosition = BigInt(row.global_position);
    return {
      ...event,
      streamId,
      streamType,
      version: row.stream_version,
      position: encodePosition({ transactionId, globalPosition }),
      transactionId,
      globalPosition,
      recordedAt,
    };
  });
}

const CURRENT_VERSION_SQL = 'select coalesce(max(stream_version), 0)::int as version from events where stream_id = $1';

/**
 * The version to report after losing a race. The unique violation aborted our transaction, so this
 * asks through a fork, which MikroORM binds to the pool rather than to `em`'s transaction; the
 * winner may not have committed yet, so at least one more than we expected.
 */
async function versionAfterRace(em: EntityManager, streamId: string, expectedVersion: number): Promise<number> {
  const [head] = await query<{ version: number }>(em.fork(), CURRENT_VERSION_SQL, [streamId]);
  return Math.max(head?.version ?? 0, expectedVersion + 1);
}
