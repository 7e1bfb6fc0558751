import { Migration } from '@mikro-orm/migrations';

/**
 * The event log. (Until the modules had migrations of their own it also created the cart read model;
 * that moved to the cart module's first migration, which leaves an existing table as it is.)
 *
 * Commit order: `global_position` comes from a sequence, so a transaction that took a lower value
 * can commit after one that took a higher value. Readers therefore order by the writing
 * transaction's id (`transaction_id`, from `pg_current_xact_id()`) and then by position, and only
 * read transactions older than the oldest one still running; the index below serves exactly that.
 */
export class Migration20261123000000_event_store extends Migration {
  override name = 'Migration20261123000000_event_store';

  override up(): void {
    this.addSql(`
      create table events (
        global_position bigint generated always as identity primary key,
        transaction_id xid8 not null default pg_current_xact_id(),
        event_id uuid not null,
        stream_id text not null,
        stream_type text not null,
        stream_version integer not null check (stream_version > 0),
        event_type text not null,
        data jsonb not null,
        metadata jsonb not null default '{}'::jsonb,
        recorded_at timestamptz not null default now(),
        constraint events_event_id_unique unique (event_id),
        constraint events_stream_version_unique unique (stream_id, stream_version)
      )`);
    this.addSql(`create index events_commit_order_idx on events (transaction_id, global_position)`);
  }

  override down(): void {
    this.addSql('drop table if exists events');
  }
}
