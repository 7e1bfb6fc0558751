import { createYoga, type Plugin } from 'graphql-yoga';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useCompiledQueries } from '../src/app/compiledQueries.ts';
import { schema } from '../src/app/schema.ts';
import { adminToken } from './support/auth.ts';
import { startTestServer, type TestServer } from './support/server.ts';

/**
 * Queries a client sends again run on graphql-jit (src/app/compiledQueries.ts). A compiled query
 * must answer what graphql-js answered the first time, over real HTTP on a real database: the same
 * data, the same errors, the same masking.
 */
describe('A query sent again runs compiled and answers as the first time', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
    const open = await server.gql(`mutation { openCart(input: { cartId: "jit-cart", customerId: "jit-customer" }) { __typename } }`);
    expect(open.data).toEqual({ openCart: { __typename: 'OpenCartSuccess' } });
    const add = await server.gql(
      `mutation { addItemToCart(input: { cartId: "jit-cart", sku: "TEA", name: "Tea", unitPrice: { amount: 450, currency: "EUR" }, quantity: 2 }) { __typename } }`,
    );
    expect(add.data).toEqual({ addItemToCart: { __typename: 'AddItemToCartSuccess' } });
    await server.gql(`mutation { incrementCounter(input: { counterId: "jit-counter", amount: 3 }) { __typename } }`);
  });
  afterAll(async () => {
    await server?.close();
  });

  const post = async (body: unknown) => {
    const response = await fetch(server.url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${adminToken}` }, body: JSON.stringify(body) });
    return { status: response.status, body: await response.json() };
  };

  const documents: [string, { query: string; variables?: Record<string, unknown> }][] = [
    [
      'history with fragments on event types, an interface, DateTime and JSON',
      {
        query: `query History($first: Int!) {
          events(first: $first, filter: { streamType: "Cart" }) {
            edges { cursor node { __typename type streamId version recordedAt position data metadata { actor correlationId }
              ... on CartOpened { cartId customerId }
              ... on CartItemAdded { sku productName quantity } } }
            pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
          }
        }`,
        variables: { first: 10 },
      },
    ],
    ['a read model with nested objects and nulls', { query: `{ cart(id: "jit-cart") { cartId currency checkedOutAt itemCount total { amount currency } } missing: cart(id: "nobody") { cartId } }` }],
    ['a counter and its time travel', { query: `{ counter(id: "jit-counter") { counterId value version } before: counter(id: "jit-counter", asOf: { version: 0 }) { value } }` }],
    ['a domain error thrown outside a union', { query: `{ events(first: 1, after: "not-a-position") { edges { cursor } } }` }],
  ];

  it.each(documents)('Given %s sent before, when it is sent again, then the answer is the same', async (_name, body) => {
    const first = await post(body);
    const again = await post(body);
    const third = await post(body);
    expect(first.status).toBe(200);
    expect(again).toEqual(first);
    expect(third).toEqual(first);
  });

  it('Given a compiled document, when its variables do not fit, then the refusal is graphql-js\'s: 400 and the variable\'s location', async () => {
    const query = 'query Page($first: Int) { events(first: $first) { edges { cursor } } }';
    const fitting = await post({ query, variables: { first: 1 } });
    expect(fitting.status).toBe(200);
    await post({ query, variables: { first: 1 } });
    const refused = await post({ query, variables: { first: 'many' } });
    expect(refused.status).toBe(400);
    expect(refused.body.errors).toEqual([{ message: expect.stringContaining('Variable "$first" got invalid value "many"'), locations: [{ line: 1, column: 12 }] }]);
  });
});

describe('Which executions are compiled', () => {
  /** Yoga on the app's schema with the plugin, and whether each result came from a compiled query (graphql-jit gives it a serialiser). */
  function yogaRecordingCompiled() {
    const compiled: boolean[] = [];
    const recorder: Plugin = {
      onExecute: () => ({
        onExecuteDone: ({ result }) => {
          compiled.push(typeof (result as { stringify?: unknown }).stringify === 'function');
        },
      }),
    };
    const yoga = createYoga({ schema, plugins: [useCompiledQueries(), recorder], logging: false, maskedErrors: false });
    const run = (query: string, variables?: Record<string, unknown>) =>
      yoga.fetch('http://yoga/graphql', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query, variables }) });
    return { compiled, run };
  }

  it('Given a new document, when it runs, then graphql-js runs it once and the compiled query every time after', async () => {
    const { compiled, run } = yogaRecordingCompiled();
    for (let i = 0; i < 3; i++) expect(await (await run('{ __typename }')).json()).toEqual({ data: { __typename: 'Query' } });
    expect(compiled).toEqual([false, true, true]);
  });

  it('Given a mutation, when it runs again, then it is never compiled', async () => {
    const { compiled, run } = yogaRecordingCompiled();
    for (let i = 0; i < 3; i++) expect(await (await run('mutation { __typename }')).json()).toEqual({ data: { __typename: 'Mutation' } });
    expect(compiled).toEqual([false, false, false]);
  });

  it('Given a compiled document, when its variables do not fit, then graphql-js answers that request', async () => {
    const { compiled, run } = yogaRecordingCompiled();
    const query = 'query Q($first: Int) { __typename events(first: $first) @include(if: false) { edges { cursor } } }';
    await run(query, { first: 1 });
    await run(query, { first: 1 });
    const refused = await run(query, { first: 'many' });
    expect(refused.status).toBe(400);
    expect(compiled).toEqual([false, true, false]);
  });
});
