import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { comparePositions, decodePosition } from '../src/eventStore/log/position.ts';
import { tokenFor } from './support/auth.ts';
import { collect, startTestServer, type TestServer } from './support/server.ts';

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => server?.close());

const OPEN = `mutation Open($input: OpenCartInput!) {
  openCart(input: $input) {
    __typename
    ... on OpenCartSuccess { cart { id: cartId customerId status version itemCount } position events { id: eventId type version streamId ... on CartOpened { cartId customerId } } }
    ... on Error { message code }
  }
}`;
const ADD = `mutation Add($input: AddItemToCartInput!) {
  addItemToCart(input: $input) {
    __typename
    ... on AddItemToCartSuccess { cart { version itemCount total { amount currency } lines { sku quantity lineTotal { amount } } } position events { type version ... on CartItemAdded { sku quantity unitPrice { amount currency } } } }
    ... on ValidationError { message code issues { path message } }
    ... on Error { message code }
  }
}`;
const REMOVE = `mutation Remove($input: RemoveItemFromCartInput!) {
  removeItemFromCart(input: $input) {
    __typename
    ... on RemoveItemFromCartSuccess { cart { version itemCount } }
    ... on ItemNotInCartError { message code sku requestedQuantity quantityInCart }
    ... on Error { message code }
  }
}`;
const CHECKOUT = `mutation Checkout($input: CheckoutCartInput!) {
  checkoutCart(input: $input) {
    __typename
    ... on CheckoutCartSuccess { cart { status checkedOutAt total { amount } } events { type ... on CartCheckedOut { itemCount total { amount currency } } } }
    ... on ConcurrencyError { message code expectedVersion actualVersion }
    ... on Error { message code }
  }
}`;
const CART = `query Cart($id: ID!) { cart(id: $id) { id status version itemCount total { amount currency } lines { sku quantity } } }`;
const coffee = (cartId: string, quantity = 2) => ({ cartId, sku: 'COFFEE', name: 'Coffee beans', unitPrice: { amount: 1299, currency: 'EUR' }, quantity });

describe("a new cart's customer", () => {
  it('is the caller when the input names none', async () => {
    const opened = await server.gql(OPEN, { input: { cartId: 'cart-of-the-caller' } }, { authorization: `Bearer ${await tokenFor('dora', ['customer'])}` });
    expect(opened.data.openCart).toMatchObject({ __typename: 'OpenCartSuccess', cart: { customerId: 'dora' }, events: [{ type: 'CartOpened', customerId: 'dora' }] });
  });

  it('is the one the input names, whoever calls', async () => {
    const opened = await server.gql(OPEN, { input: { cartId: 'cart-for-another', customerId: 'erin' } });
    expect(opened.data.openCart).toMatchObject({ __typename: 'OpenCartSuccess', cart: { customerId: 'erin' } });
  });

  it('must be named by an anonymous caller: a ValidationError on customerId, and nothing appended', async () => {
    const refused = await server.gql(`mutation { openCart(input: { cartId: "cart-of-nobody" }) { __typename ... on ValidationError { code issues { path } } } }`, undefined, { authorization: '' });
    expect(refused.data?.openCart).toEqual({ __typename: 'ValidationError', code: 'VALIDATION', issues: [{ path: 'customerId' }] });
    expect((await server.gql('{ stream(id: "cart-of-nobody") { version } }')).data.stream).toBeNull();
  });
});

describe('a shopping session over HTTP', () => {
  it('opens a cart, fills it, removes an item and checks out; each query right after sees the change', async () => {
    const opened = await server.gql(OPEN, { input: { cartId: 'e2e-cart', customerId: 'alice' } });
    expect(opened.data.openCart).toMatchObject({
      __typename: 'OpenCartSuccess',
      cart: { id: 'e2e-cart', customerId: 'alice', status: 'OPEN', version: 1, itemCount: 0 },
      events: [{ type: 'CartOpened', version: 1, streamId: 'e2e-cart', cartId: 'e2e-cart', customerId: 'alice' }],
    });
    expect(opened.data.openCart.position).toBe(opened.data.openCart.events[0].position ?? opened.data.openCart.position);

    const added = await server.gql(ADD, { input: coffee('e2e-cart', 3) });
    expect(added.data.addItemToCart).toMatchObject({
      __typename: 'AddItemToCartSuccess',
      cart: { version: 2, itemCount: 3, total: { amount: 3897, currency: 'EUR' }, lines: [{ sku: 'COFFEE', quantity: 3, lineTotal: { amount: 3897 } }] },
      events: [{ type: 'CartItemAdded', version: 2, sku: 'COFFEE', quantity: 3, unitPrice: { amount: 1299, currency: 'EUR' } }],
    });
    expect((await server.gql(CART, { id: 'e2e-cart' })).data.cart).toMatchObject({ version: 2, itemCount: 3, total: { amount: 3897 } });

    const removed = await server.gql(REMOVE, { input: { cartId: 'e2e-cart', sku: 'COFFEE', quantity: 1 } });
    expect(removed.data.removeItemFromCart).toMatchObject({ __typename: 'RemoveItemFromCartSuccess', cart: { version: 3, itemCount: 2 } });
    expect((await server.gql(CART, { id: 'e2e-cart' })).data.cart).toMatchObject({ version: 3, itemCount: 2, lines: [{ sku: 'COFFEE', quantity: 2 }] });

    const checkedOutAt = server.clock.advance(60_000).toISOString();
    const checkedOut = await server.gql(CHECKOUT, { input: { cartId: 'e2e-cart', expectedVersion: 3 } });
    expect(checkedOut.data.checkoutCart).toMatchObject({
      __typename: 'CheckoutCartSuccess',
      cart: { status: 'CHECKED_OUT', total: { amount: 2598 } },
      events: [{ type: 'CartCheckedOut', itemCount: 2, total: { amount: 2598, currency: 'EUR' } }],
    });
    expect(checkedOut.data.checkoutCart.cart.checkedOutAt).toBe(checkedOutAt);
    expect((await server.gql(CART, { id: 'e2e-cart' })).data.cart).toMatchObject({ status: 'CHECKED_OUT', version: 4 });
  });

  it('the carts connection pages through the projection, filtered by customer', async () => {
    // Opened a second apart, in an order their ids do not sort in: the newest comes first.
    for (const id of ['page-2', 'page-3', 'page-1']) {
      server.clock.advance(1000);
      await server.gql(OPEN, { input: { cartId: id, customerId: 'bob' } });
    }
    const query = `query($after: String) { carts(first: 2, after: $after, filter: { customerId: "bob" }) { edges { cursor node { id: cartId customerId } } pageInfo { hasNextPage endCursor } } }`;
    const first = (await server.gql(query)).data.carts;
    expect(first.edges.map((e: any) => e.node.id)).toEqual(['page-1', 'page-3']);
    expect(first.pageInfo.hasNextPage).toBe(true);
    const second = (await server.gql(query, { after: first.pageInfo.endCursor })).data.carts;
    expect(second.edges.map((e: any) => e.node.id)).toEqual(['page-2']);
    expect(second.pageInfo.hasNextPage).toBe(false);
  });

  it('opening a cart id that is taken is a CartAlreadyOpenedError, and appends nothing', async () => {
    await server.gql(OPEN, { input: { cartId: 'taken-cart', customerId: 'alice' } });
    await server.gql(ADD, { input: coffee('taken-cart', 1) });
    const again = await server.gql(OPEN, { input: { cartId: 'taken-cart', customerId: 'mallory' } });
    expect(again.data.openCart).toMatchObject({ __typename: 'CartAlreadyOpenedError', code: 'CART_ALREADY_OPENED' });
    expect((await server.gql(CART, { id: 'taken-cart' })).data.cart).toMatchObject({ version: 2, itemCount: 1 });
  });

  it('a client that lets the server choose the id gets a fresh cart', async () => {
    const opened = await server.gql(OPEN, { input: { customerId: 'carol' } });
    expect(opened.data.openCart.cart.id).toMatch(/^[0-9a-f-]{36}$/);
  });
});

describe('live events over graphql-ws', () => {
  it('a subscriber receives the events of a mutation made after it subscribed, in order', async () => {
    const opened = await server.gql(OPEN, { input: { cartId: 'live-cart', customerId: 'dave' } });
    // Without `after` a subscription starts at the feed's live head: once the server's follower has
    // handed out the opening event, it is behind that head, and only what comes next is delivered.
    const openedAt = decodePosition(opened.data.openCart.position);
    await expect.poll(() => comparePositions(server.app.feed.position, openedAt)).toBeGreaterThanOrEqual(0);
    const client = server.wsClient();
    const feed = collect<{ events: any }>(client, `subscription { events(filter: { streamId: "live-cart" }) { __typename type version streamId position ... on CartItemAdded { sku quantity } } }`);
    await expect.poll(() => server.app.feed.subscriberCount).toBe(1);
    await server.gql(ADD, { input: coffee('live-cart', 1) });
    await server.gql(REMOVE, { input: { cartId: 'live-cart', sku: 'COFFEE', quantity: 1 } });
    await feed.waitFor(2);
    const received = feed.received.map((m) => m.events);
    expect(received).toMatchObject([
      { __typename: 'CartItemAdded', type: 'CartItemAdded', version: 2, streamId: 'live-cart', sku: 'COFFEE', quantity: 1 },
      { __typename: 'CartItemRemoved', type: 'CartItemRemoved', version: 3 },
    ]);
    expect(feed.errors).toEqual([]);
    feed.unsubscribe();
  });
});

describe('bad input is refused clearly and changes nothing', () => {
  const eventCount = async () => {
    const result = await server.app.orm.em.fork().getConnection().execute('select count(*)::int as n from events');
    return (result[0] as { n: number }).n;
  };

  it('a missing required field is a GraphQL validation error', async () => {
    await server.gql(OPEN, { input: { cartId: 'incomplete-cart', customerId: 'erin' } });
    const before = await eventCount();
    const result = await server.gql(`mutation { addItemToCart(input: { cartId: "incomplete-cart", sku: "X", quantity: 1 }) { __typename } }`);
    expect(result.errors?.[0]?.message).toMatch(/name.*required|unitPrice.*required|was not provided/i);
    expect(await eventCount()).toBe(before);
  });

  it('a negative quantity is a ValidationError naming the field', async () => {
    await server.gql(OPEN, { input: { cartId: 'strict-cart', customerId: 'erin' } });
    const before = await eventCount();
    const result = await server.gql(ADD, { input: { ...coffee('strict-cart'), quantity: -1 } });
    expect(result.data.addItemToCart).toMatchObject({ __typename: 'ValidationError', code: 'VALIDATION', issues: [{ path: 'quantity' }] });
    expect(await eventCount()).toBe(before);
  });

  it('several malformed fields are reported together, before the cart rules are looked at', async () => {
    await server.gql(OPEN, { input: { cartId: 'sloppy-cart', customerId: 'erin' } });
    const before = await eventCount();
    const result = await server.gql(ADD, { input: { ...coffee('sloppy-cart'), sku: ' ', unitPrice: { amount: -3, currency: 'euro' } } });
    expect(result.data.addItemToCart.__typename).toBe('ValidationError');
    expect(result.data.addItemToCart.issues.map((i: any) => i.path).sort()).toEqual(['sku', 'unitPrice.currency']);
    expect(await eventCount()).toBe(before);
  });

  it('a negative price is the cart rule\'s ValidationError, once the input is well-formed', async () => {
    const before = await eventCount();
    const result = await server.gql(ADD, { input: { ...coffee('sloppy-cart'), unitPrice: { amount: -3, currency: 'EUR' } } });
    expect(result.data.addItemToCart).toMatchObject({ __typename: 'ValidationError', issues: [{ path: 'unitPrice.amount' }] });
    expect(await eventCount()).toBe(before);
  });

  it('an unknown cart is a NotFoundError', async () => {
    const before = await eventCount();
    const result = await server.gql(ADD, { input: coffee('no-such-cart') });
    expect(result.data.addItemToCart).toMatchObject({ __typename: 'NotFoundError', code: 'NOT_FOUND' });
    expect(await eventCount()).toBe(before);
    expect((await server.gql(CART, { id: 'no-such-cart' })).data.cart).toBeNull();
  });

  it('removing an item that is not in the cart is an ItemNotInCartError', async () => {
    await server.gql(OPEN, { input: { cartId: 'ghost-cart', customerId: 'erin' } });
    const before = await eventCount();
    const result = await server.gql(REMOVE, { input: { cartId: 'ghost-cart', sku: 'GHOST', quantity: 1 } });
    expect(result.data.removeItemFromCart).toMatchObject({ __typename: 'ItemNotInCartError', code: 'ITEM_NOT_IN_CART', sku: 'GHOST', quantityInCart: 0 });
    expect(await eventCount()).toBe(before);
  });

  it('a stale expectedVersion is a ConcurrencyError with both versions', async () => {
    await server.gql(OPEN, { input: { cartId: 'stale-cart', customerId: 'erin' } });
    const result = await server.gql(CHECKOUT, { input: { cartId: 'stale-cart', expectedVersion: 7 } });
    expect(result.data.checkoutCart).toMatchObject({ __typename: 'ConcurrencyError', code: 'CONCURRENCY', expectedVersion: 7, actualVersion: 1 });
  });

  it('malformed JSON gets a 400 with a clear message', async () => {
    const before = await eventCount();
    const response = await fetch(server.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"query": "mutation {' });
    expect(response.status).toBe(400);
    const body = (await response.json()) as { errors: { message: string }[] };
    expect(body.errors[0]?.message).toMatch(/invalid JSON/i);
    expect(await eventCount()).toBe(before);
  });

  it('an unexpected failure is masked for the client', async () => {
    const result = await server.gql(`query { cart(id: "x") { id } events: __typename }`);
    expect(result.errors).toBeUndefined();
    // A cursor that fails to decode is the client's fault and says so, rather than a masked error.
    const bad = await server.gql(`query { carts(first: 1, after: "not-a-cursor") { edges { cursor } } }`);
    expect(bad.errors?.[0]).toMatchObject({ message: 'after is not a cursor from this connection', extensions: { code: 'VALIDATION' } });
  });
});
