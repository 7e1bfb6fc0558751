/** Ready-made operations GraphiQL opens with, so a new user can try the API in a click. */
export const graphiqlTabs = [
  {
    query: `# Open a cart, then copy its id into the next tabs.
mutation OpenCart {
  openCart(input: { customerId: "customer-1" }) {
    __typename
    ... on OpenCartSuccess { cart { id status version } position }
    ... on Error { message code }
  }
}

mutation AddItem($cartId: ID!) {
  addItemToCart(input: { cartId: $cartId, sku: "SKU-1", name: "Coffee beans", unitPrice: { amount: 1299, currency: "EUR" }, quantity: 2 }) {
    __typename
    ... on AddItemToCartSuccess { cart { itemCount total { amount currency } version } events { type version position } }
    ... on Error { message code }
  }
}`,
  },
  {
    query: `# Carts from the projection, newest first.
query Carts {
  carts(first: 10) {
    edges { cursor node { id customerId status itemCount total { amount currency } version } }
    pageInfo { hasNextPage endCursor }
  }
}`,
  },
  {
    query: `# Live: every cart event as it commits. Run it, then add an item in another tab.
subscription LiveCartEvents {
  events(filter: { streamType: "Cart" }) {
    __typename type streamId version position recordedAt
    ... on CartItemAdded { sku quantity unitPrice { amount currency } }
  }
}`,
  },
];
