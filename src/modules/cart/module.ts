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

/** Shopping carts: open, add and remove items, check out. */
export const cartModule: ModuleDefinition = {
  name: 'cart',
  deciders: [cartDecider],
  policies: [cartPolicy],
  entities: [CartRecord],
  projections: [cartProjection],
  migrations: [{ name: 'Migration20261123000001_carts', class: Migration20261123000001_carts }, { name: 'Migration20261201000100_cart_readers', class: Migration20261201000100_cart_readers }],
  upcasters: cartUpcasters,
  snapshots: [cartSnapshots],
  graphql: cartGraphQL,
  graphiqlTabs: cartGraphiqlTabs,
};
