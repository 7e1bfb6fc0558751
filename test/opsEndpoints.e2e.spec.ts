import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './support/server.ts';

const TOKEN = 'an-operations-token-for-tests';

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => server?.close());

const base = (test: TestServer) => test.url.replace(/\/graphql$/, '');
const get = (url: string, token?: string) => fetch(url, token ? { headers: { authorization: `Bearer ${token}` } } : {});

describe('/health and /metrics', () => {
  it("are on the API's port, open, unless the operator says otherwise", async () => {
    expect((await get(`${base(server)}/health`)).status).toBe(200);
    const metrics = await get(`${base(server)}/metrics`);
    expect(metrics.status).toBe(200);
    expect(await metrics.text()).toMatch(/graphql_operations_total|process_cpu/);
    expect(server.opsUrl).toBeUndefined();
  });

  it("with OPS_PORT, are on that port: the API's port keeps only Yoga's bare liveness answer, and the ops port serves nothing else", async () => {
    const separate = await startTestServer({ database: server.database, config: { ops: { port: 0, host: '127.0.0.1', token: undefined } } });
    try {
      expect(separate.opsUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(separate.opsUrl).not.toBe(base(separate));
      expect((await get(`${separate.opsUrl}/health`)).status).toBe(200);
      expect(await (await get(`${separate.opsUrl}/metrics`)).text()).toMatch(/# HELP/);

      expect((await get(`${base(separate)}/metrics`)).status).toBe(404);
      // Yoga's own health check: 200 and nothing else, for a load balancer probing the public port.
      const liveness = await get(`${base(separate)}/health`);
      expect([liveness.status, await liveness.text()]).toEqual([200, '']);
      expect((await get(`${separate.opsUrl}/graphql`)).status).toBe(404);
      expect((await separate.gql('{ __typename }')).data).toEqual({ __typename: 'Query' });
    } finally {
      await separate.close();
    }
  });

  it('with OPS_TOKEN, answer only requests bearing it (401 otherwise), on whichever port they are', async () => {
    const guarded = await startTestServer({ database: server.database, config: { ops: { port: undefined, host: undefined, token: TOKEN } } });
    try {
      for (const path of ['/health', '/metrics']) {
        const url = `${base(guarded)}${path}`;
        const anonymous = await get(url);
        expect(anonymous.status, path).toBe(401);
        expect(anonymous.headers.get('www-authenticate')).toMatch(/^Bearer/);
        expect(await anonymous.text()).not.toMatch(/# HELP|"status"/);
        expect((await get(url, 'a-wrong-token-of-the-same-size')).status, path).toBe(401);
        expect((await get(url, TOKEN)).status, path).toBe(200);
      }
      // The token guards the operations endpoints only: GraphQL is untouched.
      expect((await guarded.gql('{ __typename }')).data).toEqual({ __typename: 'Query' });
    } finally {
      await guarded.close();
    }
  });
});
