import type { GraphiqlTab } from '../moduleDefinition.ts';

/**
 * The GraphiQL tabs of the README tour ("A first session in GraphiQL") that walk through a cart: one
 * operation per tab (GraphiQL names a tab after it), the variables filled in with fixed ids (cart
 * `cart-1`) so the tabs run one after another as they are. The app shows the modules' tabs in the
 * order of the module list, which is the tour's order; test/graphiqlExamples.unit.spec.ts checks it.
 */
export const cartGraphiqlTabs: readonly GraphiqlTab[] = [
  {
    query: `# Open a cart. The next tabs use its id, cart-1.
mutation OpenCart($cartId: ID, $customerId: String!) {
  openCart(input: { cartId: $cartId, customerId: $customerId }) {
    __typename
    ... on OpenCartSuccess { cart { cartId status version } position }
    ... on Error { code message }
  }
}`,
    variables: `{ "cartId": "cart-1", "customerId": "alice" }`,
  },
  {
    query: `# Put two bags of coffee in it. Money is integer minor units: 1299 EUR is 12.99 EUR.
mutation AddItemToCart($cartId: ID!) {
  addItemToCart(input: { cartId: $cartId, sku: "COFFEE", name: "Coffee beans", unitPrice: { amount: 1299, currency: "EUR" }, quantity: 2 }) {
    __typename
    ... on AddItemToCartSuccess { cart { itemCount total { amount currency } version } events { type version position } }
    ... on Error { code message }
  }
}`,
    variables: `{ "cartId": "cart-1" }`,
  },
  {
    query: `# Live: every cart event as it commits. Run it, then run AddItemToCart again in its tab.
subscription LiveCartEvents {
  events(filter: { streamType: "Cart" }) {
    __typename type streamId version position recordedAt
    ... on CartItemAdded { sku quantity unitPrice { amount currency } }
  }
}`,
  },
  {
    query: `# Take one bag out again. Try a sku the cart does not hold: that is an ItemNotInCartError.
mutation RemoveItemFromCart($cartId: ID!, $sku: String!) {
  removeItemFromCart(input: { cartId: $cartId, sku: $sku, quantity: 1 }) {
    __typename
    ... on RemoveItemFromCartSuccess { cart { itemCount lines { sku quantity } version } position }
    ... on ItemNotInCartError { sku quantityInCart requestedQuantity }
    ... on Error { code message }
  }
}`,
    variables: `{ "cartId": "cart-1", "sku": "COFFEE" }`,
  },
  {
    query: `# Carts from the projection, newest first.
query Carts {
  carts(first: 10) {
    edges { cursor node { cartId customerId status itemCount total { amount currency } version } }
    pageInfo { hasNextPage endCursor }
  }
}`,
  },
  {
    query: `# The newest events of the whole log, in commit order. Page back with last/before.
query RecentEvents {
  events(last: 10) {
    edges {
      node {
        __typename type streamType streamId version position recordedAt
        metadata { commandName correlationId }
      }
    }
    pageInfo { hasPreviousPage startCursor }
  }
}`,
  },
  {
    query: `# One aggregate's history: every event of its stream, in version order.
# Any cart, user or counter id works in the variables below.
query StreamHistory($id: ID!) {
  stream(id: $id) {
    streamId type version
    events(first: 50) {
      edges {
        node {
          __typename version type recordedAt
          ... on CartItemAdded { sku quantity }
          ... on CartItemRemoved { sku quantity }
          ... on CounterIncremented { amount value }
          ... on UserRenamed { name previousName }
        }
      }
    }
  }
}`,
    variables: `{ "id": "cart-1" }`,
  },
  {
    query: `# Time travel: the cart as it was right after a version of its stream, rebuilt from its events.
query CartAsOfVersion($id: ID!, $version: Int!) {
  past: cart(id: $id, asOf: { version: $version }) { cartId status itemCount lines { sku quantity } version }
  now: cart(id: $id) { cartId status itemCount lines { sku quantity } version }
}`,
    variables: `{ "id": "cart-1", "version": 2 }`,
  },
  {
    query: `# A second cart, cart-2, opened, filled and checked out in one request: a mutation's fields
# run one after another. Copy the checkout's position for the next tab.
mutation CheckoutCart($cartId: ID!) {
  openCart(input: { cartId: $cartId, customerId: "bob" }) { __typename ... on Error { code message } }
  addItemToCart(input: { cartId: $cartId, sku: "TEA", name: "Green tea", unitPrice: { amount: 650, currency: "EUR" }, quantity: 3 }) {
    __typename
    ... on Error { code message }
  }
  checkoutCart(input: { cartId: $cartId }) {
    __typename
    ... on CheckoutCartSuccess { cart { status total { amount currency } } position }
    ... on Error { code message }
  }
}`,
    variables: `{ "cartId": "cart-2" }`,
  },
  {
    query: `# Units and revenue per SKU, from checked-out carts: a read model a processor keeps after the commit.
# Paste the checkout's position as $position: the answer waits until the read model has it
# (a StaleReadError after 5 s). With null it reads at once, perhaps before the checkout is counted.
query ProductSales($position: String) {
  productSales(consistentWith: $position) {
    __typename
    ... on ProductSales { items { sku name unitsSold revenue { amount currency } carts } }
    ... on StaleReadError { position waitedMs }
    ... on Error { code message }
  }
}`,
    variables: `{ "position": null }`,
  },
];
