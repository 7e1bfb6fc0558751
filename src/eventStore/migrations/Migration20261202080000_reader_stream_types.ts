import { Migration } from '@mikro-orm/migrations';

/**
 * What history needs to drive a caller's page from the streams they may read (see readHistory in
 * src/eventStore/log/read.ts): each reader's streams by stream type, and which stream types each
 * event type occurs in. With both, a filter that no stream of a principal can match (a customer's
 * `authenticated` counters under a Cart filter) is ruled out by an index probe instead of a walk of
 * the filter's whole index. `stream_readers` rows are written once per stream and reader, so the
 * extra column costs nearly nothing; `event_stream_types` holds a row per pair ever seen, and an
 * append whose pairs are known only probes its index and writes nothing.
 */
export class Migration20261202080000_reader_stream_types extends Migration {
  override name = 'Migration20261202080000_reader_stream_types';

  override up(): void {
    // '' means not known: what a release before this one records (it names no type), and what a
    // reader recorded for a stream without events gets below. History reads such streams under
    // every filter, checking the events themselves (see readReadableHistory).
    this.addSql(`alter table stream_readers add column if not exists stream_type text not null default ''`);
    this.addSql(`
      update stream_readers sr set stream_type = (
        select e.stream_type from events e where e.stream_id = sr.stream_id order by e.stream_version limit 1)
      where sr.stream_type = '' and exists (select 1 from events e where e.stream_id = sr.stream_id)`);
    this.addSql('create index if not exists stream_readers_reader_type_idx on stream_readers (reader, stream_type, stream_id)');
    this.addSql('drop index if exists stream_readers_reader_idx');
    // No unique key on the pair: an insert that met another transaction's uncommitted row of the
    // same pair would wait for it to end, so two commands appending a new event type would queue (or
    // deadlock). The append inserts a pair it does not see committed, so a pair is listed at most
    // once per transaction that raced to add it; readers take the distinct pairs.
    this.addSql(`
      create table if not exists event_stream_types (
        id bigint generated always as identity primary key,
        event_type text not null,
        stream_type text not null
      )`);
    this.addSql('create index if not exists event_stream_types_pair_idx on event_stream_types (event_type, stream_type)');
    this.addSql('insert into event_stream_types (event_type, stream_type) select distinct event_type, stream_type from events');
  }

  override down(): void {
    this.addSql('drop table if exists event_stream_types');
    this.addSql('create index if not exists stream_readers_reader_idx on stream_readers (reader, stream_id)');
    this.addSql('drop index if exists stream_readers_reader_type_idx');
    this.addSql('alter table stream_readers drop column if exists stream_type');
  }
}
