import pg from 'pg';
import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import { IllegalStateError } from '../../core/errors.ts';
import type { Logger } from '../../core/logger.ts';
import type { RecordedEvent } from '../../core/message.ts';
import { pgErrorCode, query } from '../../db/sql.ts';
import { readLog, readStream } from '../log/read.ts';
import { isReverted } from '../log/reverts.ts';
import type { UpcasterRegistry } from '../log/upcasters.ts';
import { LOG_START, type LogPosition } from '../log/position.ts';
import { EVENT_COLUMNS, type EventRow, toRecordedEvent } from '../log/recorded.ts';
import { type InlineProjection, type Rebuildable, replayView } from './projection.ts';
import { insertRowsSql, type Bind } from './upsertSql.ts';

/** Another rebuild of the same projection holds its lock, in this process or another. Nothing was started. */
export class RebuildInProgressError extends IllegalStateError {
  readonly readModel: string;
  constructor(readModel: string) {
    super('REBUILD_IN_PROGRESS', `A rebuild of ${readModel} is already running; follow its progress or wait for it to finish`);
    this.readModel = readModel;
  }
}

export type RebuildPhase = 'building' | 'catching_up' | 'switching' | 'done' | 'failed';

export type RebuildProgress = {
  readonly readModel: string;
  readonly phase: RebuildPhase;
  /** Events applied to the new tables so far. */
  readonly done: number;
  /** Events of the projection's stream types in the log when the rebuild started (more may come). */
  readonly total: number;
  readonly eventsPerSecond: number;
  /** Seconds left at the current speed; undefined until there is a speed. */
  readonly etaSeconds: number | undefined;
  readonly elapsedSeconds: number;
  /** How long appends to the projection's stream types waited for the switch (when done). */
  readonly writePauseMs?: number;
  readonly error?: string;
};

export type RebuildResult = RebuildProgress & { readonly writePauseMs: number };

/** The advisory lock key space of rebuilds (the first of pg_advisory_lock's two keys); the second is hashtext(name). */
const REBUILD_LOCK_CLASS = 711_001;
const LOCK_KEYS = `${REBUILD_LOCK_CLASS}, hashtext($1)`;
export const REBUILD_LOCK_SQL = { class: REBUILD_LOCK_CLASS, keys: LOCK_KEYS };

export type RebuildOptions = {
  readonly orm: MikroORM;
  /** For the rebuild's own session: it holds the advisory lock and reads the log through a cursor. */
  readonly databaseUrl: string;
  readonly projection: InlineProjection;
  /** Events are folded in their current shape, as on every read path. */
  readonly upcasters: UpcasterRegistry;
  readonly logger: Logger;
  readonly onProgress?: (progress: RebuildProgress) => void;
  /** Stops the rebuild between batches; the live tables stay as they were. */
  readonly signal?: AbortSignal;
  /** Events a batch reads; default 5,000. */
  readonly batchSize?: number;
  /** Catch-up rounds end once a round found at most this many new events; default 100. */
  readonly tailSize?: number;
  /** How long the switch waits for the live tables' lock before it gives up, catches up and tries again; default 2 s. */
  readonly switchLockTimeoutMs?: number;
};

/** SQLSTATE of a lock that `lock_timeout` gave up on. */
const LOCK_NOT_AVAILABLE = '55P03';
const SWITCH_ATTEMPTS = 5;

/**
 * A session that holds a projection's rebuild lock; `acquire` refuses with RebuildInProgressError
 * when another session holds it. The lock is a session-level advisory lock on a connection of its
 * own, so it is released when the rebuild ends or its process dies.
 */
export class RebuildLock {
  readonly client: pg.Client;
  readonly readModel: string;

  private constructor(client: pg.Client, readModel: string) {
    this.client = client;
    this.readModel = readModel;
  }

  static async acquire(databaseUrl: string, readModel: string): Promise<RebuildLock> {
    const client = new pg.Client({ connectionString: databaseUrl, application_name: `rebuild ${readModel}` });
    await client.connect();
    try {
      const { rows } = await client.query<{ locked: boolean }>(`select pg_try_advisory_lock(${LOCK_KEYS}) as locked`, [readModel]);
      if (!rows[0]?.locked) throw new RebuildInProgressError(readModel);
      return new RebuildLock(client, readModel);
    } catch (error) {
      await client.end().catch(() => undefined);
      throw error;
    }
  }

  async release(): Promise<void> {
    try {
      await this.client.query(`select pg_advisory_unlock(${LOCK_KEYS})`, [this.readModel]);
    } finally {
      await this.client.end().catch(() => undefined);
    }
  }
}

/** Names of projections whose rebuild lock some session holds: running rebuilds, in any process. */
export async function runningRebuilds(em: EntityManager, names: readonly string[]): Promise<Set<string>> {
  if (names.length === 0) return new Set();
  const rows = await query<{ name: string }>(
    em,
    `select name from unnest($1::text[]) as name
     where exists (select 1 from pg_locks where locktype = 'advisory' and classid = ${REBUILD_LOCK_CLASS} and objid = hashtext(name)::oid and objsubid = 2 and granted)`,
    [names],
  );
  return new Set(rows.map((row) => row.name));
}

const quoteIdent = (identifier: string) => `"${identifier.replaceAll('"', '""')}"`;

/** The schema a projection's new tables are built in; one per projection, so two projections can rebuild at once. */
export const shadowSchemaOf = (readModel: string) => `rebuild_${readModel.toLowerCase().replace(/[^a-z0-9_]/g, '_')}`;

/**
 * Rebuilds one inline projection from the log while the API keeps serving, then swaps the new
 * tables in. The caller holds `lock` (the projection's RebuildLock).
 *
 * 1. The new tables are made in a schema of their own, shaped like the live ones (columns,
 *    defaults, checks), without indexes so the bulk load is fast.
 * 2. Build up to P, the log's head below the oldest running transaction (readLog's horizon), so
 *    every event at or before P is committed and final. A per-stream view folds each stream in
 *    turn from a cursor in stream order and bulk-inserts the rows; any other projection has its own
 *    `apply` run over the log in commit order. Then the live tables' indexes and keys are copied.
 * 3. Catch up in rounds through readLog after P, writing into the new tables (they come first on
 *    the search path), until a round finds only a short tail: a per-stream view folds each batch's
 *    rows on with its `evolve` in a few statements (applyToViewRows), any other projection runs its
 *    own `apply`.
 * 4. Switch, in one short transaction: LOCK the live tables IN EXCLUSIVE MODE, which waits for
 *    writers that already touched them and blocks new writes (both append paths write the
 *    projection's rows in the append's transaction) while reads go on. Every event that touched
 *    the live tables is committed now, so the tail after the last applied position is read without
 *    the horizon, applied, and the tables swapped (the live ones moved aside and dropped after the
 *    commit, the new ones moved into the live schema: names, indexes and constraints as before). A waiting append then writes into the
 *    new tables, and its events were not in the tail because they had not committed: nothing is
 *    missed or applied twice. Queries see the old tables until the commit and the new ones after.
 */
export async function rebuildProjection(lock: RebuildLock, options: RebuildOptions): Promise<RebuildResult> {
  const { projection, orm, logger } = options;
  const rebuild = projection.rebuild;
  if (!rebuild) throw new Error(`${projection.name} declares no rebuild`);
  const readModel = projection.name;
  const batchSize = options.batchSize ?? 5_000;
  const tailSize = options.tailSize ?? 100;
  const switchLockTimeoutMs = options.switchLockTimeoutMs ?? 2_000;
  const session = lock.client;
  const em = orm.em.fork();
  const shadow = shadowSchemaOf(readModel);
  /** Where the replaced tables go at the switch, to be dropped after it. */
  const retired = `${shadow}_retired`;
  const [{ schema: liveSchema }] = (await session.query<{ schema: string }>('select current_schema() as schema')).rows as [{ schema: string }];
  const tables = rebuild.entities.map((entity) => em.getMetadata().get(entity).tableName);
  const searchPath = `set local search_path to ${quoteIdent(shadow)}, ${quoteIdent(liveSchema)}`;
  const live = (table: string) => `${quoteIdent(liveSchema)}.${quoteIdent(table)}`;
  const inShadow = (table: string) => `${quoteIdent(shadow)}.${quoteIdent(table)}`;

  const started = performance.now();
  let phase: RebuildPhase = 'building';
  let done = 0;
  let total = 0;
  const progress = (extra: Partial<RebuildProgress> = {}): RebuildProgress => {
    const elapsedSeconds = (performance.now() - started) / 1000;
    const eventsPerSecond = elapsedSeconds > 0 ? done / elapsedSeconds : 0;
    const left = Math.max(total - done, 0);
    return { readModel, phase, done, total, eventsPerSecond, etaSeconds: eventsPerSecond > 0 ? left / eventsPerSecond : undefined, elapsedSeconds, ...extra };
  };
  let lastReport = 0;
  const report = (force = false) => {
    const now = performance.now();
    if (!force && now - lastReport < 200) return;
    lastReport = now;
    options.onProgress?.(progress());
  };
  const checkAborted = () => {
    if (options.signal?.aborted) throw new Error(`the rebuild of ${readModel} was stopped`, { cause: options.signal.reason });
  };
  const instance = rebuild.fresh();
  /**
   * Events after the build, applied to the new tables in `tx` (whose search path puts them first):
   * a per-stream view reads the rows of the batch's streams in one query, folds them on with its
   * own `evolve` and writes them back in one statement, so catching up costs a few round trips a
   * batch, not two a stream; any other projection runs its own `apply`.
   */
  const applyInTransaction = async (tx: EntityManager, events: readonly RecordedEvent[]) => {
    if (events.length === 0) return;
    if (rebuild.view) await applyToViewRows(tx, options.upcasters, rebuild.view, events);
    else await instance.apply(tx, events, options.upcasters);
  };
  const applyToShadow = async (events: readonly RecordedEvent[]) => {
    if (events.length === 0) return;
    await em.fork().transactional(async (tx) => {
      await query(tx, searchPath);
      await applyInTransaction(tx, events);
    });
    if (!rebuild.view) instance.afterCommit?.(events);
  };

  try {
    // DDL in one transaction each time: one commit (and WAL flush) instead of one per statement.
    await session.query('begin');
    await session.query(`drop schema if exists ${quoteIdent(shadow)} cascade`);
    await session.query(`drop schema if exists ${quoteIdent(retired)} cascade`);
    await session.query(`create schema ${quoteIdent(shadow)}`);
    await session.query(`create schema ${quoteIdent(retired)}`);
    for (const table of tables) {
      await session.query(`create table ${inShadow(table)} (like ${live(table)} including defaults including constraints including generated including identity including storage including comments)`);
    }
    await session.query('commit');
    const head = await logHead(session);
    total = await countEvents(session, projection.streamTypes, head);
    report(true);

    // 2. Build up to the head.
    let applied: LogPosition = head;
    if (rebuild.view) {
      await buildByStream(session, em, options.upcasters, rebuild.view, shadow, liveSchema, head, Math.max(batchSize, 10_000), (n) => {
        done += n;
        checkAborted();
        report();
      });
      await copyIndexes(session, tables, liveSchema, shadow);
    } else {
      await copyIndexes(session, tables, liveSchema, shadow);
      for (let after: LogPosition = LOG_START; ; ) {
        checkAborted();
        const page = await readLog(em.fork(), options.upcasters, { after, limit: batchSize, upTo: head, ...streamFilter(projection) });
        const events = page.events.filter((event) => projection.streamTypes.includes(event.streamType));
        await applyToShadow(events);
        done += events.length;
        report();
        if (page.events.length < batchSize) break;
        after = page.next;
      }
    }

    // 3. Catch up with what was appended meanwhile, in rounds, below the horizon.
    phase = 'catching_up';
    report(true);
    const catchUp = async () => {
      for (let round = 0; round < 50; round++) {
        let found = 0;
        for (;;) {
          checkAborted();
          const page = await readLog(em.fork(), options.upcasters, { after: applied, limit: batchSize, ...streamFilter(projection) });
          const events = page.events.filter((event) => projection.streamTypes.includes(event.streamType));
          await applyToShadow(events);
          applied = page.next;
          found += events.length;
          done += events.length;
          total = Math.max(total, done);
          report();
          if (page.events.length < batchSize) break;
        }
        if (found <= tailSize) return;
      }
    };
    await catchUp();

    // 4. Switch. A lock that does not come within `switchLockTimeoutMs` (a long transaction holds
    // the table) is given up rather than waited for, since new writes queue behind the waiting
    // LOCK: catch up once more and try again.
    phase = 'switching';
    report(true);
    let pauseStarted = 0;
    let tailEvents = 0;
    for (let attempt = 1; ; attempt++) {
      checkAborted();
      try {
        await em.fork().transactional(async (tx) => {
          await query(tx, searchPath);
          await query(tx, `set local lock_timeout = ${Math.max(1, Math.round(switchLockTimeoutMs))}`);
          pauseStarted = performance.now();
          await query(tx, `lock table ${tables.map(live).join(', ')} in exclusive mode`);
          // Committed is final now for everything that touched these tables: no horizon.
          const tail = await readTail(tx, options.upcasters, applied, projection.streamTypes);
          tailEvents = tail.length;
          await applyInTransaction(tx, tail);
          // Moving tables between schemas only changes the catalog; dropping the old ones (unlinking
          // their files) waits until after the commit, outside the pause.
          for (const table of tables) {
            await query(tx, `alter table ${live(table)} set schema ${quoteIdent(retired)}`);
            await query(tx, `alter table ${inShadow(table)} set schema ${quoteIdent(liveSchema)}`);
          }
          await query(
            tx,
            `insert into ${quoteIdent(liveSchema)}.projection_versions (name, version, rebuilt_at, rebuilt_events, rebuild_seconds, write_pause_ms)
             values ($1, $2, now(), $3, $4, $5)
             on conflict (name) do update set version = excluded.version, rebuilt_at = excluded.rebuilt_at, rebuilt_events = excluded.rebuilt_events,
               rebuild_seconds = excluded.rebuild_seconds, write_pause_ms = excluded.write_pause_ms`,
            [readModel, rebuild.version, done + tail.length, (performance.now() - started) / 1000, performance.now() - pauseStarted],
          );
        });
        break;
      } catch (error) {
        if (pgErrorCode(error).code !== LOCK_NOT_AVAILABLE || attempt >= SWITCH_ATTEMPTS) throw error;
        logger.warn('a rebuild could not lock the live tables in time; catching up and trying again', { readModel, attempt, lockTimeoutMs: switchLockTimeoutMs });
        await catchUp();
      }
    }
    done += tailEvents;
    total = Math.max(total, done);
    const writePauseMs = performance.now() - pauseStarted;
    await session.query(`drop schema if exists ${quoteIdent(retired)}, ${quoteIdent(shadow)} cascade`);
    phase = 'done';
    const result = { ...progress({ writePauseMs, etaSeconds: 0 }), writePauseMs };
    options.onProgress?.(result);
    logger.info('rebuilt a read model', { readModel, version: rebuild.version, events: done, tailEvents, seconds: result.elapsedSeconds, writePauseMs });
    return result;
  } catch (error) {
    phase = 'failed';
    options.onProgress?.(progress({ error: error instanceof Error ? error.message : String(error) }));
    await session.query('rollback').catch(() => undefined);
    await session.query(`drop schema if exists ${quoteIdent(shadow)}, ${quoteIdent(retired)} cascade`).catch(() => undefined);
    throw error;
  }
}

/** Rebuilds under the projection's lock: acquires it (or refuses), rebuilds, releases. */
export async function rebuildWithLock(options: RebuildOptions): Promise<RebuildResult> {
  const lock = await RebuildLock.acquire(options.databaseUrl, options.projection.name);
  try {
    return await rebuildProjection(lock, options);
  } finally {
    await lock.release();
  }
}

const streamFilter = (projection: InlineProjection) => (projection.streamTypes.length === 1 ? { filter: { streamType: projection.streamTypes[0]! } } : {});

/** The last event below the horizon: everything at or before it is committed and stays so. */
async function logHead(session: pg.Client): Promise<LogPosition> {
  const { rows } = await session.query<{ t: string; g: string }>(
    `select transaction_id::text as t, global_position::text as g from events
     where transaction_id < pg_snapshot_xmin(pg_current_snapshot())
     order by transaction_id desc, global_position desc limit 1`,
  );
  return rows[0] ? { transactionId: BigInt(rows[0].t), globalPosition: BigInt(rows[0].g) } : LOG_START;
}

const upToCondition = '(transaction_id, global_position) <= ($2::text::xid8, $3::bigint)';

async function countEvents(session: pg.Client, streamTypes: readonly string[], head: LogPosition): Promise<number> {
  const { rows } = await session.query<{ n: string }>(
    `select count(*) as n from events where stream_type = any($1::text[]) and ${upToCondition}`,
    [streamTypes, head.transactionId.toString(), head.globalPosition.toString()],
  );
  return Number(rows[0]!.n);
}

/** Everything committed after `after` for these stream types, in commit order. Only under the switch's lock. */
async function readTail(em: EntityManager, upcasters: UpcasterRegistry, after: LogPosition, streamTypes: readonly string[]): Promise<RecordedEvent[]> {
  const rows = await query<EventRow>(
    em,
    `select ${EVENT_COLUMNS} from events
     where stream_type = any($1::text[]) and (transaction_id, global_position) > ($2::text::xid8, $3::bigint)
     order by transaction_id, global_position`,
    [streamTypes, after.transactionId.toString(), after.globalPosition.toString()],
  );
  return rows.map((row) => toRecordedEvent(row, upcasters));
}

/**
 * Folds every stream of the view's type up to `head`, one stream at a time, from a cursor in stream
 * order (a row depends on its own stream alone), and inserts the rows into the new table in bulk.
 * The cursor's transaction only reads, so it takes no transaction id and holds back no log reader;
 * the inserts are short transactions of their own, one in flight while the next batch is read.
 */
async function buildByStream(
  session: pg.Client,
  em: EntityManager,
  upcasters: UpcasterRegistry,
  view: NonNullable<Rebuildable['view']>,
  shadow: string,
  liveSchema: string,
  head: LogPosition,
  batchSize: number,
  onEvents: (count: number) => void,
): Promise<void> {
  const searchPath = `set local search_path to ${quoteIdent(shadow)}, ${quoteIdent(liveSchema)}`;
  let pending: Record<string, unknown>[] = [];
  let writing: Promise<void> = Promise.resolve();
  let failure: unknown;
  const flush = async () => {
    if (pending.length === 0) return;
    const rows = pending;
    pending = [];
    await writing;
    if (failure) throw failure;
    writing = em
      .fork()
      .transactional(async (tx) => {
        await query(tx, searchPath);
        const params: unknown[] = [];
        const bind: Bind = (value, columnType) => `$${params.push(value)}::${columnType}`;
        await query(tx, insertRowsSql(tx, view.entity, rows, bind), params);
      })
      .catch((error: unknown) => {
        failure = error;
      });
  };

  await session.query('begin isolation level repeatable read read only');
  try {
    await session.query(
      `declare rebuild_cursor no scroll cursor for
       select ${EVENT_COLUMNS} from events where stream_type = $1 and ${upToCondition}
       order by stream_id, stream_version`,
      [view.streamType, head.transactionId.toString(), head.globalPosition.toString()],
    );
    let streamId: string | undefined;
    // A stream's events are replayed together, so a revert finds the row at the version it targets.
    let streamEvents: RecordedEvent[] = [];
    const finishStream = () => {
      const row = replayView(view, streamEvents as RecordedEvent<never>[]);
      if (row !== null) pending.push(row as Record<string, unknown>);
      streamEvents = [];
    };
    // The next batch is asked for before this one is folded, so PostgreSQL reads while Node folds.
    const fetch = () => session.query<EventRow>(`fetch ${batchSize} from rebuild_cursor`);
    let next = fetch();
    for (;;) {
      const { rows } = await next;
      if (rows.length === batchSize) next = fetch();
      for (const eventRow of rows) {
        const event = toRecordedEvent(eventRow, upcasters);
        if (event.streamId !== streamId) {
          finishStream();
          streamId = event.streamId;
        }
        streamEvents.push(event);
      }
      onEvents(rows.length);
      if (pending.length >= 1_000) await flush();
      if (rows.length < batchSize) break;
    }
    finishStream();
    await flush();
    await writing;
    if (failure) throw failure;
  } finally {
    await session.query('rollback').catch(() => undefined);
  }
}

/** Folds `events` onto the view's rows of their streams: one read of those rows, one upsert, one delete when a row goes. */
async function applyToViewRows(tx: EntityManager, upcasters: UpcasterRegistry, view: NonNullable<Rebuildable['view']>, events: readonly RecordedEvent[]): Promise<void> {
  const byStream = new Map<string, RecordedEvent[]>();
  for (const event of events) {
    if (event.streamType !== view.streamType) continue;
    const list = byStream.get(event.streamId);
    if (list) list.push(event);
    else byStream.set(event.streamId, [event]);
  }
  if (byStream.size === 0) return;
  const meta = tx.getMetadata().get(view.entity);
  const key = meta.primaryKeys[0]!;
  const found = (await tx.find(view.entity, { [key]: { $in: [...byStream.keys()] } } as never)) as Record<string, unknown>[];
  const current = new Map(found.map((row) => [String(row[key]), { ...row } as object]));
  const upserts: Record<string, unknown>[] = [];
  const deletes: string[] = [];
  for (const [streamId, streamEvents] of byStream) {
    const before = current.get(streamId) ?? null;
    // A revert needs the row at an older version: the stream is replayed from its start (the log is live, not shadowed).
    const after = streamEvents.some(isReverted)
      ? replayView(view, [...(await readStream(tx, upcasters, streamId, { toVersion: streamEvents[0]!.version - 1 })), ...streamEvents] as RecordedEvent<never>[])
      : streamEvents.reduce<object | null>((row, event) => view.evolve(row, event), before);
    if (after !== null) upserts.push(after as Record<string, unknown>);
    else if (before !== null) deletes.push(streamId);
  }
  if (upserts.length > 0) {
    const params: unknown[] = [];
    const bind: Bind = (value, columnType) => `$${params.push(value)}::${columnType}`;
    await query(tx, insertRowsSql(tx, view.entity, upserts, bind, { upsert: true }), params);
  }
  if (deletes.length > 0) await tx.nativeDelete(view.entity, { [key]: { $in: deletes } } as never);
}

/**
 * Gives the new tables the live ones' primary keys, unique constraints and indexes, under the
 * same names: index names are per schema, so they can be equal, and once moved into the live
 * schema the tables look exactly as the migrations left the old ones (the ORM's schema diff stays empty).
 */
async function copyIndexes(session: pg.Client, tables: readonly string[], liveSchema: string, shadow: string): Promise<void> {
  await session.query('begin');
  for (const table of tables) {
    const qualified = `${quoteIdent(liveSchema)}.${quoteIdent(table)}`;
    const { rows } = await session.query<{ definition: string; constraint_name: string | null; constraint_definition: string | null }>(
      `select pg_get_indexdef(i.indexrelid) as definition, c.conname as constraint_name, pg_get_constraintdef(c.oid) as constraint_definition
       from pg_index i left join pg_constraint c on c.conindid = i.indexrelid and c.conrelid = i.indrelid and c.contype in ('p', 'u', 'x')
       where i.indrelid = $1::regclass order by i.indisprimary desc, i.indexrelid`,
      [qualified],
    );
    const target = `${quoteIdent(shadow)}.${quoteIdent(table)}`;
    for (const index of rows) {
      if (index.constraint_name && index.constraint_definition) {
        await session.query(`alter table ${target} add constraint ${quoteIdent(index.constraint_name)} ${index.constraint_definition}`);
      } else {
        const definition = index.definition.replace(/ ON (ONLY )?\S+ USING /, ` ON ${target} USING `);
        await session.query(definition);
      }
    }
  }
  await session.query('commit');
}
