import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collect, startTestServer, type TestServer } from './support/server.ts';

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => server?.close());

const OPEN = `mutation Open($input: OpenCartInput!) {
  openCart(input: $input) { __typename ... on OpenCartSuccess { cart { id: cartId version } position events { id: eventId } } ... on Error { code message } }
}`;
const ADD = `mutation Add($input: AddItemToCartInput!) {
  addItemToCart(input: $input) {
    __typename
    ... on AddItemToCartSuccess { cart { version itemCount } position events { id: eventId version } }
    ... on CommandIdReusedError { commandId }
    ... on Error { code message }
  }
}`;
const EVENT_FIELDS = `id: eventId type streamId version position recordedAt
  metadata { correlationId causationId commandName actor client schemaVersion }
  ... on CartItemAdded { sku quantity }`;

const item = (cartId: string, quantity: number, commandId?: string) => ({
  cartId, sku: 'COFFEE', name: 'Coffee', unitPrice: { amount: 1299, currency: 'EUR' }, quantity, ...(commandId ? { commandId } : {}),
});

describe('history over HTTP', () => {
  let cartId: string;
  /** When each version of the cart was recorded, by the server's clock. */
  const recordedAt: string[] = [];

  beforeAll(async () => {
    const opened = await server.gql(OPEN, { input: { customerId: 'e2e', commandId: 'e2e-open-1' } }, { 'x-correlation-id': 'checkout-flow-42' });
    expect(opened.data.openCart.__typename).toBe('OpenCartSuccess');
    cartId = opened.data.openCart.cart.id;
    recordedAt.push(server.clock.now().toISOString());
    for (const quantity of [1, 2, 3]) {
      // A minute apart, so instants between two of them exist.
      recordedAt.push(server.clock.advance(60_000).toISOString());
      const added = await server.gql(ADD, { input: item(cartId, quantity) });
      expect(added.data.addItemToCart.__typename).toBe('AddItemToCartSuccess');
    }
  });

  it('stamps the x-correlation-id header, the command id, the command name, actor, client and schema version on the events', async () => {
    const result = await server.gql(`query { events(first: 10, filter: { correlationId: "checkout-flow-42" }) { edges { node { ${EVENT_FIELDS} } } } }`);
    const nodes = result.data.events.edges.map((edge: any) => edge.node);
    expect(nodes).toHaveLength(1);
    expect(nodes[0]).toMatchObject({ type: 'CartOpened', streamId: cartId, version: 1 });
    expect(nodes[0].metadata).toEqual({
      correlationId: 'checkout-flow-42',
      causationId: 'e2e-open-1',
      commandName: 'OpenCart',
      actor: 'test-admin',
      client: expect.any(String),
      schemaVersion: 1,
    });
  });

  it('generates a correlation id per request when the header is missing', async () => {
    const result = await server.gql(`query { stream(id: "${cartId}") { events(fromVersion: 2) { edges { node { metadata { correlationId causationId } } } } } }`);
    const metadata = result.data.stream.events.edges.map((edge: any) => edge.node.metadata);
    expect(metadata).toHaveLength(3);
    expect(new Set(metadata.map((m: any) => m.correlationId)).size).toBe(3);
    for (const m of metadata) {
      expect(m.correlationId).toMatch(/^[0-9a-f-]{36}$/);
      expect(m.causationId).toMatch(/^[0-9a-f-]{36}$/);
    }
  });

  it('shows a stream with its type, version and pages of its events', async () => {
    const query = `query Stream($id: ID!, $after: String) {
      stream(id: $id) { id: streamId type version events(first: 2, after: $after) { edges { cursor node { version position } } pageInfo { hasNextPage endCursor } } }
    }`;
    const first = await server.gql(query, { id: cartId });
    expect(first.data.stream).toMatchObject({ id: cartId, type: 'Cart', version: 4 });
    expect(first.data.stream.events.edges.map((e: any) => e.node.version)).toEqual([1, 2]);
    expect(first.data.stream.events.edges[1].cursor).toBe(first.data.stream.events.edges[1].node.position);
    const second = await server.gql(query, { id: cartId, after: first.data.stream.events.pageInfo.endCursor });
    expect(second.data.stream.events.edges.map((e: any) => e.node.version)).toEqual([3, 4]);
    expect(second.data.stream.events.pageInfo.hasNextPage).toBe(false);
    expect((await server.gql(`query { stream(id: "no-such-stream") { streamId } }`)).data.stream).toBeNull();
  });

  it('finds one event by id, with its typed payload', async () => {
    const listed = await server.gql(`query { stream(id: "${cartId}") { events(fromVersion: 2, toVersion: 2) { edges { node { id: eventId } } } } }`);
    const id = listed.data.stream.events.edges[0].node.id;
    const result = await server.gql(`query Event($id: ID!) { event(id: $id) { __typename ${EVENT_FIELDS} } }`, { id });
    expect(result.data.event).toMatchObject({ __typename: 'CartItemAdded', id, version: 2, sku: 'COFFEE', quantity: 1 });
    expect((await server.gql(`query { event(id: "not-a-uuid") { id } }`)).data.event).toBeNull();
  });

  it('shows the cart as of a version and as of an instant between two events', async () => {
    const query = `query AsOf($id: ID!, $asOf: AsOf) { cart(id: $id, asOf: $asOf) { version itemCount status } }`;
    expect((await server.gql(query, { id: cartId, asOf: { version: 2 } })).data.cart).toEqual({ version: 2, itemCount: 1, status: 'OPEN' });
    expect((await server.gql(query, { id: cartId, asOf: { version: 0 } })).data.cart).toBeNull();
    const events = await server.gql(`query { stream(id: "${cartId}") { events { edges { node { recordedAt } } } } }`);
    expect(events.data.stream.events.edges.map((edge: any) => edge.node.recordedAt)).toEqual(recordedAt);
    const between = new Date(new Date(recordedAt[1]!).getTime() + 30_000).toISOString();
    expect((await server.gql(query, { id: cartId, asOf: { time: between } })).data.cart).toEqual({ version: 2, itemCount: 1, status: 'OPEN' });
    expect((await server.gql(query, { id: cartId, asOf: { time: recordedAt[2] } })).data.cart).toEqual({ version: 3, itemCount: 3, status: 'OPEN' });
    expect((await server.gql(query, { id: cartId })).data.cart).toEqual({ version: 4, itemCount: 6, status: 'OPEN' });
  });

  it('refuses an asOf with both a version and a time', async () => {
    const result = await server.gql(`query { cart(id: "${'x'}", asOf: { version: 1, time: "2026-11-23T10:00:00Z" }) { id } }`);
    expect(result.errors?.[0]?.message).toMatch(/exactly one/i);
  });

  it('hands out cursors that a subscription resumes from', async () => {
    // A cart of its own: this test appends, and the others read the cart above as it was written.
    const opened = await server.gql(OPEN, { input: { customerId: 'e2e-resume' } });
    const cartId = opened.data.openCart.cart.id;
    await server.gql(ADD, { input: item(cartId, 2) });
    const stream = await server.gql(`query { stream(id: "${cartId}") { events(last: 1) { pageInfo { endCursor } } } }`);
    const newest = stream.data.stream.events.pageInfo.endCursor;
    const history = await server.gql(`query { events(last: 1, filter: { streamId: "${cartId}" }) { pageInfo { endCursor } } }`);
    const after = history.data.events.pageInfo.endCursor;
    expect(after).toBe(newest);
    const live = collect<{ events: { version: number; streamId: string } }>(
      server.wsClient(),
      `subscription Resume($after: String, $filter: EventFilter) { events(after: $after, filter: $filter) { streamId version } }`,
      { after, filter: { streamId: cartId } },
    );
    await server.gql(ADD, { input: item(cartId, 1) });
    await live.waitFor(1);
    expect(live.received.map((message) => message.events.version)).toEqual([3]);
    live.unsubscribe();
  });

  it('refuses a time window on a live subscription', async () => {
    const live = collect(server.wsClient(), `subscription { events(filter: { from: "2026-01-01T00:00:00Z" }) { id: eventId } }`);
    await expect.poll(() => live.errors.length).toBeGreaterThan(0);
    expect(JSON.stringify(live.errors)).toMatch(/history/);
  });
});

describe('idempotent commands over HTTP', () => {
  it('return the first result when replayed, and a CommandIdReusedError for other content', async () => {
    const opened = await server.gql(OPEN, { input: { customerId: 'e2e-idem', commandId: 'e2e-idem-open' } });
    const replayedOpen = await server.gql(OPEN, { input: { customerId: 'e2e-idem', commandId: 'e2e-idem-open' } });
    expect(replayedOpen.data.openCart).toEqual(opened.data.openCart);
    const cartId = opened.data.openCart.cart.id;

    const first = await server.gql(ADD, { input: item(cartId, 2, 'e2e-idem-add') });
    const again = await server.gql(ADD, { input: item(cartId, 2, 'e2e-idem-add') });
    expect(again.data.addItemToCart).toEqual(first.data.addItemToCart);
    const reused = await server.gql(ADD, { input: item(cartId, 7, 'e2e-idem-add') });
    expect(reused.data.addItemToCart).toMatchObject({ __typename: 'CommandIdReusedError', code: 'COMMAND_ID_REUSED', commandId: 'e2e-idem-add' });
    const stream = await server.gql(`query { stream(id: "${cartId}") { version } }`);
    expect(stream.data.stream.version).toBe(2);
  });
});
