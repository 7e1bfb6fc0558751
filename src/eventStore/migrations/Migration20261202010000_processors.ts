import { Migration } from '@mikro-orm/migrations';

/**
 * Processors' state. `processor_checkpoints`: one row per processor, its position in commit order
 * (the same pair the log is ordered by), whether it stopped on a parked event, and its fencing
 * epoch: every claim and every admin change bumps it, and a checkpoint update only applies while
 * the epoch is the one its writer claimed, so a holder that lost its lock cannot move it.
 * `processor_parked`: events a processor gave up on after its retries, kept until retried or skipped.
 */
export class Migration20261202010000_processors extends Migration {
  override name = 'Migration20261202010000_processors';

  override up(): void {
    this.addSql(`
      create table if not exists processor_checkpoints (
        name text primary key,
        transaction_id xid8 not null,
        global_position bigint not null,
        epoch bigint not null,
        status text not null,
        owner text null,
        claimed_at timestamptz null,
        updated_at timestamptz not null
      )`);
    this.addSql(`
      create table if not exists processor_parked (
        processor text not null,
        event_id uuid not null,
        transaction_id xid8 not null,
        global_position bigint not null,
        error text not null,
        attempts integer not null,
        first_failed_at timestamptz not null,
        last_failed_at timestamptz not null,
        status text not null,
        resolved_at timestamptz null,
        constraint processor_parked_pkey primary key (processor, event_id)
      )`);
    this.addSql(`create index if not exists processor_parked_order_idx on processor_parked (processor, transaction_id, global_position)`);
  }

  override down(): void {
    this.addSql('drop table if exists processor_parked');
    this.addSql('drop table if exists processor_checkpoints');
  }
}
