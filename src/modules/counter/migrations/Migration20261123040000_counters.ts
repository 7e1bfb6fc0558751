import { Migration } from '@mikro-orm/migrations';

/** The counters read model. */
export class Migration20261123040000_counters extends Migration {
  override name = 'Migration20261123040000_counters';

  override up(): void {
    this.addSql(`
      create table counters (
        id text primary key,
        value bigint not null check (value >= 0),
        reset_count integer not null default 0,
        version integer not null,
        created_at timestamptz not null,
        updated_at timestamptz not null
      )`);
    this.addSql(`create index counters_listing_idx on counters (created_at desc, id desc)`);
  }

  override down(): void {
    this.addSql('drop table if exists counters');
  }
}
