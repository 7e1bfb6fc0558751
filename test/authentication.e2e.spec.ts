import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Client } from 'graphql-ws';
import { decodeJwt, exportJWK, generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_AUTH, tokenFor } from './support/auth.ts';
import { collect, startTestServer, type TestServer } from './support/server.ts';

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => server.close());

const INCREMENT = `mutation($id: ID!) { incrementCounter(input: { counterId: $id }) { __typename ... on IncrementCounterSuccess { events { metadata { actor } } } } }`;
const badTokens = [
  ['expired', () => tokenFor('alice', ['customer'], { expiresIn: '-1m' }), 'expired'],
  ['signed with another secret', () => tokenFor('alice', ['customer'], { secret: 'another-secret-that-is-long-enough-for-hs256' }), 'invalid'],
  ['for another audience', () => tokenFor('alice', ['customer'], { audience: 'someone-else' }), 'invalid'],
  ['tampered with', async () => (await tokenFor('alice', ['customer'])).replace(/\.(.)/, (_m, c: string) => `.${c === 'e' ? 'f' : 'e'}`), 'invalid'],
  ['not a JWT', async () => 'not-a-jwt', 'invalid'],
] as const;

const post = (token: string) =>
  fetch(server.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query: INCREMENT, variables: { id: 'auth-refused' } }),
  });

describe('bearer tokens over HTTP', () => {
  it("record the token's subject as the actor of the events a command appends", async () => {
    const token = await tokenFor('alice', ['customer']);
    const result = await server.gql(INCREMENT, { id: 'auth-actor' }, { authorization: `Bearer ${token}` });
    expect(result.data.incrementCounter.events).toEqual([{ metadata: { actor: 'alice' } }]);
  });

  it.each(badTokens)('%s are refused as UNAUTHENTICATED with 401, and nothing is appended', async (_case, token, reason) => {
    const response = await post(await token());
    expect(response.status).toBe(401);
    const body = (await response.json()) as any;
    expect(body.errors[0].extensions).toMatchObject({ code: 'UNAUTHENTICATED', reason });
    expect((await server.gql('{ stream(id: "auth-refused") { version } }')).data.stream).toBeNull();
  });
});

type Outcome = { result?: { data?: any; errors?: unknown[] }; closed?: { code: number; reason: string } };

/** Runs one operation over a fresh graphql-ws connection and says how it ended: with a result, or with the socket closed. */
function overSocket(client: Client, query: string, variables?: Record<string, unknown>): Promise<Outcome> {
  return new Promise((resolve) => {
    let result: Outcome['result'];
    client.subscribe(
      { query, ...(variables ? { variables } : {}) },
      {
        next: (value) => (result = value as Outcome['result']),
        error: (error) => {
          const { code, reason } = error as { code: number; reason: string };
          resolve({ closed: { code, reason: String(reason) } });
        },
        complete: () => resolve(result ? { result } : {}),
      },
    );
  });
}

describe('bearer tokens over graphql-ws (connectionParams.authorization)', () => {
  it("run the connection's operations as the token's subject", async () => {
    const client = server.wsClient({ token: await tokenFor('bob', ['customer']) });
    const outcome = await overSocket(client, INCREMENT, { id: 'auth-ws-actor' });
    expect(outcome.result?.data.incrementCounter.events).toEqual([{ metadata: { actor: 'bob' } }]);
  });

  it('without a token the socket is closed with 4403 before anything runs', async () => {
    const outcome = await overSocket(server.wsClient({ token: null }), INCREMENT, { id: 'auth-ws-missing' });
    expect(outcome.closed).toEqual({ code: 4403, reason: expect.stringMatching(/bearer token/) });
    expect((await server.gql('{ stream(id: "auth-ws-missing") { version } }')).data.stream).toBeNull();
  });

  it.each(badTokens)('%s close the socket with 4403 before anything runs', async (_case, token, reason) => {
    const outcome = await overSocket(server.wsClient({ token: await token() }), INCREMENT, { id: 'auth-refused' });
    expect(outcome.closed).toEqual({ code: 4403, reason: expect.stringMatching(reason === 'expired' ? /expired/ : /not valid|no subject/) });
    expect((await server.gql('{ stream(id: "auth-refused") { version } }')).data.stream).toBeNull();
  });

  it('a token that expires while the socket is open closes it with 4403 at its expiry, ending its subscriptions', async () => {
    // No clock tolerance on this server, so the token stops verifying at its exp.
    const strict = await startTestServer({ auth: { ...TEST_AUTH, clockToleranceSeconds: 0 } });
    try {
      const token = await tokenFor('carol', ['admin'], { expiresIn: '2s' });
      const expiresAt = decodeJwt(token).exp! * 1000;
      const client = strict.wsClient({ token });
      let closed: { code: number; at: number } | undefined;
      client.on('closed', (event) => (closed ??= { code: (event as { code: number }).code, at: Date.now() }));
      const live = collect<{ events: { streamId: string } }>(client, `subscription { events(filter: { streamId: "auth-expiring" }) { streamId } }`);
      await expect.poll(() => strict.app.feed.subscriberCount).toBe(1);
      // Live until then: the subscription receives what is appended.
      await strict.gql(INCREMENT, { id: 'auth-expiring' });
      await live.waitFor(1);

      await expect.poll(() => closed, { timeout: 10_000 }).toBeDefined();
      expect(closed!.code).toBe(4403);
      expect(closed!.at).toBeGreaterThanOrEqual(expiresAt - 5); // timers may fire a millisecond early, never a second
      expect(live.errors).toEqual([expect.objectContaining({ code: 4403 })]);
      await expect.poll(() => strict.app.feed.subscriberCount).toBe(0);
    } finally {
      await strict.close();
    }
  });
});

describe("an identity provider's tokens, checked against its JSON Web Key Set (JWT_JWKS_URL)", () => {
  const ISSUER = 'https://id.example.test/';
  const ROLES_CLAIM = 'https://example.test/roles';
  let provider: http.Server;
  let providerUrl: string;
  let signingKey: CryptoKey;
  let otherKey: CryptoKey;
  const servers: TestServer[] = [];

  beforeAll(async () => {
    const pair = await generateKeyPair('RS256');
    signingKey = pair.privateKey;
    otherKey = (await generateKeyPair('RS256')).privateKey;
    const jwks = JSON.stringify({ keys: [{ ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' }] });
    // The provider: its key set on /jwks.json, and a path that answers as a provider having an outage.
    provider = http.createServer((req, res) => {
      if (req.url === '/jwks.json') res.writeHead(200, { 'content-type': 'application/json' }).end(jwks);
      else res.writeHead(503).end('down for maintenance');
    });
    await new Promise<void>((resolve) => provider.listen(0, '127.0.0.1', resolve));
    providerUrl = `http://127.0.0.1:${(provider.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await Promise.all(servers.map((s) => s.close()));
    await new Promise((resolve) => provider?.close(resolve));
  });

  const serverFor = async (jwksPath: string) => {
    const started = await startTestServer({
      auth: { mode: 'jwt', development: false, jwksUrl: `${providerUrl}${jwksPath}`, issuer: ISSUER, audience: 'eventsourced-graphql', rolesClaim: ROLES_CLAIM, clockToleranceSeconds: 5 },
    });
    servers.push(started);
    return started;
  };
  const sign = (subject: string, key: CryptoKey, kid = 'k1') =>
    new SignJWT({ [ROLES_CLAIM]: ['customer'] })
      .setProtectedHeader({ alg: 'RS256', kid })
      .setSubject(subject)
      .setIssuer(ISSUER)
      .setAudience('eventsourced-graphql')
      .setIssuedAt()
      .setExpirationTime('1h')
      .sign(key);
  const increment = (target: TestServer, token: string, id: string) =>
    fetch(target.url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify({ query: INCREMENT, variables: { id } }) });

  it("accept a token signed with one of the set's keys: its subject is the actor", async () => {
    const withJwks = await serverFor('/jwks.json');
    const response = await increment(withJwks, await sign('pat', signingKey), 'auth-jwks');
    expect(((await response.json()) as any).data.incrementCounter.events).toEqual([{ metadata: { actor: 'pat' } }]);
  });

  it.each([
    ['signed with a key the set does not hold', () => sign('pat', otherKey)],
    ['naming a key id the set does not have', () => sign('pat', signingKey, 'k-unknown')],
  ])('refuse a token %s as UNAUTHENTICATED (invalid)', async (_case, token) => {
    const withJwks = await serverFor('/jwks.json');
    const response = await increment(withJwks, await token(), 'auth-jwks-refused');
    expect(response.status).toBe(401);
    expect(((await response.json()) as any).errors[0].extensions).toMatchObject({ code: 'UNAUTHENTICATED', reason: 'invalid' });
  });

  it('do not blame the token when the key set cannot be fetched: an unexpected error over HTTP, 4500 on a WebSocket', async () => {
    const providerDown = await serverFor('/down.json');
    const token = await sign('pat', signingKey);
    const response = await increment(providerDown, token, 'auth-jwks-down');
    const body = (await response.json()) as any;
    expect(body.errors[0]).toMatchObject({ message: 'Unexpected error.' });
    expect(body.errors[0].extensions?.code).not.toBe('UNAUTHENTICATED');
    expect(response.status).not.toBe(401);
    expect((await overSocket(providerDown.wsClient({ token }), '{ __typename }')).closed).toMatchObject({ code: 4500 });
  });
});
