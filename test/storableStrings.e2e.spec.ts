import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { collect, startTestServer, type TestServer } from './support/server.ts';

/**
 * PostgreSQL cannot store a NUL character in text, nor a string that is not well-formed UTF-16 (a lone
 * surrogate) in jsonb. Such strings are the client's mistake: they are refused at the GraphQL edge
 * with a VALIDATION error naming where they were, before anything runs, over HTTP and WebSocket.
 */

let server: TestServer;
let db: pg.Client;
beforeAll(async () => {
  server = await startTestServer();
  db = new pg.Client({ connectionString: server.database.url });
  await db.connect();
  const opened = await server.gql(`mutation { openCart(input: { cartId: "strings-cart", customerId: "c" }) { __typename } }`);
  expect(opened.data.openCart.__typename).toBe('OpenCartSuccess');
});
afterAll(async () => {
  await db?.end();
  await server?.close();
});

const ADD = `mutation Add($input: AddItemToCartInput!) {
  addItemToCart(input: $input) { __typename ... on AddItemToCartSuccess { cart { version } } ... on Error { code message } }
}`;
const item = (overrides: Record<string, unknown> = {}) => ({ cartId: 'strings-cart', sku: 'TEA', name: 'Green tea', unitPrice: { amount: 450, currency: 'EUR' }, quantity: 1, ...overrides });
const REGISTER = `mutation Register($input: RegisterUserInput!) { registerUser(input: $input) { __typename ... on Error { code message } } }`;
const CART = `query Cart($id: ID!) { cart(id: $id) { id version } }`;

/** Every row of the log: a refusal must leave it exactly as it was. */
const log = async () => (await db.query<{ event_id: string }>('select event_id from events order by transaction_id, global_position')).rows.map((row) => row.event_id);

const refused = (path: string, problem: RegExp) => [
  expect.objectContaining({
    message: expect.stringMatching(/cannot be stored/),
    extensions: expect.objectContaining({ code: 'VALIDATION', issues: [{ path, message: expect.stringMatching(problem) }] }),
  }),
];
const NUL = /NUL character/;
const LONE_SURROGATE = /lone surrogate/;

describe('strings PostgreSQL cannot store, over HTTP', () => {
  it('a NUL in a mutation variable is a VALIDATION error naming the variable path, and nothing is appended', async () => {
    const before = await log();
    const result = await server.gql(ADD, { input: item({ sku: 'TEA\u0000' }) });
    expect(result.errors).toEqual(refused('$input.sku', NUL));
    expect(result.data).toBeUndefined();
    expect(await log()).toEqual(before);
  });

  it('a NUL written into the operation itself is refused, naming the field and argument', async () => {
    const before = await log();
    const result = await server.gql(`mutation {
      addItemToCart(input: { cartId: "strings-cart", sku: "TEA\\u0000", name: "Tea", unitPrice: { amount: 450, currency: "EUR" }, quantity: 1 }) { __typename }
    }`);
    expect(result.errors).toEqual(refused('addItemToCart.input.sku', NUL));
    expect(await log()).toEqual(before);
  });

  it('a NUL in a query id, as a variable or a literal, is refused rather than an unexpected error', async () => {
    expect((await server.gql(CART, { id: 'strings\u0000cart' })).errors).toEqual(refused('$id', NUL));
    expect((await server.gql(`query { mine: cart(id: "strings\\u0000cart") { id } }`)).errors).toEqual(refused('mine.id', NUL));
  });

  it('a lone surrogate in a JSON variable is refused, in a nested list too, and nothing is appended', async () => {
    const before = await log();
    expect((await server.gql(REGISTER, { input: { email: 'lone@example.com', name: 'Ada \ud800' } })).errors).toEqual(refused('$input.name', LONE_SURROGATE));
    expect((await server.gql(ADD, { input: item({ name: '\udc00 tea' }) })).errors).toEqual(refused('$input.name', LONE_SURROGATE));
    const history = `query H($filter: EventFilter) { events(filter: $filter) { edges { cursor } } }`;
    expect((await server.gql(history, { filter: { types: ['CartOpened', 'x\ud83d'] } })).errors).toEqual(refused('$filter.types[1]', LONE_SURROGATE));
    expect(await log()).toEqual(before);
  });

  it('well-formed text outside the basic plane is kept, and a refused document runs once its variables are fine', async () => {
    expect((await server.gql(ADD, { input: item({ sku: 'TEA\u0000' }) })).errors).toBeDefined();
    const result = await server.gql(ADD, { input: item({ sku: 'TEA-🍵', name: 'Tea 🍵' }) });
    expect(result.errors).toBeUndefined();
    expect(result.data.addItemToCart.__typename).toBe('AddItemToCartSuccess');
  });
});

describe('strings PostgreSQL cannot store, over graphql-ws', () => {
  it('a mutation with a NUL in a variable is refused naming the path, and nothing is appended', async () => {
    const before = await log();
    const sent = collect(server.wsClient(), ADD, { input: item({ sku: '\u0000' }) });
    await expect.poll(() => sent.errors.length).toBe(1);
    expect(sent.errors[0]).toEqual(refused('$input.sku', NUL));
    expect(sent.received).toEqual([]);
    expect(await log()).toEqual(before);
  });

  it('a subscription whose filter holds a NUL or a lone surrogate is refused before it subscribes', async () => {
    const subscribers = server.app.feed.subscriberCount;
    const follow = `subscription F($filter: EventFilter) { events(filter: $filter) { id } }`;
    const nul = collect(server.wsClient(), follow, { filter: { streamId: 'strings-cart\u0000' } });
    const surrogate = collect(server.wsClient(), follow, { filter: { actor: '\ud800' } });
    await expect.poll(() => nul.errors.length + surrogate.errors.length).toBe(2);
    expect(nul.errors[0]).toEqual(refused('$filter.streamId', NUL));
    expect(surrogate.errors[0]).toEqual(refused('$filter.actor', LONE_SURROGATE));
    expect(server.app.feed.subscriberCount).toBe(subscribers);
  });

  it('a query with a NUL literal is refused naming the field and argument', async () => {
    const sent = collect(server.wsClient(), `query { cart(id: "a\\u0000") { id } }`);
    await expect.poll(() => sent.errors.length).toBe(1);
    expect(sent.errors[0]).toEqual(refused('cart.id', NUL));
  });
});

describe('how the refusal is answered over HTTP', () => {
  it('with 400 to clients accepting application/graphql-response+json, as GraphQL validation errors are, for variables and literals alike', async () => {
    for (const body of [{ query: CART, variables: { id: 'a\u0000' } }, { query: `query { cart(id: "a\\u0000") { id } }` }]) {
      const post = (accept: string) => fetch(server.url, { method: 'POST', headers: { 'content-type': 'application/json', accept }, body: JSON.stringify(body) });
      const strict = await post('application/graphql-response+json');
      expect(strict.status).toBe(400);
      expect(((await strict.json()) as any).errors[0].extensions).toEqual({ code: 'VALIDATION', issues: [expect.objectContaining({ message: expect.stringMatching(NUL) })] });
      expect((await post('application/json')).status).toBe(200);
    }
  });
});
