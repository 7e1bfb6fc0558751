import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { regularMediaType } from '../src/app/graphqlOverHttp.ts';
import { DEFAULT_LIMITS } from '../src/app/config.ts';
import { adminToken, tokenFor } from './support/auth.ts';
import { startTestServer, type TestServer } from './support/server.ts';

/**
 * The API answers common GraphQL POSTs on node:http directly (src/app/graphqlOverHttp.ts) and the
 * rest through Yoga. Whichever path takes a request, its answer must be the one Yoga gives: each
 * request here goes over real HTTP and, the same, through Yoga's own Fetch handler in process, and
 * the two answers are compared whole (status, headers, body).
 */
describe('GraphQL over HTTP answers as Yoga does', () => {
  let server: TestServer;
  let customerToken = '';
  beforeAll(async () => {
    server = await startTestServer({ config: { limits: { ...DEFAULT_LIMITS, mutationRate: { perMinute: 600, burst: 2 } } } });
    customerToken = await tokenFor('customer-1');
  });
  afterAll(async () => {
    await server?.close();
  });

  type Sent = { body: string; headers?: Record<string, string> };
  const json = (payload: unknown) => JSON.stringify(payload);
  const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

  /** Framing and per-request headers; `x-correlation-id` is checked on its own. */
  const notCompared = new Set(['date', 'connection', 'keep-alive', 'content-length', 'transfer-encoding', 'x-correlation-id']);

  /** Status, headers (but for framing) and body of an answer. */
  async function shapeOf(response: Response) {
    const text = await response.text();
    const headers = Object.fromEntries([...response.headers].map(([name, value]) => [name.toLowerCase(), value] as const).filter(([name]) => !notCompared.has(name)));
    return { status: response.status, headers, body: text };
  }

  async function bothWays(sent: Sent) {
    const headers = { 'content-type': 'application/json', accept: '*/*', ...sent.headers };
    const overHttp = await fetch(server.url, { method: 'POST', headers, body: sent.body });
    const throughYoga = await server.app.fetch(new Request(server.url, { method: 'POST', headers: { ...headers, 'content-length': String(Buffer.byteLength(sent.body)) }, body: sent.body }));
    return { overHttp, throughYoga, http: await shapeOf(overHttp), yoga: await shapeOf(throughYoga) };
  }

  const cases: [string, Sent][] = [
    ['a query', { body: json({ query: '{ __typename }' }), headers: bearer(adminToken) }],
    ['a query with variables and an operation name', { body: json({ query: 'query Q($first: Int) { events(first: $first) { edges { cursor } } }', variables: { first: 1 }, operationName: 'Q' }), headers: bearer(adminToken) }],
    ['an anonymous query of what needs a caller', { body: json({ query: '{ events(first: 1) { edges { cursor } } }' }) }],
    ['a token that does not verify', { body: json({ query: '{ __typename }' }), headers: bearer('not-a-token') }],
    ['a validation error', { body: json({ query: '{ noSuchField }' }), headers: bearer(adminToken) }],
    ['a validation error asking for application/graphql-response+json', { body: json({ query: '{ noSuchField }' }), headers: { ...bearer(adminToken), accept: 'application/graphql-response+json, application/json' } }],
    ['a variable of the wrong type', { body: json({ query: 'query Q($first: Int) { events(first: $first) { edges { cursor } } }', variables: { first: 'many' } }), headers: bearer(adminToken) }],
    ['a syntax error', { body: json({ query: '{ events(' }), headers: bearer(adminToken) }],
    ['a string that cannot be stored', { body: json({ query: 'mutation M($id: ID!) { openCart(input: { cartId: $id }) { __typename } }', variables: { id: 'a\u0000b' } }), headers: bearer(adminToken) }],
    ['a parameter GraphQL over HTTP does not have', { body: json({ query: '{ __typename }', extra: 1 }), headers: bearer(adminToken) }],
    ['a body that is not JSON', { body: '{ "query": ', headers: bearer(adminToken) }],
    ['a body that is a JSON array', { body: json([{ query: '{ __typename }' }]), headers: bearer(adminToken) }],
    ['a customer asking for another customer\'s cart', { body: json({ query: '{ cart(id: "somebody-else") { cartId } }' }), headers: bearer(customerToken) }],
    ['a media type the server does not answer in', { body: json({ query: '{ __typename }' }), headers: { ...bearer(adminToken), accept: 'application/xml' } }],
    ['a browser page on another origin', { body: json({ query: '{ __typename }' }), headers: { ...bearer(adminToken), origin: 'https://elsewhere.example' } }],
  ];

  it.each(cases)('Given %s, when it is sent over HTTP, then the answer is the one Yoga gives', async (_name, sent) => {
    const { http, yoga } = await bothWays(sent);
    expect(http).toEqual(yoga);
  });

  it('Given a mutation of more commands than a caller may run at once, when it is sent over HTTP, then it is refused with 429 as through Yoga', async () => {
    const mutation = json({ query: 'mutation { a: incrementCounter(input: { counterId: "burst", amount: 1 }) { __typename } b: incrementCounter(input: { counterId: "burst", amount: 1 }) { __typename } c: incrementCounter(input: { counterId: "burst", amount: 1 }) { __typename } }' });
    const { http, yoga } = await bothWays({ body: mutation, headers: bearer(adminToken) });
    expect(http.status).toBe(429);
    expect(http).toEqual(yoga);
  });

  it('Given a correlation id from the client, when a query is answered over HTTP, then the answer echoes it; without one it carries a new id', async () => {
    const { overHttp } = await bothWays({ body: json({ query: '{ __typename }' }), headers: { ...bearer(adminToken), 'x-correlation-id': 'client-id-1' } });
    expect(overHttp.headers.get('x-correlation-id')).toBe('client-id-1');
    const { overHttp: fresh } = await bothWays({ body: json({ query: '{ noSuchField }' }), headers: bearer(adminToken) });
    expect(fresh.headers.get('x-correlation-id')).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('Given a subscription sent as a POST asking for server-sent events, when it is answered, then the stream is Yoga\'s', async () => {
    const controller = new AbortController();
    const response = await fetch(server.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'text/event-stream', ...bearer(adminToken) },
      body: json({ query: 'subscription { events { eventId } }' }),
      signal: controller.signal,
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
    controller.abort();
  });

  it.each([
    [undefined, 'application/json'],
    ['*/*', 'application/json'],
    ['application/json', 'application/json'],
    ['application/graphql-response+json', 'application/graphql-response+json'],
    ['application/graphql-response+json, application/json', 'application/graphql-response+json'],
    ['application/json, application/graphql-response+json', 'application/json'],
    ['application/*', 'application/json'],
    ['application/json; charset=latin1', undefined],
    ['text/event-stream', undefined],
    ['multipart/mixed', undefined],
  ])('Given Accept: %s, the JSON answer is in %s (undefined: not JSON, Yoga decides)', (accept, expected) => {
    expect(regularMediaType(accept)).toBe(expected);
  });
});
