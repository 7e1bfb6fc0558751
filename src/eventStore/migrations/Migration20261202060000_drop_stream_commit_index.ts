import { Migration } from '@mikro-orm/migrations';

/**
 * One stream's history is read on the unique (stream_id, stream_version) index, in version order,
 * which is the stream's commit order (see streamVersionBound in src/eventStore/log/read.ts). The
 * (stream_id, transaction_id, global_position) index ordered the same rows a second time, at the
 * cost of one more B-tree entry on every append.
 */
export class Migration20261202060000_drop_stream_commit_index extends Migration {
  override name = 'Migration20261202060000_drop_stream_commit_index';

  override up(): void {
    this.addSql('drop index if exists events_stream_commit_idx');
  }

  override down(): void {
    this.addSql('create index if not exists events_stream_commit_idx on events (stream_id, transaction_id, global_position)');
  }
}
