import { Migration } from '@mikro-orm/migrations';

/**
 * One row per run of `npm run db:after-restore` that re-based transaction ids (see
 * src/eventStore/log/rebase.ts). Cursors encode transaction ids, so a position handed out before a
 * re-base may name an event that has moved; this record is how the server tells such a cursor (its
 * global position at or below `last_global_position`) from one it never handed out, and refuses it
 * with a message that says what to do.
 */
export class Migration20261202050000_log_rebases extends Migration {
  override name = 'Migration20261202050000_log_rebases';

  override up(): void {
    this.addSql(`
      create table if not exists log_rebases (
        rebase_id integer generated always as identity primary key,
        rebased_at timestamptz not null default now(),
        events_rebased bigint not null,
        events_appended_here bigint not null,
        last_global_position bigint not null,
        first_transaction_id xid8 not null,
        last_transaction_id xid8 not null,
        transaction_ids_consumed bigint not null
      )`);
  }

  override down(): void {
    this.addSql('drop table if exists log_rebases');
  }
}
