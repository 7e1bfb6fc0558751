import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_LIMITS } from '../src/app/config.ts';
import { tokenFor } from './support/auth.ts';
import { startTestServer, type TestServer } from './support/server.ts';

const PER_MINUTE = 2;
const BURST = 3;

let server: TestServer;
let alice: string;
let bob: string;
beforeAll(async () => {
  server = await startTestServer({ config: { limits: { ...DEFAULT_LIMITS, mutationRate: { perMinute: PER_MINUTE, burst: BURST } } } });
  [alice, bob] = await Promise.all([tokenFor('alice-rate', ['customer']), tokenFor('bob-rate', ['customer'])]);
});
afterAll(async () => server?.close());

const increment = (counterId: string) => `incrementCounter(input: { counterId: "${counterId}" }) { __typename }`;

/** POSTs a mutation as `token`'s caller; the status and Retry-After beside the body. */
async function mutate(token: string, fields: string[]) {
  const response = await fetch(server.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query: `mutation { ${fields.map((field, i) => `m${i}: ${field}`).join(' ')} }` }),
  });
  return { status: response.status, retryAfter: response.headers.get('retry-after'), body: (await response.json()) as { data?: any; errors?: { message: string; extensions?: any }[] } };
}
const version = async (counterId: string) => (await server.gql(`query($id: ID!) { counter(id: $id) { version } }`, { id: counterId })).data.counter?.version ?? 0;

describe('the mutation rate limit per caller (optional, off by default)', () => {
  it('is off unless configured', () => {
    expect(DEFAULT_LIMITS.mutationRate.perMinute).toBe(0);
  });

  it(`lets a caller run ${BURST} commands at once, refuses the next with RATE_LIMITED and 429 writing nothing, and refills ${PER_MINUTE} a minute`, async () => {
    for (let i = 0; i < BURST; i++) expect((await mutate(alice, [increment('rate-alice')])).body.data.m0.__typename).toBe('IncrementCounterSuccess');

    const refused = await mutate(alice, [increment('rate-alice')]);
    expect(refused.status).toBe(429);
    expect(refused.retryAfter).toBe('30');
    expect(refused.body.data).toBeUndefined();
    expect(refused.body.errors![0]!.extensions).toMatchObject({ code: 'RATE_LIMITED', retryAfterSeconds: 30 });
    expect(await version('rate-alice')).toBe(BURST);

    // Another caller has a bucket of their own.
    expect((await mutate(bob, [increment('rate-bob')])).body.data.m0.__typename).toBe('IncrementCounterSuccess');

    // Half a minute later one command fits again, but not two in one mutation: that one runs none of them.
    server.clock.advance(30_000);
    const two = await mutate(alice, [increment('rate-alice'), increment('rate-alice-2')]);
    expect(two.body.errors![0]!.extensions.code).toBe('RATE_LIMITED');
    expect([await version('rate-alice'), await version('rate-alice-2')]).toEqual([BURST, 0]);
    expect((await mutate(alice, [increment('rate-alice')])).body.data.m0.__typename).toBe('IncrementCounterSuccess');
    expect(await version('rate-alice')).toBe(BURST + 1);
  });

  it('refuses a mutation of more commands than a full bucket holds, saying to split it', async () => {
    const carol = await tokenFor('carol-rate', ['customer']);
    const many = await mutate(carol, Array.from({ length: BURST + 1 }, (_, i) => increment(`rate-carol-${i}`)));
    expect(many.body.errors![0]!.extensions).toMatchObject({ code: 'RATE_LIMITED', maxCommands: BURST });
    expect(many.body.errors![0]!.message).toMatch(/split it/);
    expect(await version('rate-carol-0')).toBe(0);
  });

  it('holds over graphql-ws too, and leaves queries alone', async () => {
    const dave = await tokenFor('dave-rate', ['customer']);
    const client = server.wsClient({ token: dave });
    const run = (query: string) =>
      new Promise<any>((resolve, reject) => {
        let result: unknown;
        client.subscribe({ query }, { next: (value) => (result = value), error: reject, complete: () => resolve(result) });
      });
    for (let i = 0; i < BURST; i++) expect((await run(`mutation { ${increment('rate-dave')} }`)).data.incrementCounter.__typename).toBe('IncrementCounterSuccess');
    const refused = await run(`mutation { ${increment('rate-dave')} }`);
    expect(refused.errors[0].extensions.code).toBe('RATE_LIMITED');
    expect(await version('rate-dave')).toBe(BURST);
    expect((await run('{ __typename }')).data).toEqual({ __typename: 'Query' });
  });
});
