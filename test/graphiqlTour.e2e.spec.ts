import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type OperationDefinitionNode, parse } from 'graphql';
import { compose } from '../src/app/composition.ts';
import { modules } from '../src/app/modules.ts';

const { graphiqlTabs } = compose(modules);
import { adminToken } from './support/auth.ts';
import { collect, startTestServer, type TestServer } from './support/server.ts';

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => server?.close());

const operationOf = (query: string) => parse(query).definitions.find((d): d is OperationDefinitionNode => d.kind === 'OperationDefinition')!;

type LiveEvent = { events: { type: string; streamId: string; version: number } };

describe('the GraphiQL tour, run tab after tab as a new user would', () => {
  it('every tab runs as it is, on a fresh database, each one using what the tabs before it made', async () => {
    const results: Record<string, any> = {};
    let live: ReturnType<typeof collect<LiveEvent>> | undefined;
    const run = async (tab: (typeof graphiqlTabs)[number]) => {
      const operation = operationOf(tab.query);
      const name = operation.name!.value;
      const variables = tab.variables === undefined ? undefined : (JSON.parse(tab.variables) as Record<string, unknown>);
      if (operation.operation === 'subscription') {
        const subscribers = server.app.feed.subscriberCount;
        live = collect<LiveEvent>(server.wsClient(), tab.query, variables);
        await expect.poll(() => server.app.feed.subscriberCount, { timeout: 10_000 }).toBe(subscribers + 1);
        return;
      }
      const result = await fetch(server.url, {
        method: 'POST',
        // The headers GraphiQL opens with (its WebSocket sends the same token: server.wsClient's default).
        headers: { 'content-type': 'application/json', authorization: `Bearer ${adminToken}` },
        body: JSON.stringify({ query: tab.query, variables, operationName: name }),
      }).then((response) => response.json() as Promise<{ data?: Record<string, any>; errors?: unknown[] }>);
      expect(result.errors, `${name}: ${JSON.stringify(result.errors)}`).toBeUndefined();
      const [field, value] = Object.entries(result.data!)[0]!;
      if (operation.operation === 'mutation') expect(value.__typename, `${name}: ${JSON.stringify(value)}`).toMatch(/Success$/);
      else expect(value, `${name}.${field}`).not.toBeNull();
      results[name] = result.data;
    };

    for (const tab of graphiqlTabs) await run(tab);

    // The tabs chain through their fixed ids: the cart the first one opened is the one the others see.
    expect(results.OpenCart.openCart.cart).toMatchObject({ cartId: 'cart-1', version: 1 });
    expect(results.AddItemToCart.addItemToCart.cart).toMatchObject({ itemCount: 2, version: 2 });
    expect(results.RemoveItemFromCart.removeItemFromCart.cart).toMatchObject({ itemCount: 1, version: 3 });
    expect(results.Carts.carts.edges.map((edge: any) => edge.node.cartId)).toContain('cart-1');
    expect(results.StreamHistory.stream).toMatchObject({ streamId: 'cart-1', type: 'Cart', version: 3 });
    expect(results.CartAsOfVersion.past).toMatchObject({ cartId: 'cart-1', version: 2, itemCount: 2 });
    expect(results.CartAsOfVersion.now).toMatchObject({ cartId: 'cart-1', version: 3, itemCount: 1 });
    expect(results.CheckoutCart.checkoutCart).toMatchObject({ __typename: 'CheckoutCartSuccess', cart: { status: 'CHECKED_OUT', total: { amount: 1950, currency: 'EUR' } } });
    // The ProductSales tab as its comment says to run it: with the checkout's position pasted in, it waits for the checkout.
    const productSales = graphiqlTabs.find((tab) => operationOf(tab.query).name?.value === 'ProductSales')!;
    const consistent = await server.gql(productSales.query, { position: results.CheckoutCart.checkoutCart.position });
    expect(consistent.data!.productSales).toEqual({
      __typename: 'ProductSales',
      items: [{ sku: 'TEA', name: 'Green tea', unitsSold: 3, revenue: { amount: 1950, currency: 'EUR' }, carts: 1 }],
    });
    expect(results.IncrementCounter.incrementCounter.counter).toMatchObject({ counterId: 'visits', value: 5 });
    expect(results.DecrementCounter.decrementCounter.counter).toMatchObject({ counterId: 'visits', value: 3 });

    // The live tab says: run AddItemToCart again. It pushes that event, after what the tabs since did to the cart.
    await run(graphiqlTabs.find((tab) => operationOf(tab.query).name?.value === 'AddItemToCart')!);
    // cart-2's three events (CheckoutCart's tab) come between.
    await live!.waitFor(5);
    expect(live!.errors).toEqual([]);
    expect(live!.received.map((message) => [message.events.type, message.events.streamId, message.events.version])).toEqual([
      ['CartItemRemoved', 'cart-1', 3],
      ['CartOpened', 'cart-2', 1],
      ['CartItemAdded', 'cart-2', 2],
      ['CartCheckedOut', 'cart-2', 3],
      ['CartItemAdded', 'cart-1', 4],
    ]);
    live!.unsubscribe();
  });
});
