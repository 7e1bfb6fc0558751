import type { EntityManager } from '@mikro-orm/postgresql';
import { query } from '../../db/sql.ts';
import { FEED_APPLICATION_NAME } from '../feed/listener.ts';
import type { LogPosition } from './position.ts';

/*
 * Commit order is (transaction_id, global_position), and readers see only transactions below the
 * oldest one running (pg_snapshot_xmin). Transaction ids belong to one PostgreSQL cluster: restored
 * (pg_dump/pg_restore) or replicated (logical replication) into a cluster whose counter is lower,
 * rows keep ids this cluster has not reached, and no reader sees them until it does; events appended
 * meanwhile get lower ids and sort before them. This file detects that and repairs it.
 */

/** What an operator runs to repair a restored log (package.json's `db:after-restore`). */
export const AFTER_RESTORE_COMMAND = 'npm run db:after-restore';

/** Counts stop here, so that /health stays cheap however much was restored. */
export const HIDDEN_EVENTS_COUNT_CAP = 100_000;

/**
 * Events whose transaction id this cluster has not handed out yet (at or above the snapshot's
 * xmax): written in another cluster, and hidden from history and live feeds. One seek on the
 * (transaction_id, global_position) index, which finds nothing on a healthy log. Capped at
 * HIDDEN_EVENTS_COUNT_CAP.
 */
export async function countHiddenEvents(em: EntityManager): Promise<number> {
  const [row] = await query<{ hidden: number }>(
    em,
    `select count(*)::int as hidden from (
       select 1 from events where transaction_id >= pg_snapshot_xmax(pg_current_snapshot()) limit ${HIDDEN_EVENTS_COUNT_CAP}
     ) as beyond`,
  );
  return row?.hidden ?? 0;
}

/**
 * A table besides `events` that stores log positions, as a transaction id column (xid8) and a
 * global position column (bigint) naming an event (or 0/0, the log's start). The repair rewrites
 * every stored position of a moved event in the same transaction as the events, so it keeps naming
 * the same event. List such tables in `storedPositions` (src/eventStore/storage.ts); a listed table
 * that does not exist yet (a dump from an older release) is skipped.
 */
export type StoredPositionColumns = {
  readonly table: string;
  readonly transactionIdColumn: string;
  readonly globalPositionColumn: string;
};

/** When the log was re-based with a position like this one in it: a cursor from before then may no longer name its event. */
export async function rebasedSince(em: EntityManager, position: LogPosition): Promise<Date | undefined> {
  const [row] = await query<{ rebased_at: Date | string }>(
    em,
    'select rebased_at from log_rebases where last_global_position >= $1::bigint order by rebase_id desc limit 1',
    [position.globalPosition.toString()],
  );
  return row ? new Date(row.rebased_at) : undefined;
}

/** The repair refuses to run while an API follows the log: its feed stands at a position the repair may move. */
export class ApiConnectedError extends Error {
  readonly sessions: readonly { pid: number; clientAddress: string | null; since: Date }[];
  constructor(sessions: ApiConnectedError['sessions']) {
    super(
      `${sessions.length} API process(es) are connected to this database (their event feed sessions: ${sessions
        .map((s) => `pid ${s.pid}${s.clientAddress ? ` from ${s.clientAddress}` : ''}`)
        .join(', ')}); stop every API process, then run this again`,
    );
    this.name = 'ApiConnectedError';
    this.sessions = sessions;
  }
}

export type RebaseReport = {
  /** Events whose transaction id lay beyond this cluster's when the repair began. */
  readonly hiddenEvents: number;
  /** Events given new transaction ids (the hidden ones and those appended here since the restore). */
  readonly rebasedEvents: number;
  /** Of those, events appended in this cluster after the restore: moved after every restored event. */
  readonly appendedHere: number;
  /** The new transaction ids, all below this cluster's counter; undefined when nothing moved. */
  readonly transactionIds: { readonly first: bigint; readonly last: bigint } | undefined;
  /** Transaction ids consumed to make room below the counter. */
  readonly transactionIdsConsumed: number;
  /** Stored positions rewritten, per table listed in `storedPositions`. */
  readonly storedPositions: Readonly<Record<string, number>>;
  /** Where the global_position sequence was moved to, when it lagged behind the log (logical replication does not carry sequences). */
  readonly sequenceMovedTo: bigint | undefined;
};

export type RebaseOptions = {
  readonly storedPositions: readonly StoredPositionColumns[];
  /** How long to wait for the lock on the log before giving up (a long transaction holding it); default 10 s. */
  readonly lockTimeoutMs?: number;
  readonly onProgress?: (message: string) => void;
};

/** Identifier quoting for the table and column names of `storedPositions`. */
const ident = (name: string) => `"${name.replaceAll('"', '""')}"`;

/**
 * Which rows move and in which order, given the threshold `$1` (this cluster's next transaction id
 * when the repair began). A row was appended in this cluster when the transaction that inserted it
 * here (`xmin`) is the one its id names and inserted no row of another id; a restore's transaction
 * (pg_restore's COPY, logical replication's initial copy) inserts the rows of many. Every restored
 * row at or above the threshold moves, and so does every row appended here, since it was committed
 * after every restored one: the new order is (appended here, transaction_id, global_position), the
 * restored rows' commit order followed by what happened here. Restored rows below the threshold
 * stay where they are. (Positions cannot tell the two apart: after logical replication the
 * sequence lags, and an append may take a position in a gap the origin left.)
 */
const MOVING_CTES = `
  own_writers as (
    select xmin::text as writer from events group by xmin::text having count(distinct transaction_id) = 1
  ), classified as (
    select global_position, transaction_id,
           (xmin = xid(transaction_id) and xmin::text in (select writer from own_writers)) as appended_here
    from events
  ), moving as (
    select * from classified where appended_here or transaction_id >= $1::text::xid8
  ), ordered as (
    select global_position, transaction_id, appended_here,
           lag(global_position) over (order by appended_here, transaction_id, global_position) as previous_position
    from moving
  ), grouped as (
    -- Consecutive rows share one new transaction id while the global position keeps rising: within
    -- one id the order is by global position, so the order is exactly the one above. A new id
    -- begins wherever the position falls back (a transaction that took its positions earlier but
    -- committed later).
    select global_position, transaction_id as old_transaction_id, appended_here,
           sum(case when previous_position is null or global_position < previous_position then 1 else 0 end)
             over (order by appended_here, transaction_id, global_position) as transaction_group
    from ordered
  )`;

/** Throws ApiConnectedError while another session of this database is an API's feed. */
async function refuseWhileApisConnected(em: EntityManager): Promise<void> {
  const apis = await query<{ pid: number; client_addr: string | null; backend_start: Date | string }>(
    em,
    `select pid, client_addr::text, backend_start from pg_stat_activity where datname = current_database() and application_name = $1 and pid <> pg_backend_pid()`,
    [FEED_APPLICATION_NAME],
  );
  if (apis.length > 0) throw new ApiConnectedError(apis.map((s) => ({ pid: s.pid, clientAddress: s.client_addr, since: new Date(s.backend_start) })));
}

type Plan = { hidden: number; moving: number; appendedHere: number; groups: number; base: bigint };

/** What a repair at threshold `threshold` would do: how many rows move, in how many groups, above which kept id. */
async function plan(em: EntityManager, threshold: bigint): Promise<Plan> {
  const [row] = await query<{ hidden: string; moving: string; appended_here: string; groups: string | null; base: string | null }>(
    em,
    `with ${MOVING_CTES}
     select (select count(*) from moving where not appended_here) as hidden,
            (select count(*) from moving) as moving,
            (select count(*) from moving where appended_here) as appended_here,
            (select max(transaction_group) from grouped) as groups,
            (select max(transaction_id)::text from classified where not (appended_here or transaction_id >= $1::text::xid8)) as base`,
    [threshold.toString()],
  );
  // Ids 0, 1 and 2 are PostgreSQL's special ones; new ids start above them.
  const base = row?.base ? BigInt(row.base) : 2n;
  return { hidden: Number(row?.hidden ?? 0), moving: Number(row?.moving ?? 0), appendedHere: Number(row?.appended_here ?? 0), groups: Number(row?.groups ?? 0), base: base < 2n ? 2n : base };
}

const nextTransactionId = async (em: EntityManager) =>
  BigInt((await query<{ next: string }>(em, 'select pg_snapshot_xmax(pg_current_snapshot())::text as next'))[0]!.next);

/**
 * Takes `count` transaction ids, each in a transaction of its own, so that the cluster's counter
 * passes them: the new ids must all lie below every id a later transaction gets. Commits need not
 * wait for the disk: a lost one only leaves the counter where it was, and the repair checks again.
 */
async function consumeTransactionIds(em: EntityManager, count: number): Promise<void> {
  if (count <= 0) return;
  // A DO block may commit only when it is the whole statement outside a transaction block: on a
  // pooled connection of its own, sent without parameters (the simple protocol).
  await query(
    em.fork(),
    `do $$ begin for i in 1..${Math.ceil(count)} loop
       perform set_config('synchronous_commit', 'off', true);
       perform pg_current_xact_id();
       commit;
     end loop; end $$`,
  );
}

/** Room left between the highest new id and the counter, against anything that takes ids meanwhile. */
const ROOM = 100;

/**
 * Re-bases the transaction ids of a restored log so that every event is visible again, the commit
 * order is kept exactly, and later appends sort after every event. Safe to run again: a log with
 * nothing hidden is left as it is (but for a lagging sequence). Runs in one transaction that holds
 * an ACCESS EXCLUSIVE lock on `events` and on every table of `storedPositions`, so nothing reads or
 * appends halfway; it refuses to run while an API process is connected (its feed session), since a
 * running feed's position would be left pointing at the old ids.
 */
export async function rebaseLog(em: EntityManager, options: RebaseOptions): Promise<RebaseReport> {
  const progress = options.onProgress ?? (() => undefined);
  // First without the lock, so that a refusal comes before any work (and before any id is taken).
  await refuseWhileApisConnected(em);
  const threshold = await nextTransactionId(em);
  let consumed = 0;
  for (let attempt = 1; ; attempt++) {
    const before = await plan(em, threshold);
    if (before.hidden > 0) {
      const needed = Number(before.base - (await nextTransactionId(em))) + before.groups + ROOM;
      if (needed > 0) {
        progress(`taking ${needed} transaction ids so that ${before.groups} new ones fit below the counter`);
        await consumeTransactionIds(em, needed);
        consumed += needed;
      }
    }
    const outcome = await em.transactional(async (tx) => rewrite(tx, threshold, consumed, options, progress));
    if (outcome !== 'no room') {
      if (outcome.rebasedEvents > 0) {
        // The old row versions' index entries sit at the far end of the commit-order index, where the
        // hidden-events check and the readers' horizon seek: cleared now, those seeks stay one page.
        progress('vacuuming events');
        await query(em.fork(), 'vacuum (analyze) events');
      }
      return outcome;
    }
    // Something took ids or appended between the plan and the lock: plan again.
    if (attempt >= 5) throw new Error('the transaction id counter kept moving under the repair; is something appending to the log?');
  }
}

async function rewrite(
  tx: EntityManager,
  threshold: bigint,
  consumed: number,
  options: RebaseOptions,
  progress: (message: string) => void,
): Promise<RebaseReport | 'no room'> {
  await query(tx, `select set_config('lock_timeout', $1, true)`, [`${options.lockTimeoutMs ?? 10_000}ms`]);
  const existing = await existingTables(tx, options.storedPositions);
  for (const table of ['events', ...existing.map((stored) => stored.table)]) await query(tx, `lock table ${ident(table)} in access exclusive mode`);
  // Again under the lock: an API that read the log before it holds its feed session by now (it listens first).
  await refuseWhileApisConnected(tx);

  // Taken before this transaction writes, so its own id (and every later one) is above the new ids.
  const counter = await nextTransactionId(tx);
  const sequenceMovedTo = await catchUpSequence(tx);
  const planned = await plan(tx, threshold);
  if (planned.hidden === 0) {
    return { hiddenEvents: 0, rebasedEvents: 0, appendedHere: 0, transactionIds: undefined, transactionIdsConsumed: consumed, storedPositions: {}, sequenceMovedTo };
  }
  if (planned.base + BigInt(planned.groups) >= counter) return 'no room';
  progress(`re-basing ${planned.moving} events (${planned.appendedHere} appended here since the restore) onto ${planned.groups} transaction ids after ${planned.base}`);

  await query(tx, 'create temporary table rebased (global_position bigint primary key, old_transaction_id xid8 not null, new_transaction_id xid8 not null) on commit drop');
  await query(
    tx,
    `insert into rebased with ${MOVING_CTES}
     select global_position, old_transaction_id, ($2::bigint + transaction_group)::text::xid8 from grouped`,
    [threshold.toString(), planned.base.toString()],
  );
  await query(tx, 'update events set transaction_id = rebased.new_transaction_id from rebased where events.global_position = rebased.global_position');
  const storedPositions: Record<string, number> = {};
  for (const stored of existing) {
    const [row] = await query<{ rewritten: number }>(
      tx,
      `with rewritten as (
         update ${ident(stored.table)} as stored set ${ident(stored.transactionIdColumn)} = rebased.new_transaction_id
         from rebased
         where stored.${ident(stored.globalPositionColumn)} = rebased.global_position and stored.${ident(stored.transactionIdColumn)} = rebased.old_transaction_id
         returning 1
       ) select count(*)::int as rewritten from rewritten`,
    );
    storedPositions[stored.table] = row?.rewritten ?? 0;
  }
  const first = planned.base + 1n;
  const last = planned.base + BigInt(planned.groups);
  await query(
    tx,
    `insert into log_rebases (events_rebased, events_appended_here, last_global_position, first_transaction_id, last_transaction_id, transaction_ids_consumed)
     select $1::bigint, $2::bigint, coalesce(max(global_position), 0), $3::text::xid8, $4::text::xid8, $5::bigint from events`,
    [planned.moving, planned.appendedHere, first.toString(), last.toString(), consumed],
  );
  return {
    hiddenEvents: planned.hidden,
    rebasedEvents: planned.moving,
    appendedHere: planned.appendedHere,
    transactionIds: { first, last },
    transactionIdsConsumed: consumed,
    storedPositions,
    sequenceMovedTo,
  };
}

async function existingTables(tx: EntityManager, stored: readonly StoredPositionColumns[]): Promise<StoredPositionColumns[]> {
  const found: StoredPositionColumns[] = [];
  for (const table of stored) {
    const [row] = await query<{ present: boolean }>(tx, 'select to_regclass($1) is not null as present', [ident(table.table)]);
    if (row?.present) found.push(table);
  }
  return found;
}

/** Moves the global_position sequence past the log's highest position when it lags (a logical replica's does); returns where to, or undefined. */
async function catchUpSequence(tx: EntityManager): Promise<bigint | undefined> {
  const [sequence] = await query<{ name: string | null; highest: string | null }>(
    tx,
    `select pg_get_serial_sequence('events', 'global_position') as name, (select max(global_position)::text from events) as highest`,
  );
  if (!sequence?.name || sequence.highest === null) return undefined;
  // The name comes from the catalogue, already quoted where it needs to be.
  const [state] = await query<{ last_value: string; is_called: boolean }>(tx, `select last_value::text, is_called from ${sequence.name}`);
  const highest = BigInt(sequence.highest);
  const handedOut = state?.is_called ? BigInt(state.last_value) : BigInt(state?.last_value ?? '1') - 1n;
  if (handedOut >= highest) return undefined;
  await query(tx, 'select setval($1::regclass, $2::bigint)', [sequence.name, sequence.highest]);
  return highest;
}
