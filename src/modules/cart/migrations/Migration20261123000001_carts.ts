import { Migration } from '@mikro-orm/migrations';

/**
 * The cart read model. Databases migrated before modules had migrations of their own already have
 * it (the event store's first migration created it then), hence `if not exists`.
 */
export class Migration20261123000001_carts extends Migration {
  override name = 'Migration20261123000001_carts';

  override up(): void {
    this.addSql(`
      create table if not exists carts (
        id text primary key,
        customer_id text not null,
        status text not null,
        currency text null,
        lines jsonb not null default '[]'::jsonb,
        item_count integer not null default 0,
        total bigint not null default 0,
        version integer not null,
        opened_at timestamptz not null,
        updated_at timestamptz not null,
        checked_out_at timestamptz null
      )`);
    this.addSql(`create index if not exists carts_listing_idx on carts (opened_at desc, id desc)`);
    this.addSql(`create index if not exists carts_customer_idx on carts (customer_id, opened_at desc, id desc)`);
    this.addSql(`create index if not exists carts_status_idx on carts (status, opened_at desc, id desc)`);
  }

  override down(): void {
    this.addSql('drop table if exists carts');
  }
}
