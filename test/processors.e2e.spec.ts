import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { query } from '../src/db/sql.ts';
import type { ProcessorDefinition } from '../src/eventStore/processors/processorDefinition.ts';
import { modules } from '../src/app/modules.ts';
import { cartModule } from '../src/modules/cart/module.ts';
import { productSalesProcessor } from '../src/modules/cart/productSales.ts';
import { tokenFor } from './support/auth.ts';
import { startTestServer, type TestServer } from './support/server.ts';
import { until } from './support/until.ts';

/** Holds the product-sales processor's batches while closed, so a query can be ahead of it on purpose. */
class Gate {
  private opened: Promise<void> = Promise.resolve();
  private release: (() => void) | undefined;
  close(): void {
    this.opened = new Promise((resolve) => (this.release = resolve));
  }
  open(): void {
    this.release?.();
    this.opened = Promise.resolve();
  }
  pass(): Promise<void> {
    return this.opened;
  }
}
const gate = new Gate();
const slowedProductSales: ProcessorDefinition = {
  ...productSalesProcessor,
  handle: async (events, context) => {
    await gate.pass();
    return productSalesProcessor.handle(events, context);
  },
};

/** A processor of the core whose handler fails for carts named `poison-…`, to park events on purpose. */
const failures: ProcessorDefinition = {
  name: 'poison-detector',
  delivery: 'external',
  filter: { streamTypes: ['Cart'], eventTypes: ['CartOpened'] },
  maxAttempts: 2,
  async handle(events) {
    for (const event of events) if (event.streamId.startsWith('poison-') && !cured.has(event.streamId)) throw new Error(`refusing ${event.streamId}`);
  },
};
const cured = new Set<string>();

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer({
    modules: modules.map((m) => (m === cartModule ? { ...cartModule, processors: [slowedProductSales] } : m)),
    coreProcessors: [failures],
    // Checkpoints over events a processor does not match are written only once a minute: queries must not wait for them.
    config: { readYourWritesTimeoutMs: 2000, processors: { backoffMs: 5, backoffMaxMs: 20, takeoverIntervalMs: 100, idleCheckpointIntervalMs: 60_000 } },
  });
});
afterAll(async () => {
  gate.open();
  await server?.close();
});

const OPEN = `mutation($input: OpenCartInput!) { openCart(input: $input) { __typename ... on OpenCartSuccess { position } ... on Error { code message } } }`;
const ADD = `mutation($input: AddItemToCartInput!) { addItemToCart(input: $input) { __typename ... on Error { code message } } }`;
const CHECKOUT = `mutation($input: CheckoutCartInput!) { checkoutCart(input: $input) { __typename ... on CheckoutCartSuccess { position } ... on Error { code message } } }`;
const SALES = `query($consistentWith: String, $sku: String) {
  productSales(consistentWith: $consistentWith, sku: $sku) {
    __typename
    ... on ProductSales { items { sku name unitsSold revenue { amount currency } carts } }
    ... on StaleReadError { code readModel position waitedMs }
    ... on Error { code message }
  }
}`;
const PROCESSORS = `{ processors { __typename
  ... on Processors { items { name status delivery readModel position lag { events seconds } parkedCount
    parked(includeResolved: true) { eventId status attempts error position event { streamId type } } } }
  ... on Error { code message } } }`;

async function sell(cartId: string, lines: readonly { sku: string; unitPrice: number; quantity: number }[]): Promise<string> {
  expect((await server.gql(OPEN, { input: { cartId, customerId: 'shopper' } })).data.openCart.__typename).toBe('OpenCartSuccess');
  for (const line of lines) {
    const added = await server.gql(ADD, { input: { cartId, sku: line.sku, name: `Product ${line.sku}`, unitPrice: { amount: line.unitPrice, currency: 'EUR' }, quantity: line.quantity } });
    expect(added.data.addItemToCart.__typename).toBe('AddItemToCartSuccess');
  }
  const checkedOut = await server.gql(CHECKOUT, { input: { cartId } });
  expect(checkedOut.data.checkoutCart.__typename).toBe('CheckoutCartSuccess');
  return checkedOut.data.checkoutCart.position as string;
}

const processor = async (name: string) => ((await server.gql(PROCESSORS)).data.processors.items as any[]).find((p) => p.name === name);

describe('product sales, an asynchronous read model', () => {
  it('a query passing the checkout\'s position waits for the slowed processor and sees the checkout', async () => {
    gate.close();
    const position = await sell('sales-1', [
      { sku: 'TEA', unitPrice: 450, quantity: 3 },
      { sku: 'MUG', unitPrice: 900, quantity: 1 },
    ]);
    // Without the position the answer is at once, and the checkout is not in it yet.
    expect((await server.gql(SALES, { sku: 'TEA' })).data.productSales).toEqual({ __typename: 'ProductSales', items: [] });
    const answer = server.gql(SALES, { consistentWith: position, sku: 'TEA' });
    await until(async () => server.app.processors.waiting === 1, 'the query waits for product sales');
    gate.open();
    expect((await answer).data.productSales).toEqual({
      __typename: 'ProductSales',
      items: [{ sku: 'TEA', name: 'Product TEA', unitsSold: 3, revenue: { amount: 1350, currency: 'EUR' }, carts: 1 }],
    });
  });

  it('a query whose read model does not catch up in time gets a StaleReadError with where the processor is', async () => {
    gate.close();
    const position = await sell('sales-2', [{ sku: 'TEA', unitPrice: 450, quantity: 1 }]);
    const answer = (await server.gql(SALES, { consistentWith: position })).data.productSales;
    expect(answer).toMatchObject({ __typename: 'StaleReadError', code: 'STALE_READ', readModel: 'productSales', waitedMs: 2000 });
    expect(answer.position).not.toBe(position);
    gate.open();
    expect((await server.gql(SALES, { consistentWith: position, sku: 'TEA' })).data.productSales.items[0]).toMatchObject({ unitsSold: 4, carts: 2 });
  });

  it('a query passing the position of a command product sales does not handle answers at once', async () => {
    const cartId = 'sales-browsing';
    expect((await server.gql(OPEN, { input: { cartId, customerId: 'shopper' } })).data.openCart.__typename).toBe('OpenCartSuccess');
    const added = await server.gql(`mutation($input: AddItemToCartInput!) { addItemToCart(input: $input) { __typename ... on AddItemToCartSuccess { position } } }`, {
      input: { cartId, sku: 'TEA', name: 'Product TEA', unitPrice: { amount: 450, currency: 'EUR' }, quantity: 1 },
    });
    // Its checkpoint is not written for the add (not for a minute), and the wait is 2 s: a StaleReadError if it waited for it.
    const answer = (await server.gql(SALES, { consistentWith: added.data.addItemToCart.position, sku: 'TEA' })).data.productSales;
    expect(answer).toMatchObject({ __typename: 'ProductSales', items: [{ sku: 'TEA', unitsSold: 4 }] });
  });

  it('a malformed position is a ValidationError', async () => {
    expect((await server.gql(SALES, { consistentWith: 'not-a-position' })).data.productSales).toMatchObject({ __typename: 'ValidationError', code: 'VALIDATION' });
  });

  it('a reset rebuilds the read model to the same rows', async () => {
    const position = await sell('sales-3', [{ sku: 'MUG', unitPrice: 900, quantity: 2 }]);
    const before = (await server.gql(SALES, { consistentWith: position })).data.productSales.items;
    expect(before.length).toBeGreaterThan(0);
    const reset = await server.gql(`mutation { resetProcessor(input: { processor: "cart-product-sales" }) { __typename ... on ResetProcessorSuccess { processor { name position } } ... on Error { code } } }`);
    expect(reset.data.resetProcessor).toEqual({ __typename: 'ResetProcessorSuccess', processor: { name: 'cart-product-sales', position: '0_0' } });
    await until(async () => (await processor('cart-product-sales')).lag.events === 0, 'the rebuild caught up');
    expect((await server.gql(SALES, { consistentWith: position })).data.productSales.items).toEqual(before);
  });

  it('customers may not read product sales', async () => {
    const customer = `Bearer ${await tokenFor('shopper', ['customer'])}`;
    expect((await server.gql(SALES, {}, { authorization: customer })).data.productSales).toMatchObject({ __typename: 'ForbiddenError' });
    expect((await server.gql(SALES, {}, { authorization: '' })).data.productSales).toMatchObject({ __typename: 'UnauthenticatedError' });
  });
});

describe('the processors admin API', () => {
  it('lists each processor with its status, position, lag and parked events', async () => {
    const sales = await processor('cart-product-sales');
    expect(sales).toMatchObject({ status: 'RUNNING', delivery: 'TRANSACTIONAL', readModel: 'productSales', parkedCount: 0 });
    expect(typeof sales.position).toBe('string');
  });

  it('a parked event is retried through the API and resolves once the handler works', async () => {
    await server.gql(OPEN, { input: { cartId: 'poison-1', customerId: 'shopper' } });
    await until(async () => (await processor('poison-detector')).parkedCount === 1, 'the event parked');
    const [parked] = (await processor('poison-detector')).parked;
    expect(parked).toMatchObject({ status: 'PARKED', attempts: 2, error: 'Error: refusing poison-1', event: { streamId: 'poison-1', type: 'CartOpened' } });
    cured.add('poison-1');
    const retried = await server.gql(`mutation($input: ParkedEventInput!) { retryParkedEvent(input: $input) { __typename ... on RetryParkedEventSuccess { parkedEvent { status } } ... on Error { code } } }`, {
      input: { processor: 'poison-detector', eventId: parked.eventId },
    });
    expect(retried.data.retryParkedEvent).toEqual({ __typename: 'RetryParkedEventSuccess', parkedEvent: { status: 'RETRYING' } });
    await until(async () => (await processor('poison-detector')).parked[0].status === 'RESOLVED', 'the retry handled it');
    expect((await processor('poison-detector')).parkedCount).toBe(0);
  });

  it('a parked event is skipped through the API; skipping it again is a NotFoundError', async () => {
    await server.gql(OPEN, { input: { cartId: 'poison-2', customerId: 'shopper' } });
    await until(async () => (await processor('poison-detector')).parkedCount === 1, 'the event parked');
    const parked = (await processor('poison-detector')).parked.find((p: any) => p.status === 'PARKED');
    const SKIP = `mutation($input: ParkedEventInput!) { skipParkedEvent(input: $input) { __typename ... on SkipParkedEventSuccess { parkedEvent { status } } ... on Error { code } } }`;
    const input = { processor: 'poison-detector', eventId: parked.eventId };
    expect((await server.gql(SKIP, { input })).data.skipParkedEvent).toEqual({ __typename: 'SkipParkedEventSuccess', parkedEvent: { status: 'SKIPPED' } });
    expect((await server.gql(SKIP, { input })).data.skipParkedEvent).toEqual({ __typename: 'NotFoundError', code: 'NOT_FOUND' });
    expect((await processor('poison-detector')).parkedCount).toBe(0);
  });

  it('refuses non-administrators, over the query and every mutation', async () => {
    const support = `Bearer ${await tokenFor('sam', ['support'])}`;
    expect((await server.gql(PROCESSORS, {}, { authorization: support })).data.processors).toMatchObject({ __typename: 'ForbiddenError', code: 'FORBIDDEN' });
    expect((await server.gql(PROCESSORS, {}, { authorization: '' })).data.processors).toMatchObject({ __typename: 'UnauthenticatedError' });
    const reset = await server.gql(`mutation { resetProcessor(input: { processor: "cart-product-sales" }) { __typename } }`, {}, { authorization: support });
    expect(reset.data.resetProcessor).toEqual({ __typename: 'ForbiddenError' });
    const input = { processor: 'poison-detector', eventId: '00000000-0000-7000-8000-000000000000' };
    for (const field of ['retryParkedEvent', 'skipParkedEvent']) {
      const refused = await server.gql(`mutation($input: ParkedEventInput!) { ${field}(input: $input) { __typename } }`, { input }, { authorization: support });
      expect(refused.data[field]).toEqual({ __typename: 'ForbiddenError' });
    }
    // Nothing was reset.
    const [row] = await query<{ n: number }>(server.app.orm.em.fork(), `select count(*)::int as n from product_sales`);
    expect(row!.n).toBeGreaterThan(0);
  });

  it('a reset to a position that is no event\'s is a ValidationError', async () => {
    const reset = await server.gql(`mutation { resetProcessor(input: { processor: "cart-product-sales", to: "zz_zz" }) { __typename ... on Error { code } } }`);
    expect(reset.data.resetProcessor).toEqual({ __typename: 'ValidationError', code: 'VALIDATION' });
  });

  it('/metrics has each processor\'s lag and failures', async () => {
    const text = await (await fetch(server.url.replace(/\/graphql$/, '/metrics'))).text();
    expect(text).toMatch(/processor_lag_events\{processor="cart-product-sales"\} \d+/);
    expect(text).toMatch(/processor_lag_seconds\{processor="cart-product-sales"\} [\d.]+/);
    expect(text).toMatch(/processor_failures_total\{processor="poison-detector"\} [1-9]\d*/);
    expect(text).toMatch(/processor_parked_total\{processor="poison-detector"\} [1-9]/);
    expect(text).toMatch(/processor_read_your_writes_waiting 0/);
  });
});
