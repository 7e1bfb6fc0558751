import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './support/server.ts';

/** What normalized client caches (Relay, Apollo, urql) rely on: global ids and `node(id:)`. */
let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => server.close());

const OPEN = `mutation($input: OpenCartInput!) {
  openCart(input: $input) { ... on OpenCartSuccess { cart { id cartId version } events { id eventId type } } }
}`;

describe('global ids', () => {
  it('differ between a cart, its stream and its events, though they share the aggregate id', async () => {
    const opened = (await server.gql(OPEN, { input: { cartId: 'relay-cart', customerId: 'relay' } })).data.openCart;
    const stream = (await server.gql('{ stream(id: "relay-cart") { id streamId } }')).data.stream;
    expect(opened.cart.cartId).toBe('relay-cart');
    expect(stream.streamId).toBe('relay-cart');
    const ids = [opened.cart.id, stream.id, opened.events[0].id];
    expect(new Set(ids).size).toBe(3);
    expect(ids).not.toContain('relay-cart');
  });

  it('load the same object again through node and nodes, each as its own type', async () => {
    const opened = (await server.gql(OPEN, { input: { cartId: 'relay-node', customerId: 'relay' } })).data.openCart;
    const stream = (await server.gql('{ stream(id: "relay-node") { id } }')).data.stream;
    const result = await server.gql(
      `query($cart: ID!, $stream: ID!, $event: ID!) {
        cart: node(id: $cart) { __typename id ... on Cart { cartId customerId } }
        stream: node(id: $stream) { __typename id ... on Stream { streamId version } }
        event: node(id: $event) { __typename id ... on CartOpened { eventId cartId } }
        all: nodes(ids: [$event, $cart]) { __typename id }
      }`,
      { cart: opened.cart.id, stream: stream.id, event: opened.events[0].id },
    );
    expect(result.errors).toBeUndefined();
    expect(result.data).toEqual({
      cart: { __typename: 'Cart', id: opened.cart.id, cartId: 'relay-node', customerId: 'relay' },
      stream: { __typename: 'Stream', id: stream.id, streamId: 'relay-node', version: 1 },
      event: { __typename: 'CartOpened', id: opened.events[0].id, eventId: opened.events[0].eventId, cartId: 'relay-node' },
      all: [
        { __typename: 'CartOpened', id: opened.events[0].id },
        { __typename: 'Cart', id: opened.cart.id },
      ],
    });
  });

  it('of objects that do not exist load as null', async () => {
    const missingCart = Buffer.from('Cart:no-such-cart').toString('base64');
    const missingEvent = Buffer.from('CartOpened:not-a-uuid').toString('base64');
    const result = await server.gql('query($a: ID!, $b: ID!) { a: node(id: $a) { id } b: node(id: $b) { id } }', { a: missingCart, b: missingEvent });
    expect(result.data).toEqual({ a: null, b: null });
  });
});

describe('connection types', () => {
  it('are named after what they list', async () => {
    const result = await server.gql(`{
      cart: __type(name: "CartConnection") { name }
      user: __type(name: "UserConnection") { name }
      counter: __type(name: "CounterConnection") { name }
      old: __type(name: "QueryCartsConnection") { name }
    }`);
    expect(result.data).toEqual({ cart: { name: 'CartConnection' }, user: { name: 'UserConnection' }, counter: { name: 'CounterConnection' }, old: null });
  });
});
