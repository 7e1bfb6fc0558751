import { Migration } from '@mikro-orm/migrations';

/**
 * Who may read each stream, as principals (`sub:<subject>`, `role:<role>`, `authenticated`), written
 * by the append itself whenever a command gives a stream readers it did not have. History filtered
 * by a caller's principals joins on (reader, stream_id), so it reads the caller's streams' events
 * through the per-stream index, never the whole log. Rows are only ever added.
 */
export class Migration20261201000000_stream_readers extends Migration {
  override name = 'Migration20261201000000_stream_readers';

  override up(): void {
    this.addSql(`
      create table if not exists stream_readers (
        stream_id text not null,
        reader text not null,
        constraint stream_readers_pkey primary key (stream_id, reader)
      )`);
    this.addSql(`create index if not exists stream_readers_reader_idx on stream_readers (reader, stream_id)`);
  }

  override down(): void {
    this.addSql('drop table if exists stream_readers');
  }
}
