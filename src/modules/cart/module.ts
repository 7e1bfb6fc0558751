import type { ModuleDefinition } from '../moduleDefinition.ts';
import { Migration20261201000100_cart_readers } from './migrations/Migration20261201000100_cart_readers.ts';
import { cartPolicy } from './policy.ts';
import { cartGraphiqlTabs } from './graphiql.ts';
import { cartDecider } from './cart.ts';
import { cartGraphQL } from './graphql.ts';
import { Migration20261123000001_carts } from './migrations/Migration20261123000001_carts.ts';
import { CartRecord, cartProjection } from './projection.ts';
import { cartSnapshots } from './snapshots.ts';
import { cartUpcasters } from './upcasters.ts';
import { Migration20261202010100_product_sales } from './migrations/Migration20261202010100_product_sales.ts';
import { ProductSaleRecord, productSalesProcessor } from './productSales.ts';

/** Shopping carts: open, add and remove items, check out; and product sales, kept asynchronously from checkouts. */
export const cartModule: ModuleDefinition = {
  name: 'cart',
  deciders: [cartDecider],
  policies: [cartPolicy],
  entities: [CartRecord, ProductSaleRecord],
  projections: [cartProjection],
  migrations: [
    { name: 'Migration20261123000001_carts', class: Migration20261123000001_carts },
    { name: 'Migration20261201000100_cart_readers', class: Migration20261201000100_cart_readers },
    { name: 'Migration20261202010100_product_sales', class: Migration20261202010100_product_sales },
  ],
  processors: [productSalesProcessor],
  upcasters: cartUpcasters,
  snapshots: [cartSnapshots],
  graphql: cartGraphQL,
  graphiqlTabs: cartGraphiqlTabs,
};
