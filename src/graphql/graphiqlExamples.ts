/**
 * Ready-made operations GraphiQL opens with, so a new user can try the API in a click. GraphiQL
 * names each tab after its first operation; a unit spec validates every tab against the schema.
 */
export const coreGraphiqlTabs: { query: string; variables?: string }[] = [
  {
    query: `# Open a cart, then copy its id into the next tabs.
mutation OpenCart {
  openCart(input: { customerId: "customer-1" }) {
    __typename
    ... on OpenCartSuccess { cart { cartId status version } position }
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
    edges { cursor node { cartId customerId status itemCount total { amount currency } version } }
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
# Put a cart, user or counter id in the variables below.
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
    variables: `{ "id": "paste-an-id-here" }`,
  },
  {
    query: `# Time travel: a cart as it was right after a version of its stream, rebuilt from its events.
query CartAsOfVersion($id: ID!, $version: Int!) {
  past: cart(id: $id, asOf: { version: $version }) { cartId status itemCount lines { sku quantity } version }
  now: cart(id: $id) { cartId status itemCount lines { sku quantity } version }
}`,
    variables: `{ "id": "paste-a-cart-id-here", "version": 1 }`,
  },
  {
    query: `# Users: an email belongs to one user only; try registering it twice.
mutation RegisterUser {
  registerUser(input: { email: "ada@example.com", name: "Ada Lovelace" }) {
    __typename
    ... on RegisterUserSuccess { user { userId email name status version } position }
    ... on EmailAlreadyRegisteredError { email }
    ... on Error { message code }
  }
}

query Users {
  users(first: 10) { edges { node { userId email name status } } }
}`,
  },
  {
    query: `# Counters exist from their first increment and never go below zero.
mutation IncrementCounter {
  incrementCounter(input: { counterId: "visits", amount: 5 }) {
    __typename
    ... on IncrementCounterSuccess { counter { counterId value version } events { type version } }
    ... on Error { message code }
  }
}

mutation DecrementCounter {
  decrementCounter(input: { counterId: "visits", amount: 2 }) {
    __typename
    ... on DecrementCounterSuccess { counter { counterId value version } }
    ... on CounterOutOfRangeError { value change }
    ... on Error { message code }
  }
}`,
  },
];
