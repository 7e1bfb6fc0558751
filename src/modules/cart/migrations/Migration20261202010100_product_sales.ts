import { Migration } from '@mikro-orm/migrations';

/** Product sales: the asynchronous read model the `cart-product-sales` processor keeps (see productSales.ts). */
export class Migration20261202010100_product_sales extends Migration {
  override name = 'Migration20261202010100_product_sales';

  override up(): void {
    this.addSql(`
      create table if not exists product_sales (
        sku text not null,
        currency text not null,
        name text not null,
        units_sold bigint not null,
        revenue bigint not null,
        carts integer not null,
        last_sold_at timestamptz not null,
        constraint product_sales_pkey primary key (sku, currency)
      )`);
  }

  override down(): void {
    this.addSql('drop table if exists product_sales');
  }
}
