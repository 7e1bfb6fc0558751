import type { EntityManager } from '@mikro-orm/postgresql';
import { query } from '../../db/sql.ts';
import type { LogPosition } from '../log/position.ts';

/** Counts stop here so a health check stays cheap even when a follower is far behind. */
export const LAG_COUNT_CAP = 100_000;

/** The transaction that holds the log back: nothing it or later transactions wrote can be read until it ends. */
export type OpenTransaction = {
  readonly pid: number;
  readonly database: string | null;
  readonly applicationName: string | null;
  readonly state: string | null;
  /** Seconds since the transaction began (an upper bound on how long it has held the log back). */
  readonly ageSeconds: number;
};

export type LogLag = {
  /** Committed events after `position` (capped at LAG_COUNT_CAP): what a reader at `position` has yet to see. */
  readonly eventsBehind: number;
  /**
   * Committed events no reader may see yet, because an older transaction is still running (capped
   * at LAG_COUNT_CAP). Non-zero for more than a moment means a long transaction holds the feed back.
   * Events with ids beyond this cluster's (restored from another one) are not held back by anything
   * running, so they are not counted here: /health reports them as the log's `hiddenEvents`.
   */
  readonly eventsHeldBack: number;
  /** The oldest running transaction that has a transaction id, in any database of the cluster; null when none. */
  readonly oldestOpenTransaction: OpenTransaction | null;
};

/**
 * Transaction ids are cluster-wide, so a long write transaction in any database holds every event
 * log of the cluster back; `pg_stat_activity` lists them all (with full details for superusers and
 * members of pg_read_all_stats; other roles see their own sessions only).
 */
const LAG_SQL = `
  select
    (select count(*) from (
       select 1 from events where (transaction_id, global_position) > ($1::text::xid8, $2::bigint) limit ${LAG_COUNT_CAP}
     ) behind)::int as events_behind,
    (select count(*) from (
       select 1 from events
       where transaction_id >= pg_snapshot_xmin(pg_current_snapshot()) and transaction_id < pg_snapshot_xmax(pg_current_snapshot())
       limit ${LAG_COUNT_CAP}
     ) held)::int as events_held_back`;

const OLDEST_TRANSACTION_SQL = `
  select pid, datname, application_name, state,
         extract(epoch from clock_timestamp() - xact_start)::float8 as age_seconds
  from pg_stat_activity
  where backend_xid is not null and pid <> pg_backend_pid()
  order by age(backend_xid) desc
  limit 1`;

/** How far a reader at `position` is behind the log, and what holds the log back. */
export async function readLogLag(em: EntityManager, position: LogPosition): Promise<LogLag> {
  const [counts] = await query<{ events_behind: number; events_held_back: number }>(em, LAG_SQL, [
    position.transactionId.toString(),
    position.globalPosition.toString(),
  ]);
  const [oldest] = await query<{ pid: number; datname: string | null; application_name: string | null; state: string | null; age_seconds: number }>(
    em,
    OLDEST_TRANSACTION_SQL,
  );
  return {
    eventsBehind: counts?.events_behind ?? 0,
    eventsHeldBack: counts?.events_held_back ?? 0,
    oldestOpenTransaction: oldest
      ? {
          pid: oldest.pid,
          database: oldest.datname,
          applicationName: oldest.application_name || null,
          state: oldest.state,
          ageSeconds: Math.max(0, Number(oldest.age_seconds)),
        }
      : null,
  };
}
