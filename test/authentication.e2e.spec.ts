import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tokenFor } from './support/auth.ts';
import { startTestServer, type TestServer } from './support/server.ts';

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => server.close());

const INCREMENT = `mutation($id: ID!) { incrementCounter(input: { counterId: $id }) { __typename ... on IncrementCounterSuccess { events { metadata { actor } } } } }`;
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

  it.each([
    ['expired', () => tokenFor('alice', ['customer'], { expiresIn: '-1m' }), 'expired'],
    ['signed with another secret', () => tokenFor('alice', ['customer'], { secret: 'another-secret-that-is-long-enough-for-hs256' }), 'invalid'],
    ['for another audience', () => tokenFor('alice', ['customer'], { audience: 'someone-else' }), 'invalid'],
    ['tampered with', async () => (await tokenFor('alice', ['customer'])).replace(/\.(.)/, (_m, c: string) => `.${c === 'e' ? 'f' : 'e'}`), 'invalid'],
    ['not a JWT', async () => 'not-a-jwt', 'invalid'],
  ])('%s are refused as UNAUTHENTICATED with 401, and nothing is appended', async (_case, token, reason) => {
    const response = await post(await token());
    expect(response.status).toBe(401);
    const body = (await response.json()) as any;
    expect(body.errors[0].extensions).toMatchObject({ code: 'UNAUTHENTICATED', reason });
    expect((await server.gql('{ stream(id: "auth-refused") { version } }')).data.stream).toBeNull();
  });
});
