import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tokenFor } from './support/auth.ts';
import { collect, startTestServer, type TestServer } from './support/server.ts';

/** Two customers, a support agent, an administrator and someone without a token, on one server. */
let server: TestServer;
const as: Record<'alice' | 'bob' | 'sam' | 'admin', string> = { alice: '', bob: '', sam: '', admin: '' };
beforeAll(async () => {
  server = await startTestServer();
  as.alice = await tokenFor('alice', ['customer']);
  as.bob = await tokenFor('bob', ['customer']);
  as.sam = await tokenFor('sam', ['support']);
  as.admin = await tokenFor('root', ['admin']);
  for (const who of ['alice', 'bob'] as const) {
    expect((await gql(who, OPEN, { input: { cartId: `${who}-cart`, customerId: who } })).openCart.__typename).toBe('OpenCartSuccess');
    expect((await gql(who, ADD, { cartId: `${who}-cart`, sku: `${who}-SKU` })).addItemToCart.__typename).toBe('AddItemToCartSuccess');
    expect((await gql(who, REGISTER, { userId: who, email: `${who}@example.com` })).registerUser.__typename).toBe('RegisterUserSuccess');
  }
});
afterAll(async () => server.close());

const gql = async (who: keyof typeof as | 'nobody', query: string, variables?: Record<string, unknown>) => {
  const result = await server.gql(query, variables, { authorization: who === 'nobody' ? '' : `Bearer ${as[who]}` });
  expect(result.errors, JSON.stringify(result.errors)).toBeUndefined();
  return result.data;
};

const OPEN = `mutation($input: OpenCartInput!) { openCart(input: $input) { __typename ... on Error { code } } }`;
const ADD = `mutation($cartId: ID!, $sku: String!) {
  addItemToCart(input: { cartId: $cartId, sku: $sku, name: "Thing", unitPrice: { amount: 100, currency: "EUR" }, quantity: 1 }) {
    __typename ... on Error { code } ... on ForbiddenError { resource id }
  }
}`;
const REGISTER = `mutation($userId: ID!, $email: String!) { registerUser(input: { userId: $userId, email: $email, name: "Someone" }) { __typename ... on Error { code } } }`;
const streamVersion = async (id: string) => (await gql('admin', `{ stream(id: "${id}") { version } }`)).stream?.version ?? 0;

describe('commands under the policies', () => {
  it('from someone without a token are an UnauthenticatedError, and append nothing', async () => {
    const before = await streamVersion('alice-cart');
    expect((await gql('nobody', ADD, { cartId: 'alice-cart', sku: 'X' })).addItemToCart).toEqual({ __typename: 'UnauthenticatedError', code: 'UNAUTHENTICATED' });
    expect((await gql('nobody', 'mutation { incrementCounter(input: { counterId: "c-anon" }) { __typename } }')).incrementCounter.__typename).toBe('UnauthenticatedError');
    expect(await streamVersion('alice-cart')).toBe(before);
    expect(await streamVersion('c-anon')).toBe(0);
  });

  it("to another customer's cart are a ForbiddenError, and append nothing", async () => {
    const before = await streamVersion('alice-cart');
    expect((await gql('bob', ADD, { cartId: 'alice-cart', sku: 'X' })).addItemToCart).toEqual({ __typename: 'ForbiddenError', code: 'FORBIDDEN', resource: 'Cart', id: 'alice-cart' });
    expect((await gql('sam', ADD, { cartId: 'alice-cart', sku: 'X' })).addItemToCart.__typename).toBe('ForbiddenError');
    expect(await streamVersion('alice-cart')).toBe(before);
  });

  it('may not open a cart for another customer, nor register another user, nor reset a counter unless an administrator', async () => {
    expect((await gql('bob', OPEN, { input: { cartId: 'bob-for-alice', customerId: 'alice' } })).openCart.__typename).toBe('ForbiddenError');
    expect((await gql('bob', REGISTER, { userId: 'mallory', email: 'mallory@example.com' })).registerUser.__typename).toBe('ForbiddenError');
    expect((await gql('bob', 'mutation { incrementCounter(input: { counterId: "shared" }) { __typename } }')).incrementCounter.__typename).toBe('IncrementCounterSuccess');
    expect((await gql('bob', 'mutation { resetCounter(input: { counterId: "shared" }) { __typename } }')).resetCounter.__typename).toBe('ForbiddenError');
    expect((await gql('admin', 'mutation { resetCounter(input: { counterId: "shared" }) { __typename } }')).resetCounter.__typename).toBe('ResetCounterSuccess');
    expect(await streamVersion('bob-for-alice')).toBe(0);
    expect(await streamVersion('mallory')).toBe(0);
  });
});

describe('reads under the policies', () => {
  const CARTS = '{ carts(first: 100) { edges { node { cartId } } } }';
  const ids = (data: any, field: string, key: string) => data[field].edges.map((edge: any) => edge.node[key]).sort();

  it('list only the carts and users a caller may see', async () => {
    expect(ids(await gql('alice', CARTS), 'carts', 'cartId')).toEqual(['alice-cart']);
    expect(ids(await gql('bob', CARTS), 'carts', 'cartId')).toEqual(['bob-cart']);
    expect(ids(await gql('sam', CARTS), 'carts', 'cartId')).toEqual(['alice-cart', 'bob-cart']);
    expect(ids(await gql('nobody', CARTS), 'carts', 'cartId')).toEqual([]);
    expect(ids(await gql('alice', '{ users { edges { node { userId email } } } }'), 'users', 'userId')).toEqual(['alice']);
    expect(ids(await gql('sam', '{ users { edges { node { userId } } } }'), 'users', 'userId')).toEqual([]);
  });

  it("answer null for another customer's cart, user, stream, event and node, now and in the past", async () => {
    const bobs = await gql('bob', '{ cart(id: "bob-cart") { id } stream(id: "bob-cart") { id events { edges { node { id eventId } } } } }');
    const event = bobs.stream.events.edges[0].node;
    const seen = await gql(
      'alice',
      `query($cart: ID!, $stream: ID!, $event: ID!, $eventId: ID!) {
        cart(id: "bob-cart") { cartId } past: cart(id: "bob-cart", asOf: { version: 1 }) { cartId } user(id: "bob") { email }
        stream(id: "bob-cart") { version } event(id: $eventId) { type }
        cartNode: node(id: $cart) { id } streamNode: node(id: $stream) { id } eventNode: node(id: $event) { id }
      }`,
      { cart: bobs.cart.id, stream: bobs.stream.id, event: event.id, eventId: event.eventId },
    );
    expect(seen).toEqual({ cart: null, past: null, user: null, stream: null, event: null, cartNode: null, streamNode: null, eventNode: null });
    const own = await gql('alice', '{ cart(id: "alice-cart") { cartId } past: cart(id: "alice-cart", asOf: { version: 1 }) { itemCount } user(id: "alice") { email } }');
    expect(own).toEqual({ cart: { cartId: 'alice-cart' }, past: { itemCount: 0 }, user: { email: 'alice@example.com' } });
  });

  it("leave other customers' events out of history, with and without a filter", async () => {
    const HISTORY = 'query($filter: EventFilter) { events(first: 500, filter: $filter) { edges { node { streamId type } } } }';
    for (const filter of [undefined, { streamType: 'Cart' }, { types: ['CartItemAdded', 'UserRegistered'] }, { streamId: 'bob-cart' }]) {
      const streams = new Set((await gql('alice', HISTORY, filter ? { filter } : {})).events.edges.map((edge: any) => edge.node.streamId));
      expect([...streams].filter((id) => String(id).startsWith('bob')), JSON.stringify(filter)).toEqual([]);
    }
    const mine = (await gql('alice', HISTORY, { filter: { streamType: 'Cart' } })).events.edges.map((edge: any) => edge.node.streamId);
    expect(new Set(mine)).toEqual(new Set(['alice-cart']));
    // Counters are everyone's: they show in everyone's history.
    expect((await gql('alice', HISTORY, { filter: { streamId: 'shared' } })).events.edges.length).toBeGreaterThan(0);
    expect((await gql('nobody', HISTORY, {})).events.edges).toEqual([]);
  });
});

describe('live feeds under the policies', () => {
  const EVENTS = 'subscription($filter: EventFilter) { events(filter: $filter) { streamId type version } }';

  it("never push another customer's events, whether subscribers share an execution or not", async () => {
    const alice = server.wsClient({ token: as.alice });
    const bob = server.wsClient({ token: as.bob });
    const aliceAgain = server.wsClient({ token: await tokenFor('alice', ['customer']) });
    const feeds = {
      // The same operation for two customers: shared executions keyed by what each may see.
      alice: collect<{ events: any }>(alice, EVENTS, {}),
      bob: collect<{ events: any }>(bob, EVENTS, {}),
      // The same operation and the same audience as the first: they may share.
      aliceAgain: collect<{ events: any }>(aliceAgain, EVENTS, {}),
      // Another operation (a filter) for the same customer.
      aliceCarts: collect<{ events: any }>(alice, EVENTS, { filter: { streamType: 'Cart' } }),
      bobOnAlice: collect<{ events: any }>(bob, EVENTS, { filter: { streamId: 'alice-cart' } }),
    };
    await expect.poll(() => server.app.feed.subscriberCount).toBe(5);
    await gql('alice', ADD, { cartId: 'alice-cart', sku: 'LIVE-A' });
    await gql('bob', ADD, { cartId: 'bob-cart', sku: 'LIVE-B' });
    await gql('alice', 'mutation { incrementCounter(input: { counterId: "live-shared" }) { __typename } }');
    await feeds.alice.waitFor(2);
    await feeds.bob.waitFor(2);
    await feeds.aliceAgain.waitFor(2);
    await feeds.aliceCarts.waitFor(1);
    const streams = (feed: { received: { events: any }[] }) => feed.received.map((message) => message.events.streamId);
    expect(streams(feeds.alice)).toEqual(['alice-cart', 'live-shared']);
    expect(streams(feeds.aliceAgain)).toEqual(['alice-cart', 'live-shared']);
    expect(streams(feeds.bob)).toEqual(['bob-cart', 'live-shared']);
    expect(streams(feeds.aliceCarts)).toEqual(['alice-cart']);
    // Bob's own later event proves his feeds kept running; nothing of Alice's cart reached him.
    expect(streams(feeds.bobOnAlice)).toEqual([]);
    for (const feed of Object.values(feeds)) feed.unsubscribe();
  });

  it("do not follow another customer's cart", async () => {
    const bob = server.wsClient({ token: as.bob });
    const cart = collect<{ cart: any }>(bob, 'subscription { cart(id: "alice-cart") { cartId itemCount } }');
    const own = collect<{ cart: any }>(bob, 'subscription { cart(id: "bob-cart") { cartId itemCount } }');
    await cart.waitFor(1);
    await own.waitFor(1);
    expect(cart.received[0]).toEqual({ cart: null });
    await gql('alice', ADD, { cartId: 'alice-cart', sku: 'LIVE-C' });
    await gql('bob', ADD, { cartId: 'bob-cart', sku: 'LIVE-D' });
    await own.waitFor(2);
    expect(cart.received).toEqual([{ cart: null }]);
    cart.unsubscribe();
    own.unsubscribe();
  });
});

describe('introspection in production', () => {
  it('is for administrators only, over HTTP and WebSocket', async () => {
    const production = await startTestServer({ config: { production: true } });
    try {
      const customer = await production.gql('{ __schema { queryType { name } } }', {}, { authorization: `Bearer ${as.alice}` });
      expect(customer.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
      const admin = await production.gql('{ __schema { queryType { name } } }', {}, { authorization: `Bearer ${as.admin}` });
      expect(admin.data).toEqual({ __schema: { queryType: { name: 'Query' } } });
      expect((await production.gql('{ __typename }', {}, { authorization: '' })).data).toEqual({ __typename: 'Query' });
      const overSocket = collect(production.wsClient({ token: as.alice }), '{ __type(name: "Cart") { name } }');
      await expect.poll(() => overSocket.errors.length).toBeGreaterThan(0);
      expect(JSON.stringify(overSocket.errors)).toContain('FORBIDDEN');
      const adminSocket = collect<{ __type: { name: string } }>(production.wsClient({ token: as.admin }), '{ __type(name: "Cart") { name } }');
      await adminSocket.waitFor(1);
      expect(adminSocket.received).toEqual([{ __type: { name: 'Cart' } }]);
    } finally {
      await production.close();
    }
  });
});
