import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { adminToken } from './support/auth.ts';
import { startTestServer, type TestServer } from './support/server.ts';

const SHOP = 'https://shop.example';
const EVIL = 'https://evil.example';

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer({ config: { corsOrigins: [SHOP, 'http://localhost:5173'] } });
});
afterAll(async () => server?.close());

const incrementMutation = (counterId: string) => `mutation { incrementCounter(input: { counterId: "${counterId}" }) { __typename } }`;
const version = async (counterId: string) => (await server.gql(`query($id: ID!) { counter(id: $id) { version } }`, { id: counterId })).data.counter?.version ?? 0;
const ownOrigin = () => new URL(server.url).origin;

describe('CORS', () => {
  it('answers a preflight from a listed origin with that origin alone and credentials', async () => {
    const response = await fetch(server.url, {
      method: 'OPTIONS',
      headers: { origin: SHOP, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type, authorization' },
    });
    expect(response.status).toBe(204);
    expect(response.headers.get('access-control-allow-origin')).toBe(SHOP);
    expect(response.headers.get('access-control-allow-credentials')).toBe('true');
    expect(response.headers.get('access-control-allow-headers')).toMatch(/authorization/);
  });

  it('gives an unlisted origin no CORS headers at all, so its page cannot read anything, credentials or not', async () => {
    const preflight = await fetch(server.url, { method: 'OPTIONS', headers: { origin: EVIL, 'access-control-request-method': 'POST' } });
    expect(preflight.headers.get('access-control-allow-origin')).toBeNull();
    expect(preflight.headers.get('access-control-allow-credentials')).toBeNull();
  });

  it('serves a listed origin, exposing the correlation id', async () => {
    const response = await fetch(server.url, { method: 'POST', headers: { origin: SHOP, 'content-type': 'application/json' }, body: JSON.stringify({ query: '{ __typename }' }) });
    expect(response.status).toBe(200);
    expect(response.headers.get('access-control-allow-origin')).toBe(SHOP);
    expect(response.headers.get('access-control-allow-credentials')).toBe('true');
    expect(response.headers.get('access-control-expose-headers')).toMatch(/x-correlation-id/);
  });

  it('with CORS_ORIGINS=*, lets any origin read, never with credentials', async () => {
    const open = await startTestServer({ database: server.database, config: { corsOrigins: ['*'] } });
    try {
      const response = await fetch(open.url, { method: 'POST', headers: { origin: EVIL, 'content-type': 'application/json' }, body: JSON.stringify({ query: '{ __typename }' }) });
      expect(response.status).toBe(200);
      // Echoed (with Vary: Origin), which is what `*` means to a browser, never with credentials.
      expect(response.headers.get('access-control-allow-origin')).toBe(EVIL);
      expect(response.headers.get('vary')).toMatch(/Origin/);
      expect(response.headers.get('access-control-allow-credentials')).toBeNull();
    } finally {
      await open.close();
    }
  });
});

describe('requests from pages on other origins (CSRF)', () => {
  it.each([
    ['application/x-www-form-urlencoded', () => new URLSearchParams({ query: incrementMutation('csrf-form') }).toString(), 'csrf-form'],
    ['text/plain', () => JSON.stringify({ query: incrementMutation('csrf-text') }), 'csrf-text'],
  ])('a %s POST, which needs no preflight, is refused with 403 ORIGIN_NOT_ALLOWED and runs nothing', async (contentType, body, counterId) => {
    const response = await fetch(server.url, { method: 'POST', headers: { origin: EVIL, 'content-type': contentType, authorization: `Bearer ${adminToken}` }, body: body() });
    expect(response.status).toBe(403);
    expect(((await response.json()) as any).errors[0].extensions).toEqual({ code: 'ORIGIN_NOT_ALLOWED' });
    expect(await version(counterId)).toBe(0);
  });

  it('a multipart/form-data POST, which needs no preflight, is refused with 403 and runs nothing', async () => {
    const form = new FormData();
    form.set('operations', JSON.stringify({ query: incrementMutation('csrf-multipart') }));
    form.set('map', '{}');
    const response = await fetch(server.url, { method: 'POST', headers: { origin: EVIL, authorization: `Bearer ${adminToken}` }, body: form });
    expect(response.status).toBe(403);
    expect(await version('csrf-multipart')).toBe(0);
  });

  it('a JSON POST from an unlisted origin is refused too, before it runs', async () => {
    const response = await fetch(server.url, { method: 'POST', headers: { origin: EVIL, 'content-type': 'application/json', authorization: `Bearer ${adminToken}` }, body: JSON.stringify({ query: incrementMutation('csrf-json') }) });
    expect(response.status).toBe(403);
    expect(await version('csrf-json')).toBe(0);
  });

  it("a form POST from the API's own pages (GraphiQL), a listed origin or no browser at all (no Origin) still runs", async () => {
    for (const [origin, counterId] of [[ownOrigin(), 'form-own'], [SHOP, 'form-listed'], [undefined, 'form-no-origin']] as const) {
      const response = await fetch(server.url, {
        method: 'POST',
        headers: { ...(origin ? { origin } : {}), 'content-type': 'application/x-www-form-urlencoded', authorization: `Bearer ${adminToken}` },
        body: new URLSearchParams({ query: incrementMutation(counterId) }).toString(),
      });
      expect(response.status, String(origin)).toBe(200);
      expect(await version(counterId)).toBe(1);
    }
  });

  it('a multipart POST is not parsed at all: the schema takes no uploads', async () => {
    const form = new FormData();
    form.set('operations', JSON.stringify({ query: incrementMutation('multipart-off') }));
    const response = await fetch(server.url, { method: 'POST', headers: { authorization: `Bearer ${adminToken}` }, body: form });
    expect(response.status).toBeGreaterThanOrEqual(400);
    expect(await version('multipart-off')).toBe(0);
  });
});

/** Opens a graphql-transport-ws socket with this Origin (none when undefined): 'open', or the HTTP status that refused the upgrade. */
function upgrade(origin: string | undefined): Promise<'open' | number> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(server.wsUrl, 'graphql-transport-ws', origin ? { origin } : {});
    socket.once('open', () => {
      socket.close();
      resolve('open');
    });
    socket.once('unexpected-response', (_request, response) => resolve(response.statusCode ?? 0));
    socket.once('error', (error) => reject(error));
  });
}

describe("the WebSocket upgrade's Origin", () => {
  it('is checked against the same list: an unlisted origin is refused with 403', async () => {
    expect(await upgrade(EVIL)).toBe(403);
  });

  it("lets a listed origin, the API's own pages and non-browser clients (no Origin) connect", async () => {
    expect(await upgrade(SHOP)).toBe('open');
    expect(await upgrade('http://localhost:5173')).toBe('open');
    expect(await upgrade(ownOrigin())).toBe('open');
    expect(await upgrade(undefined)).toBe('open');
  });
});
