import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminToken } from './support/auth.ts';
import { createTestDatabase, type TestDatabase } from './support/database.ts';
import { type ServerProcess, killServerProcesses, startServerProcess } from './support/process.ts';
import { until } from './support/until.ts';

let database: TestDatabase;
let admin: pg.Client;
const processes: ServerProcess[] = [];
beforeAll(async () => {
  database = await createTestDatabase();
  admin = new pg.Client({ connectionString: database.url });
  await admin.connect();
});
afterAll(async () => {
  await killServerProcesses(processes);
  await admin?.end();
  await database?.drop();
});

const start = async () => {
  const started = await startServerProcess({
    DATABASE_URL: database.url,
    PORT: '0',
    HOST: '127.0.0.1',
    GRAPHIQL: 'false',
    PROCESSOR_BATCH_SIZE: '5',
    PROCESSOR_TAKEOVER_INTERVAL_MS: '200',
  });
  processes.push(started);
  return started;
};

async function gql(server: ServerProcess, query: string, variables?: Record<string, unknown>): Promise<any> {
  const response = await fetch(server.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${adminToken}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await response.json()) as { data?: any; errors?: unknown };
  if (body.errors) throw new Error(JSON.stringify(body.errors));
  return body.data;
}

/** What the test sold, summed as product_sales should hold it. */
const expected = new Map<string, { units: number; revenue: number; carts: number }>();
let lastPosition = '';

async function sell(server: ServerProcess, cartId: string, lines: readonly [sku: string, unitPrice: number, quantity: number][]): Promise<void> {
  await gql(server, `mutation($input: OpenCartInput!) { openCart(input: $input) { __typename } }`, { input: { cartId, customerId: 'shopper' } });
  for (const [sku, unitPrice, quantity] of lines) {
    await gql(server, `mutation($input: AddItemToCartInput!) { addItemToCart(input: $input) { __typename } }`, {
      input: { cartId, sku, name: sku, unitPrice: { amount: unitPrice, currency: 'EUR' }, quantity },
    });
  }
  const done = await gql(server, `mutation($input: CheckoutCartInput!) { checkoutCart(input: $input) { __typename ... on CheckoutCartSuccess { position } } }`, { input: { cartId } });
  expect(done.checkoutCart.__typename).toBe('CheckoutCartSuccess');
  lastPosition = done.checkoutCart.position;
  for (const [sku, unitPrice, quantity] of lines) {
    const sum = expected.get(sku) ?? { units: 0, revenue: 0, carts: 0 };
    expected.set(sku, { units: sum.units + quantity, revenue: sum.revenue + unitPrice * quantity, carts: sum.carts + 1 });
  }
}

const productSales = async () =>
  (await admin.query<{ sku: string; units_sold: string; revenue: string; carts: number }>('select sku, units_sold, revenue, carts from product_sales order by sku')).rows.map((r) => [
    r.sku,
    { units: Number(r.units_sold), revenue: Number(r.revenue), carts: r.carts },
  ]);
const expectedSales = () => [...expected.entries()].sort(([a], [b]) => (a < b ? -1 : 1));

const holder = async (server: ServerProcess) => {
  const data = await gql(server, `{ processors { ... on Processors { items { name status owner } } } }`);
  return (data.processors.items as { name: string; status: string; owner: string | null }[]).find((p) => p.name === 'cart-product-sales')!;
};
const pidOf = (owner: string | null) => Number(owner?.split(':').at(-1));

describe('a processor across API processes', () => {
  it('after kill -9 of the holder mid-batch, another process takes over from the checkpoint and every checkout counts exactly once', async () => {
    const first = await start();
    await until(async () => pidOf((await holder(first)).owner) === first.child.pid, 'the first process runs product sales');
    const second = await start();

    await sell(first, 'kill-cart-0', [['LOCKED', 100, 1]]);
    await until(async () => (await productSales()).length === 1, 'the first checkout counted');

    // Hold writes to the read model back: the holder's next batch transaction (checkpoint moved, not
    // yet committed) waits there mid-way, and the holder is killed in it. A table lock takes no
    // transaction id, so it holds nothing of the log back (a row lock would: readLog's horizon).
    const locker = new pg.Client({ connectionString: database.url });
    await locker.connect();
    await locker.query('begin');
    await locker.query('lock table product_sales in share mode');
    for (let i = 1; i <= 8; i++) await sell(i % 2 ? first : second, `kill-cart-${i}`, [['LOCKED', 100, i], [`SKU-${i % 3}`, 250, 2]]);
    await until(
      async () => (await admin.query(`select 1 from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock' and query like '%product_sales%'`)).rowCount! > 0,
      'the batch waits on the held row',
    );
    first.child.kill('SIGKILL');
    await first.exited;
    const killedAt = Date.now();
    await locker.query('commit');
    await locker.end();

    await until(async () => pidOf((await holder(second)).owner) === second.child.pid, 'the second process takes over', 5000);
    expect(Date.now() - killedAt).toBeLessThan(5000);
    await sell(second, 'kill-cart-9', [['SKU-9', 999, 1]]);
    const answer = await gql(second, `query($p: String) { productSales(consistentWith: $p) { __typename } }`, { p: lastPosition });
    expect(answer.productSales.__typename).toBe('ProductSales');
    expect(await productSales()).toEqual(expectedSales());
  });
});
