import { Migration } from '@mikro-orm/migrations';

/**
 * Who may read the counters written before streams recorded their readers (see the event store's
 * stream_readers migration): the same readers the counter policy gives them now.
 */
export class Migration20261201000100_counter_readers extends Migration {
  override name = 'Migration20261201000100_counter_readers';

  override up(): void {
    this.addSql(`insert into stream_readers (stream_id, reader) select id, 'authenticated' from counters on conflict do nothing`);
  }
}
