import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_QUERY_LIMITS } from '../src/graphql/queryLimits.ts';
import { adminToken } from './support/auth.ts';
import { collect, startTestServer, type TestServer } from './support/server.ts';

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => server?.close());

/**
 * POSTs an operation as an administrator; the status beside the body. As the GraphQL-over-HTTP
 * spec says, an operation refused before it runs is a 400 for clients accepting
 * application/graphql-response+json (a 200 with errors for application/json, as GraphQL's own validation errors).
 */
async function post(query: string, variables?: Record<string, unknown>) {
  const response = await fetch(server.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json', authorization: `Bearer ${adminToken}` },
    body: JSON.stringify({ query, variables }),
  });
  return { status: response.status, body: (await response.json()) as { data?: any; errors?: { message: string; extensions?: Record<string, unknown> }[] } };
}

const counterVersion = async (id: string) => (await server.gql(`query($id: ID!) { counter(id: $id) { version } }`, { id })).data.counter?.version ?? 0;

/** The attack: `count` aliases of a 50-event history page, each distinct. */
const aliasedHistory = (count: number) => `query Flood { ${Array.from({ length: count }, (_, i) => `a${i}: events(first: 50) { edges { node { eventId } } }`).join(' ')} }`;

describe('operations too big for this schema are refused before they run, with QUERY_TOO_COMPLEX', () => {
  it("refuses the issue's 10,000 aliases of events(first: 50) quickly, and keeps answering other clients meanwhile", async () => {
    const attack = aliasedHistory(10_000);
    expect(attack.length).toBeGreaterThan(500_000);
    const started = performance.now();
    const [refusals, other] = await Promise.all([Promise.all(Array.from({ length: 5 }, () => post(attack))), post('{ __typename }')]);
    const elapsedMs = performance.now() - started;

    for (const { status, body } of refusals) {
      expect(status).toBe(400);
      expect(body.data).toBeUndefined();
      expect(body.errors).toHaveLength(1);
      expect(body.errors![0]!.extensions).toMatchObject({ code: 'QUERY_TOO_COMPLEX', limit: 'tokens', max: DEFAULT_QUERY_LIMITS.maxTokens });
    }
    expect(other.body).toEqual({ data: { __typename: 'Query' } });
    // Five of them took 14–20 s of CPU each before the limits; the parser now stops at token 2,001.
    expect(elapsedMs).toBeLessThan(2_000);
  });

  it.each([
    ['aliases', `{ ${Array.from({ length: DEFAULT_QUERY_LIMITS.maxAliases + 1 }, (_, i) => `c${i}: counter(id: "x") { value }`).join(' ')} }`],
    // The schema's own types nest 6 deep at most; `__type` (unlike `__schema`, which is exempt) nests as deep as a client likes.
    ['depth', `{ __type(name: "Cart") { fields { type ${'{ ofType '.repeat(DEFAULT_QUERY_LIMITS.maxDepth)}{ name }${' }'.repeat(DEFAULT_QUERY_LIMITS.maxDepth)} } } }`],
    ['directives', `{ __typename ${Array.from({ length: DEFAULT_QUERY_LIMITS.maxDirectives + 1 }, () => '@include(if: true)').join(' ')} }`],
    ['cost', `{ a: events(first: 1000) { edges { node { eventId type streamId version position recordedAt metadata { actor client correlationId } } } } b: events(first: 1000) { edges { node { eventId type streamId version position recordedAt metadata { actor client correlationId } } } } }`],
  ])('refuses an operation over the %s limit, naming the limit, and runs nothing', async (limit, query) => {
    const { status, body } = await post(query);
    expect(status).toBe(400);
    expect(body.data).toBeUndefined();
    expect(body.errors!.map((e) => e.extensions)).toContainEqual(expect.objectContaining({ code: 'QUERY_TOO_COMPLEX', limit }));
    expect(body.errors!.find((e) => e.extensions?.limit === limit)!.message).toMatch(/^The operation is too complex: .*limit of \d+ exceeded/);
  });

  it('refuses a mutation over a limit as a whole: none of its commands runs', async () => {
    const increments = Array.from({ length: DEFAULT_QUERY_LIMITS.maxAliases + 1 }, (_, i) => `i${i}: incrementCounter(input: { counterId: "limits-nothing-written" }) { __typename }`);
    const { status, body } = await post(`mutation { ${increments.join(' ')} }`);
    expect(status).toBe(400);
    expect(body.errors![0]!.extensions).toMatchObject({ code: 'QUERY_TOO_COMPLEX', limit: 'aliases' });
    expect(await counterVersion('limits-nothing-written')).toBe(0);
  });

  it('applies the same limits over graphql-ws: the subscription is refused with the same code, the socket stays open', async () => {
    const client = server.wsClient();
    const aliases = Array.from({ length: DEFAULT_QUERY_LIMITS.maxAliases + 1 }, (_, i) => `t${i}: type`).join(' ');
    const refused = collect(client, `subscription { events { ${aliases} } }`);
    await expect.poll(() => refused.errors.length).toBe(1);
    expect((refused.errors[0] as { extensions?: unknown }[])[0]!.extensions).toMatchObject({ code: 'QUERY_TOO_COMPLEX', limit: 'aliases' });

    // The same socket goes on serving operations within the limits.
    const fine = await new Promise<unknown>((resolve, reject) => {
      let result: unknown;
      client.subscribe({ query: '{ __typename }' }, { next: (value) => (result = value), error: reject, complete: () => resolve(result) });
    });
    expect(fine).toEqual({ data: { __typename: 'Query' } });
  });
});

describe('field suggestions', () => {
  const TYPO = '{ countr(id: "x") { value } }';

  it('outside production, validation errors suggest the field a client may have meant', async () => {
    const { body } = await post(TYPO);
    expect(body.errors![0]!.message).toMatch(/Did you mean "counter/);
  });

  it('in production, are hidden over HTTP and graphql-ws, so the schema cannot be mapped by guessing', async () => {
    const production = await startTestServer({ database: server.database, config: { production: true } });
    try {
      const response = await fetch(production.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: TYPO }) });
      const body = (await response.json()) as { errors: { message: string; extensions: Record<string, unknown> }[] };
      expect(body.errors[0]!.message).toBe('Cannot query field "countr" on type "Query".');
      expect(body.errors[0]!.extensions).toMatchObject({ code: 'GRAPHQL_VALIDATION_FAILED' });
      // GraphQL suggests enum values too, in its own words.
      const enumTypo = await fetch(production.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ query: '{ carts(filter: { status: OPN }) { edges { node { cartId } } } }' }),
      });
      const enumBody = (await enumTypo.json()) as { errors: { message: string }[] };
      expect(enumBody.errors[0]!.message).toBe('Value "OPN" does not exist in "CartStatus" enum.');

      const refused = collect(production.wsClient(), 'subscription { evnts { type } }');
      await expect.poll(() => refused.errors.length).toBe(1);
      const [error] = refused.errors[0] as { message: string }[];
      expect(error!.message).toMatch(/^Cannot query field "evnts" on type "Subscription"\.?$/);
    } finally {
      await production.close();
    }
  });
});
