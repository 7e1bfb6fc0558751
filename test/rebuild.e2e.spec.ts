import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RebuildLock } from '../src/eventStore/projections/rebuild.ts';
import { tokenFor } from './support/auth.ts';
import { collect, startTestServer, type TestServer } from './support/server.ts';
import { until } from './support/until.ts';

const SCRIPT = fileURLToPath(new URL('../scripts/rebuild.ts', import.meta.url));

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
  for (let i = 0; i < 40; i++) {
    const cartId = `cart-${i}`;
    const opened = await server.gql(`mutation($id: ID!) { openCart(input: { cartId: $id, customerId: "alice" }) { __typename } }`, { id: cartId });
    expect(opened.data?.openCart.__typename).toBe('OpenCartSuccess');
    await server.gql(
      `mutation($id: ID!) { addItemToCart(input: { cartId: $id, sku: "COFFEE", name: "Coffee", unitPrice: { amount: 1299, currency: "EUR" }, quantity: 2 }) { __typename } }`,
      { id: cartId },
    );
  }
});
afterAll(async () => server?.close());

const REBUILD = `mutation($name: String!) {
  rebuildReadModel(input: { readModel: $name }) {
    __typename
    ... on RebuildReadModelSuccess { progress { readModel phase } }
    ... on RebuildInProgressError { readModel code }
    ... on Error { code message }
  }
}`;
const FOLLOW = `subscription($name: String!) { readModelRebuild(readModel: $name) { readModel phase eventsDone eventsTotal eventsPerSecond etaSeconds writePauseMs } }`;
type Progress = { readModelRebuild: { readModel: string; phase: string; eventsDone: number; eventsTotal: number; writePauseMs: number | null } };

const health = async () => (await (await fetch(server.url.replace(/\/graphql$/, '/health'))).json()) as { readModels: Record<string, { state: string; version: number; builtVersion: number | null }> };

describe('rebuilding a read model over the API', () => {
  it('an administrator starts a rebuild with rebuildReadModel and follows it to DONE over graphql-ws, while cart(id) keeps answering', async () => {
    const started = await server.gql(REBUILD, { name: 'carts' });
    expect(started.data?.rebuildReadModel).toMatchObject({ __typename: 'RebuildReadModelSuccess', progress: { readModel: 'carts' } });
    const client = server.wsClient();
    const progress = collect<Progress>(client, FOLLOW, { name: 'carts' });
    // Queries during the rebuild read the live model, whole.
    const during = await server.gql(`{ cart(id: "cart-7") { itemCount version } }`);
    expect(during.data?.cart).toEqual({ itemCount: 2, version: 2 });
    await until(async () => progress.completed, 'the progress subscription to end');
    expect(progress.errors).toEqual([]);
    const last = progress.received.at(-1)!.readModelRebuild;
    expect(last).toMatchObject({ readModel: 'carts', phase: 'DONE', eventsDone: 80 });
    expect(last.writePauseMs).toBeGreaterThanOrEqual(0);
    expect((await server.gql(`{ cart(id: "cart-7") { itemCount version } }`)).data?.cart).toEqual({ itemCount: 2, version: 2 });
    const listed = await server.gql(`{ readModels { name version builtVersion state rebuiltAt } }`);
    expect(listed.data?.readModels).toContainEqual(expect.objectContaining({ name: 'carts', version: 1, builtVersion: 1, state: 'CURRENT', rebuiltAt: expect.any(String) }));
    expect((await health()).readModels.carts).toEqual({ state: 'current', version: 1, builtVersion: 1 });
  });

  it('a rebuild requested while another holds the lock is refused with RebuildInProgressError, and /health says the read model is rebuilding', async () => {
    const lock = await RebuildLock.acquire(server.database.url, 'counters');
    try {
      const refused = await server.gql(REBUILD, { name: 'counters' });
      expect(refused.data?.rebuildReadModel).toMatchObject({ __typename: 'RebuildInProgressError', readModel: 'counters', code: 'REBUILD_IN_PROGRESS' });
      expect((await health()).readModels.counters?.state).toBe('rebuilding');
    } finally {
      await lock.release();
    }
    expect((await health()).readModels.counters?.state).toBe('current');
    const unknown = await server.gql(REBUILD, { name: 'no-such-model' });
    expect(unknown.data?.rebuildReadModel).toMatchObject({ __typename: 'NotFoundError', code: 'NOT_FOUND' });
  });

  it('customers and anonymous callers may neither rebuild, nor list read models, nor follow a rebuild', async () => {
    const customer = await tokenFor('alice', ['customer']);
    const asCustomer = await server.gql(REBUILD, { name: 'carts' }, { authorization: `Bearer ${customer}` });
    expect(asCustomer.data?.rebuildReadModel).toMatchObject({ __typename: 'ForbiddenError', code: 'FORBIDDEN' });
    const anonymous = await server.gql(REBUILD, { name: 'carts' }, { authorization: '' });
    expect(anonymous.data?.rebuildReadModel).toMatchObject({ __typename: 'UnauthenticatedError', code: 'UNAUTHENTICATED' });
    const listing = await server.gql(`{ readModels { name } }`, undefined, { authorization: `Bearer ${customer}` });
    expect(listing.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const following = collect<Progress>(server.wsClient({ token: customer }), FOLLOW, { name: 'carts' });
    await until(async () => following.errors.length > 0, 'the subscription to be refused');
    expect(JSON.stringify(following.errors)).toContain('FORBIDDEN');
    expect(following.received).toEqual([]);
  });

  it('npm run rebuild rebuilds as a child process with a progress bar on stderr, and refuses while another rebuild holds the lock', async () => {
    const run = await runScript(['carts']);
    expect(run.code).toBe(0);
    expect(run.stderr).toMatch(/\[#+\] 100%\s+80\/80 events\s+\d+ events\/s\s+ETA/);
    expect(JSON.parse(run.stdout.trim().split('\n').at(-1)!)).toMatchObject({ readModel: 'carts', events: 80 });
    expect((await server.gql(`{ cart(id: "cart-3") { itemCount } }`)).data?.cart).toEqual({ itemCount: 2 });

    const lock = await RebuildLock.acquire(server.database.url, 'carts');
    try {
      const refused = await runScript(['carts']);
      expect(refused.code).toBe(3);
      expect(refused.stderr).toContain('already running');
    } finally {
      await lock.release();
    }
    expect((await runScript(['nothing-by-this-name'])).code).toBe(2);
  });
});

function runScript(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [SCRIPT, ...args], { env: { ...process.env, DATABASE_URL: server.database.url, LOG_LEVEL: 'info' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => (stdout += chunk));
  child.stderr.on('data', (chunk) => (stderr += chunk));
  return new Promise((resolve) => child.on('exit', (code) => resolve({ code, stdout, stderr })));
}
