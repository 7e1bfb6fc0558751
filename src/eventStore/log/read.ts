import type { EntityManager } from '@mikro-orm/postgresql';
import type { RecordedEvent } from '../../core/message.ts';
import { query } from '../../db/sql.ts';
import { LOG_START, type LogPosition } from './position.ts';
import { EVENT_COLUMNS, type EventColumns, eventColumns, type EventRow, toRecordedEvent } from './recorded.ts';
import type { UpcasterRegistry } from './upcasters.ts';

export type StreamRange = { readonly fromVersion?: number; readonly toVersion?: number };

/** A stream's events in version order, optionally a slice of it. */
export async function readStream(em: EntityManager, upcasters: UpcasterRegistry, streamId: string, range: StreamRange = {}): Promise<RecordedEvent[]> {
  const rows = await query<EventRow>(
    em,
    `select ${EVENT_COLUMNS} from events
     where stream_id = $1 and stream_version >= $2 and stream_version <= $3
     order by stream_version`,
    [streamId, range.fromVersion ?? 1, range.toVersion ?? 2_147_483_647],
  );
  return rows.map((row) => toRecordedEvent(row, upcasters));
}

export type LogFilter = {
  readonly streamId?: string;
  readonly streamType?: string;
  /** Any of these stream types (a processor's filter); with `streamType` both must hold. */
  readonly streamTypes?: readonly string[];
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
  em: EntityManager, upcasters: UpcasterRegistry,
  options: { after?: LogPosition; limit: number; filter?: LogFilter; upTo?: LogPosition },
): Promise<LogPage> {
  const after = options.after ?? LOG_START;
  const params: unknown[] = [options.limit];
  const bound = (position: LogPosition) => [params.push(position.transactionId.toString()), params.push(position.globalPosition.toString())] as const;
  const filter = options.filter ?? {};
  const conditions: string[] = [];
  let orderBy = 'order by transaction_id, global_position';
  if (filter.streamId !== undefined) {
    // One stream: in version order, which is its commit order (see streamVersionBound).
    const stream = params.push(filter.streamId);
    conditions.push(`stream_id = $${stream}`);
    if (after.transactionId !== 0n || after.globalPosition !== 0n) conditions.push(`stream_version > ${streamVersionBound(stream, ...bound(after), 'after')}`);
    if (options.upTo) conditions.push(`stream_version <= ${streamVersionBound(stream, ...bound(options.upTo), 'after')}`);
    orderBy = 'order by stream_version';
  } else {
    const [a, b] = bound(after);
    conditions.push(`(transaction_id, global_position) > ($${a}::text::xid8, $${b}::bigint)`);
    if (options.upTo) {
      const [c, d] = bound(options.upTo);
      conditions.push(`(transaction_id, global_position) <= ($${c}::text::xid8, $${d}::bigint)`);
    }
  }
  // After the position bounds: see VISIBLE_HORIZON.
  conditions.push(VISIBLE_HORIZON);
  if (filter.streamType !== undefined) conditions.push(`stream_type = $${params.push(filter.streamType)}`);
  if (filter.streamTypes !== undefined) conditions.push(`stream_type = any($${params.push(filter.streamTypes)}::text[])`);
  if (filter.types !== undefined) conditions.push(`event_type = any($${params.push(filter.types)}::text[])`);
  const rows = await query<EventRow>(em, `select ${EVENT_COLUMNS} from events where ${conditions.join(' and ')} ${orderBy} limit $1`, params, {
    planEachCall: filter.streamType !== undefined || filter.streamTypes !== undefined || filter.types !== undefined,
  });
  const events = rows.map((row) => toRecordedEvent(row, upcasters));
  const last = events.at(-1);
  return { events, next: last ? { transactionId: last.transactionId, globalPosition: last.globalPosition } : after };
}

/**
 * The bound, in stream versions, of one stream's events after a log position (`after`: the last
 * version at or before it) or before one (`before`: the first version at or after it). A stream's
 * versions are in its commit order: version n+1 is inserted by a statement that saw version n
 * committed, and its transaction id is assigned by that insert, after n's (the append is the first
 * write of its transaction; see docs/live-feeds.md). So a stream is read on its unique
 * (stream_id, stream_version) index, and a position bound becomes a version bound: one probe when
 * the position is an event of the stream (a cursor from a page of it), else a walk of the stream
 * from its far end up to the position. Parameters: `$stream`, and `$a`, `$b` the position.
 */
function streamVersionBound(stream: number, a: number, b: number, side: 'after' | 'before'): string {
  const position = `($${a}::text::xid8, $${b}::bigint)`;
  const exact = `select stream_version from events where (transaction_id, global_position) = ${position} and stream_id = $${stream}`;
  const nearest =
    side === 'after'
      ? `select stream_version from events where stream_id = $${stream} and (transaction_id, global_position) <= ${position} order by stream_version desc limit 1`
      : `select stream_version from events where stream_id = $${stream} and (transaction_id, global_position) >= ${position} order by stream_version limit 1`;
  return `coalesce((${exact}), (${nearest}), ${side === 'after' ? 0 : 2_147_483_647})`;
}

/**
 * Only transactions older than the oldest one still running (see readLog). Always placed after the
 * position bounds: both bound `transaction_id` from above, and PostgreSQL starts a backward index
 * scan at the first such condition it is given, so with this one first a page read backward from a
 * cursor walked every entry between the newest event and the cursor (3,400 index pages, 20-120 ms,
 * for a page 10 % deep in a 1M-event log) instead of seeking to the cursor (7 pages, 0.04 ms).
 */
const VISIBLE_HORIZON = 'transaction_id < pg_snapshot_xmin(pg_current_snapshot())';

// ---- History: the log browsed in either direction ------------------------------------------

/** What history can be narrowed by; every condition given must hold. */
export type HistoryFilter = LogFilter & {
  /** Recorded at or after this instant. */
  readonly from?: Date;
  /** Recorded strictly before this instant. */
  readonly to?: Date;
  readonly correlationId?: string;
  readonly actor?: string;
};

export type HistoryPageRequest = {
  /** `forward` reads oldest first from `after`; `backward` reads newest first from `before`. */
  readonly direction: 'forward' | 'backward';
  /** Exclusive lower bound. */
  readonly after?: LogPosition;
  /** Exclusive upper bound. */
  readonly before?: LogPosition;
  readonly limit: number;
  readonly filter?: HistoryFilter;
  /** Only streams one of these principals may read (see stream_readers); every stream when undefined. */
  readonly readers?: readonly string[];
  /** What of each event to read (see EventColumns); all of it when undefined. */
  readonly columns?: EventColumns;
};

/**
 * One page of the log in commit order (newest first when reading backward), by keyset on
 * (transaction_id, global_position): every filter has an index in that order (one stream: its
 * version order, see streamVersionBound), so PostgreSQL seeks to the bound and reads `limit` rows
 * however deep the page is. Like readLog, only transactions
 * below the oldest running one are visible, so a page never shows an event that a transaction
 * still in flight would later commit before; the cursors are the positions readLog and the live
 * feed use.
 */
export async function readHistory(em: EntityManager, upcasters: UpcasterRegistry, request: HistoryPageRequest): Promise<RecordedEvent[]> {
  const descending = request.direction === 'backward';
  const order = descending ? 'desc' : 'asc';
  const params: unknown[] = [request.limit];
  const conditions: string[] = [];
  const filter = request.filter ?? {};
  const columns = eventColumns(request.columns ?? 'all');
  const stream = filter.streamId === undefined ? undefined : params.push(filter.streamId);
  const position = (bound: LogPosition, side: 'after' | 'before') => {
    const a = params.push(bound.transactionId.toString());
    const b = params.push(bound.globalPosition.toString());
    if (stream === undefined) conditions.push(`(transaction_id, global_position) ${side === 'after' ? '>' : '<'} ($${a}::text::xid8, $${b}::bigint)`);
    else conditions.push(`stream_version ${side === 'after' ? '>' : '<'} ${streamVersionBound(stream, a, b, side)}`);
  };
  if (stream !== undefined) conditions.push(`stream_id = $${stream}`);
  if (request.after) position(request.after, 'after');
  if (request.before) position(request.before, 'before');
  conditions.push(VISIBLE_HORIZON);
  if (filter.streamType !== undefined) conditions.push(`stream_type = $${params.push(filter.streamType)}`);
  if (filter.correlationId !== undefined) conditions.push(`metadata->>'correlationId' = $${params.push(filter.correlationId)}`);
  if (filter.actor !== undefined) conditions.push(`metadata->>'actor' = $${params.push(filter.actor)}`);
  if (filter.from !== undefined) conditions.push(`recorded_at >= $${params.push(filter.from)}::timestamptz`);
  if (filter.to !== undefined) conditions.push(`recorded_at < $${params.push(filter.to)}::timestamptz`);
  if (request.readers !== undefined) {
    if (request.readers.length === 0) return [];
    if (stream === undefined) return readReadableHistory(em, upcasters, request, request.readers);
    conditions.push(`stream_id in (select stream_id from stream_readers where reader = any($${params.push(request.readers)}::text[]))`);
  }
  const orderBy = `order by transaction_id ${order}, global_position ${order} limit $1`;
  let sql: string;
  if (stream !== undefined) {
    // One stream: its unique index, in version order, which is its commit order (see streamVersionBound).
    if (filter.types !== undefined) conditions.push(`event_type = any($${params.push([...new Set(filter.types)])}::text[])`);
    sql = `select ${columns} from events where ${conditions.join(' and ')} order by stream_version ${order} limit $1`;
  } else if (filter.types === undefined) {
    sql = `select ${columns} from events where ${conditions.join(' and ')} ${orderBy}`;
  } else {
    // `event_type = any(…)` cannot be read in commit order from one index range, which would make
    // deep pages sort everything before them. Instead read one page from each type's range of
    // (event_type, transaction_id, global_position) and merge those few rows. One branch per type,
    // each with its own parameter, so the planner sees how common each type is.
    const branches = [...new Set(filter.types)].map(
      (type) => `(select ${columns} from events where event_type = $${params.push(type)} and ${conditions.join(' and ')} ${orderBy})`,
    );
    if (branches.length === 0) return [];
    sql = `select * from (${branches.join(' union all ')}) as page ${orderBy}`;
  }
  // Without a filter (or with one stream) the plan is always the same index; otherwise it depends
  // on the values: prepared, a customer's page of one event type took 24 ms on a generic plan
  // against 1.6 ms planned for its values (30k-event log).
  const keyedOnly = Object.entries(filter).every(([name, value]) => value === undefined || name === 'streamId') && request.readers === undefined;
  return (await query<EventRow>(em, sql, params, { planEachCall: !keyedOnly })).map((row) => toRecordedEvent(row, upcasters));
}

/**
 * Up to this many streams of one reader and stream type, a caller's page is read stream by stream;
 * past it, from the filter's index in commit order, keeping that reader's streams (see
 * readReadableHistory). Reading a stream costs an index probe, so 200 of them take about 2 ms.
 */
export const FEW_READABLE_STREAMS = 200;

/** `stream_type` '' groups the streams whose type is not known, `event_types` null for them. */
type ReaderStreams = { reader: string; stream_type: string; event_types: string[] | null; streams: number };

/**
 * readHistory for a caller who is not an administrator, without a stream filter: the events of the
 * streams one of `readers` may read, in the same order, with the same bounds and cursors. Walking
 * the filter's index and keeping the caller's streams (the plan PostgreSQL picks for a plain
 * semi-join) costs what the filter matches that the caller may not see: a customer's checkouts
 * among everyone's took 0.1-0.4 s on a 1M-event log, and grew with it. So the page is driven from
 * the caller's streams instead, grouped by reader and stream type:
 *
 * - a bounded count per (reader, stream type) first, only of the stream types the filter can match
 *   (event_stream_types says which types each event type occurs in), so a principal none of whose
 *   streams can match (`authenticated`, which reads counters, under a Cart filter) costs one probe;
 * - a stream type whose readers see at most FEW_READABLE_STREAMS streams of it is read stream by
 *   stream on the unique (stream_id, stream_version) index, whose version order is the stream's
 *   commit order (see streamVersionBound), one page from each, merged;
 * - a stream type some reader sees more of (support's carts, everyone's counters) is read from
 *   the filter's index restricted to that stream type, keeping the readers' streams: those readers
 *   see a large share of that type, so few rows are passed over.
 *
 * Streams whose readers an earlier release recorded without a type ('') are read under every
 * filter the same way, checking each event's own type.
 */
async function readReadableHistory(
  em: EntityManager, upcasters: UpcasterRegistry, request: HistoryPageRequest, readers: readonly string[],
): Promise<RecordedEvent[]> {
  const filter = request.filter ?? {};
  const columns = eventColumns(request.columns ?? 'all');
  const types = filter.types === undefined ? undefined : [...new Set(filter.types)];
  if (types?.length === 0) return [];
  const planParams: unknown[] = [FEW_READABLE_STREAMS + 1, readers];
  const typeConditions: string[] = [];
  if (types !== undefined) typeConditions.push(`event_type = any($${planParams.push(types)}::text[])`);
  if (filter.streamType !== undefined) typeConditions.push(`stream_type = $${planParams.push(filter.streamType)}`);
  const groups = await query<ReaderStreams>(
    em,
    `select r.reader, t.stream_type, t.event_types,
       (select count(*)::int from (select 1 from stream_readers sr where sr.reader = r.reader and sr.stream_type = t.stream_type limit $1) as s) as streams
     from unnest($2::text[]) as r(reader),
       (select stream_type, array_agg(distinct event_type) as event_types from event_stream_types
        ${typeConditions.length > 0 ? `where ${typeConditions.join(' and ')}` : ''} group by stream_type
        union all select '', null) as t`,
    planParams,
    { planEachCall: true },
  );
  const byStreamType = new Map<string, { readers: string[]; eventTypes: string[] | null; many: boolean }>();
  for (const group of groups) {
    if (group.streams === 0) continue;
    const entry = byStreamType.get(group.stream_type) ?? { readers: [], eventTypes: group.event_types, many: false };
    entry.readers.push(group.reader);
    // A correlation id matches a handful of events, whoever reads them: walking its index is cheaper
    // than probing each of the caller's streams.
    entry.many ||= group.streams > FEW_READABLE_STREAMS || filter.correlationId !== undefined;
    byStreamType.set(group.stream_type, entry);
  }
  if (byStreamType.size === 0) return [];

  const descending = request.direction === 'backward';
  const order = descending ? 'desc' : 'asc';
  const params: unknown[] = [request.limit];
  // The filter's conditions on one event, the stream type and event types aside (each part places those).
  const conditions: string[] = [];
  // A stream read one by one is skipped when its newest event is not after `after` (its oldest not
  // before `before`): one probe at the stream's end, as its version order is its commit order,
  // instead of walking its events to find none (half a customer's carts, on a random page).
  const reaches: string[] = [];
  const bound = (position: LogPosition) => `($${params.push(position.transactionId.toString())}::text::xid8, $${params.push(position.globalPosition.toString())}::bigint)`;
  if (request.after) {
    const after = bound(request.after);
    conditions.push(`(transaction_id, global_position) > ${after}`);
    reaches.push(`(select (transaction_id, global_position) > ${after} from events last where last.stream_id = sr.stream_id order by stream_version desc limit 1)`);
  }
  if (request.before) {
    const before = bound(request.before);
    conditions.push(`(transaction_id, global_position) < ${before}`);
    reaches.push(`(select (transaction_id, global_position) < ${before} from events first where first.stream_id = sr.stream_id order by stream_version limit 1)`);
  }
  conditions.push(VISIBLE_HORIZON);
  if (filter.correlationId !== undefined) conditions.push(`metadata->>'correlationId' = $${params.push(filter.correlationId)}`);
  if (filter.actor !== undefined) conditions.push(`metadata->>'actor' = $${params.push(filter.actor)}`);
  // A page after a cursor from the same window starts inside it, so the commit-order walk finds it
  // at once. Given the window as plain conditions, PostgreSQL estimates its share of the type's
  // events as if the window were spread over the whole log, and sometimes collected every event of
  // the type after the cursor to sort them (a bitmap of 33,000 rows, 10-20 ms). Inside a CASE it
  // counts half of them as matching, and walks. Only a first page, with no cursor, lets it seek the
  // window by its recorded_at index.
  const window: string[] = [];
  if (filter.from !== undefined) window.push(`recorded_at >= $${params.push(filter.from)}::timestamptz`);
  if (filter.to !== undefined) window.push(`recorded_at < $${params.push(filter.to)}::timestamptz`);
  if (window.length > 0) conditions.push(request.after || request.before ? `(case when ${window.join(' and ')} then true end)` : window.join(' and '));
  const where = conditions.join(' and ');
  const commitOrder = `order by transaction_id ${order}, global_position ${order} limit $1`;

  const parts: string[] = [];
  const few: string[] = [];
  for (const [streamType, { readers: typeReaders, eventTypes, many }] of byStreamType) {
    const typeReadersParam = params.push(typeReaders);
    if (!many) {
      few.push(`(stream_type = $${params.push(streamType)} and reader = any($${typeReadersParam}::text[]))`);
      continue;
    }
    // Checked row by row on the (stream_id, reader) key as the filter's index is walked: `offset 0`
    // keeps PostgreSQL from turning it into a join that starts from the readers' thousands of
    // streams (which it did, estimating a twentieth of them: 190 ms for everyone's counters).
    const theirs = `exists (select 1 from stream_readers sr where sr.stream_id = events.stream_id and sr.reader = any($${typeReadersParam}::text[]) offset 0)`;
    // Streams of no known type: whatever type the filter names, checked on the events (the plan of
    // the plain semi-join, left only for what an earlier release recorded).
    const ofType =
      eventTypes === null ? (filter.streamType === undefined ? 'true' : `stream_type = $${params.push(filter.streamType)}`) : `stream_type = $${params.push(streamType)}`;
    // As readHistory does for several types: one branch per event type (of those that occur in this
    // stream type), each read in commit order from its own index range, so none sorts what lies
    // before the page.
    if (types === undefined) {
      parts.push(`(select ${columns} from events where ${ofType} and ${where} and ${theirs} ${commitOrder})`);
    } else {
      for (const eventType of types.filter((t) => eventTypes === null || eventTypes.includes(t))) {
        parts.push(`(select ${columns} from events where event_type = $${params.push(eventType)} and ${ofType} and ${where} and ${theirs} ${commitOrder})`);
      }
    }
  }
  if (few.length > 0) {
    let typesCondition = types === undefined ? '' : ` and event_type = any($${params.push(types)}::text[])`;
    if (filter.streamType !== undefined) typesCondition += ` and stream_type = $${params.push(filter.streamType)}`;
    parts.push(
      `(select page.* from (select distinct stream_id from stream_readers sr where (${few.join(' or ')})${reaches.map((r) => ` and ${r}`).join('')}) as readable
        cross join lateral (select ${columns} from events
          where stream_id = readable.stream_id and ${where}${typesCondition}
          order by stream_version ${order} limit $1) as page)`,
    );
  }
  if (parts.length === 0) return [];
  // `union`, not `union all`: a stream whose readers were recorded with and without its type
  // (across a release) is in two parts.
  const sql = `select * from (${parts.join(' union ')}) as page ${commitOrder}`;
  return (await query<EventRow>(em, sql, params, { planEachCall: true })).map((row) => toRecordedEvent(row, upcasters));
}

/** Whether an event passes a history filter; the same conditions readHistory puts in SQL. */
export function matchesHistoryFilter(filter: HistoryFilter, event: RecordedEvent): boolean {
  if (filter.streamId !== undefined && filter.streamId !== event.streamId) return false;
  if (filter.streamType !== undefined && filter.streamType !== event.streamType) return false;
  if (filter.types !== undefined && !filter.types.includes(event.type)) return false;
  if (filter.correlationId !== undefined && filter.correlationId !== event.metadata.correlationId) return false;
  if (filter.actor !== undefined && filter.actor !== event.metadata.actor) return false;
  if (filter.from !== undefined && event.recordedAt < filter.from) return false;
  if (filter.to !== undefined && event.recordedAt >= filter.to) return false;
  return true;
}

/** One event by its id, or undefined. */
export async function readEvent(em: EntityManager, upcasters: UpcasterRegistry, eventId: string): Promise<RecordedEvent | undefined> {
  const [row] = await query<EventRow>(em, `select ${EVENT_COLUMNS} from events where event_id = $1::uuid`, [eventId]);
  return row ? toRecordedEvent(row, upcasters) : undefined;
}

/** The events with these ids, in stream version order (e.g. what one command appended). */
export async function readEventsById(em: EntityManager, upcasters: UpcasterRegistry, eventIds: readonly string[]): Promise<RecordedEvent[]> {
  const rows = await query<EventRow>(em, `select ${EVENT_COLUMNS} from events where event_id = any($1::uuid[]) order by stream_id, stream_version`, [eventIds]);
  return rows.map((row) => toRecordedEvent(row, upcasters));
}

/** The event at a log position, or undefined. */
export async function readEventAt(em: EntityManager, upcasters: UpcasterRegistry, position: LogPosition): Promise<RecordedEvent | undefined> {
  const [row] = await query<EventRow>(
    em,
    `select ${EVENT_COLUMNS} from events where transaction_id = $1::text::xid8 and global_position = $2::bigint`,
    [position.transactionId.toString(), position.globalPosition.toString()],
  );
  return row ? toRecordedEvent(row, upcasters) : undefined;
}

export type StreamHead = { readonly streamId: string; readonly streamType: string; readonly version: number };

/** A stream's type and current version, or undefined when it has no events. */
export async function readStreamHead(em: EntityManager, streamId: string): Promise<StreamHead | undefined> {
  const [row] = await query<{ stream_type: string; version: number }>(
    em,
    'select stream_type, stream_version as version from events where stream_id = $1 order by stream_version desc limit 1',
    [streamId],
  );
  return row ? { streamId, streamType: row.stream_type, version: row.version } : undefined;
}

export type StreamPageRequest = {
  /** `forward` reads oldest first; `backward` newest first. */
  readonly direction: 'forward' | 'backward';
  /** Exclusive version bounds (from cursors). */
  readonly afterVersion?: number;
  readonly beforeVersion?: number;
  /** Inclusive version range. */
  readonly fromVersion?: number;
  readonly toVersion?: number;
  readonly limit: number;
  /** What of each event to read (see EventColumns); all of it when undefined. */
  readonly columns?: EventColumns;
};

/** One page of a stream in version order, by keyset on the (stream_id, stream_version) key. */
export async function readStreamPage(em: EntityManager, upcasters: UpcasterRegistry, streamId: string, request: StreamPageRequest): Promise<RecordedEvent[]> {
  const low = Math.max((request.afterVersion ?? 0) + 1, request.fromVersion ?? 1);
  const high = Math.min((request.beforeVersion ?? 2_147_483_647) - 1, request.toVersion ?? 2_147_483_647);
  const order = request.direction === 'backward' ? 'desc' : 'asc';
  const rows = await query<EventRow>(
    em,
    `select ${eventColumns(request.columns ?? 'all')} from events
     where stream_id = $1 and stream_version >= $2 and stream_version <= $3
     order by stream_version ${order} limit $4`,
    [streamId, low, high, request.limit],
  );
  return rows.map((row) => toRecordedEvent(row, upcasters));
}

/** How far back a stream is read: up to a version, or as it stood at an instant. */
export type AsOf = { readonly version: number } | { readonly time: Date };

/**
 * A stream's events up to `asOf`. As of a time means the events recorded at or before it, stopping
 * at the first one recorded later: the state is always a prefix of the stream, even if a retried
 * command recorded an earlier time than the event before it.
 */
export async function readStreamAsOf(em: EntityManager, upcasters: UpcasterRegistry, streamId: string, asOf: AsOf): Promise<RecordedEvent[]> {
  if ('version' in asOf) return readStream(em, upcasters, streamId, { toVersion: asOf.version });
  const rows = await query<EventRow>(
    em,
    `select ${EVENT_COLUMNS} from events
     where stream_id = $1 and stream_version < coalesce(
       (select min(stream_version) from events where stream_id = $1 and recorded_at > $2::timestamptz), 2147483647)
     order by stream_version`,
    [streamId, asOf.time],
  );
  return rows.map((row) => toRecordedEvent(row, upcasters));
}

/**
 * Whether an event has this position: what tells a position the server handed out from a made-up
 * one. One probe of the (transaction_id, global_position) index; events are never deleted, so a
 * position once handed out stays an event's.
 */
export async function isEventPosition(em: EntityManager, position: LogPosition): Promise<boolean> {
  const [row] = await query<{ found: boolean }>(
    em,
    'select exists (select 1 from events where transaction_id = $1::text::xid8 and global_position = $2::bigint) as found',
    [position.transactionId.toString(), position.globalPosition.toString()],
  );
  return row?.found === true;
}
