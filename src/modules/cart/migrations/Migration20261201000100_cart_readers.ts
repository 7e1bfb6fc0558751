import { Migration } from '@mikro-orm/migrations';

/**
 * Who may read the carts written before streams recorded their readers (see the event store's
 * stream_readers migration): the same readers the cart policy gives them now.
 */
export class Migration20261201000100_cart_readers extends Migration {
  override name = 'Migration20261201000100_cart_readers';

  override up(): void {
    this.addSql(`insert into stream_readers (stream_id, reader) select id, 'sub:' || customer_id from carts union all select id, 'role:support' from carts on conflict do nothing`);
  }
}
