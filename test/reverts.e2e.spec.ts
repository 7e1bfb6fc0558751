import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tokenFor } from './support/auth.ts';
import { collect, startTestServer, type TestServer } from './support/server.ts';

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => server?.close());

const REVERT = `mutation Revert($input: RevertStreamInput!) {
  revertStream(input: $input) {
    __typename
    ... on RevertStreamSuccess { streamId version position event { __typename type version ... on Reverted { toVersion reason } metadata { actor correlationId commandName } } }
    ... on RevertRefusedError { streamId toVersion rule }
    ... on ValidationError { issues { path message } }
    ... on ConcurrencyError { expectedVersion actualVersion }
    ... on NotFoundError { resource id }
    ... on ForbiddenError { resource id }
    ... on Error { code message }
  }
}`;
const CART_FIELDS = 'status version itemCount total { amount } lines { sku quantity }';
const CART = `query Cart($id: ID!, $asOf: AsOf) { cart(id: $id, asOf: $asOf) { ${CART_FIELDS} } }`;
const STREAM = `query Stream($id: ID!) {
  stream(id: $id) { version events(first: 50) { edges { node { type version recordedAt metadata { actor } ... on Reverted { toVersion reason } } } } }
}`;

const revert = async (input: Record<string, unknown>, headers?: Record<string, string>) => {
  const result = await server.gql(REVERT, { input }, headers);
  expect(result.errors).toBeUndefined();
  return result.data.revertStream;
};
const cart = async (id: string, asOf?: Record<string, unknown>) => (await server.gql(CART, { id, ...(asOf ? { asOf } : {}) })).data.cart;
const streamOf = async (id: string) => (await server.gql(STREAM, { id })).data.stream;

async function command(mutation: string, input: Record<string, unknown>) {
  const name = mutation[0]!.toUpperCase() + mutation.slice(1);
  const result = await server.gql(`mutation($input: ${name}Input!) { ${mutation}(input: $input) { __typename ... on Error { code message } } }`, { input });
  expect(result.data[mutation].__typename, JSON.stringify(result)).toBe(`${name}Success`);
}
const add = (cartId: string, sku: string, quantity: number) =>
  command('addItemToCart', { cartId, sku, name: sku.toLowerCase(), unitPrice: { amount: 100, currency: 'EUR' }, quantity });

/** Opens a cart and adds COFFEE ×2, TEA ×1 and MUG ×3: versions 1 to 4. */
async function cartWithThreeItems(cartId: string, customerId = 'carol') {
  await command('openCart', { cartId, customerId });
  await add(cartId, 'COFFEE', 2);
  await add(cartId, 'TEA', 1);
  await add(cartId, 'MUG', 3);
}

describe('reverting a cart over GraphQL', () => {
  const cartId = 'e2e-revert-cart';
  let revertedAt: string;

  beforeAll(async () => {
    await cartWithThreeItems(cartId);
    server.clock.advance(60_000);
    revertedAt = server.clock.now().toISOString();
  });

  it('appends one Reverted event by the administrator, and the cart is as it was at that version', async () => {
    expect(await revert({ streamId: cartId, toVersion: 2, expectedVersion: 4, reason: 'TEA and MUG were added by mistake' }, { 'x-correlation-id': 'support-ticket-7' })).toEqual({
      __typename: 'RevertStreamSuccess',
      streamId: cartId,
      version: 5,
      position: expect.any(String),
      event: {
        __typename: 'Reverted',
        type: 'Reverted',
        version: 5,
        toVersion: 2,
        reason: 'TEA and MUG were added by mistake',
        metadata: { actor: 'test-admin', correlationId: 'support-ticket-7', commandName: 'RevertStream' },
      },
    });
    expect(await cart(cartId)).toEqual({ status: 'OPEN', version: 5, itemCount: 2, total: { amount: 200 }, lines: [{ sku: 'COFFEE', quantity: 2 }] });
  });

  it('stream(id) keeps every event and shows who reverted, when and why', async () => {
    const stream = await streamOf(cartId);
    expect(stream.version).toBe(5);
    expect(stream.events.edges.map((edge: any) => edge.node.type)).toEqual(['CartOpened', 'CartItemAdded', 'CartItemAdded', 'CartItemAdded', 'Reverted']);
    expect(stream.events.edges.at(-1).node).toEqual({ type: 'Reverted', version: 5, recordedAt: revertedAt, metadata: { actor: 'test-admin' }, toVersion: 2, reason: 'TEA and MUG were added by mistake' });
  });

  it('history lists the revert, and filters find it by type', async () => {
    const history = await server.gql(`{ events(last: 5, filter: { types: ["Reverted"], streamId: "${cartId}" }) { edges { node { type streamType version ... on Reverted { toVersion } } } } }`);
    expect(history.data.events.edges.map((edge: any) => edge.node)).toEqual([{ type: 'Reverted', streamType: 'Cart', version: 5, toVersion: 2 }]);
  });

  it('time travel shows the cart before the revert at version 4, and at version 5 what the read model holds', async () => {
    expect(await cart(cartId, { version: 4 })).toMatchObject({ version: 4, itemCount: 6 });
    expect(await cart(cartId, { version: 5 })).toEqual(await cart(cartId));
    expect(await cart(cartId, { time: revertedAt })).toEqual(await cart(cartId));
  });

  it('the next command continues from the reverted cart: TEA is gone, BEANS come in', async () => {
    const removeTea = await server.gql(`mutation { removeItemFromCart(input: { cartId: "${cartId}", sku: "TEA", quantity: 1 }) { __typename } }`);
    expect(removeTea.data.removeItemFromCart.__typename).toBe('ItemNotInCartError');
    await add(cartId, 'BEANS', 1);
    expect(await cart(cartId)).toMatchObject({ version: 6, itemCount: 3, lines: [{ sku: 'COFFEE', quantity: 2 }, { sku: 'BEANS', quantity: 1 }] });
  });

  it('a nested revert to the version of the first revert lands where that one did, and time travel agrees at every version', async () => {
    expect(await revert({ streamId: cartId, toVersion: 5, expectedVersion: 6, reason: 'BEANS too' })).toMatchObject({ __typename: 'RevertStreamSuccess', version: 7 });
    const live = await cart(cartId);
    expect(live).toEqual({ ...(await cart(cartId, { version: 5 })), version: 7 });
    expect(await cart(cartId, { version: 7 })).toEqual(live);
  });

  it('a live cart subscription pushes the reverted cart', async () => {
    const id = 'e2e-revert-live';
    await cartWithThreeItems(id);
    const live = collect<any>(server.wsClient(), `subscription($id: ID!) { cart(id: $id) { ${CART_FIELDS} } }`, { id });
    await live.waitFor(1);
    expect(await revert({ streamId: id, toVersion: 3, expectedVersion: 4, reason: 'no MUG' })).toMatchObject({ __typename: 'RevertStreamSuccess' });
    await live.waitFor(2);
    expect(live.received[1].cart).toEqual(await cart(id));
    expect(live.received[1].cart).toMatchObject({ version: 5, itemCount: 3 });
    live.unsubscribe();
  });
});

describe('a revert that is refused appends nothing', () => {
  const cartId = 'e2e-revert-refused';

  beforeAll(async () => {
    await cartWithThreeItems(cartId, 'dave');
  });

  it('to a version that does not exist, or is not earlier: a ValidationError on toVersion', async () => {
    for (const toVersion of [0, 4, 9]) {
      expect(await revert({ streamId: cartId, toVersion, expectedVersion: 4, reason: 'oops' }), `toVersion ${toVersion}`).toMatchObject({
        __typename: 'ValidationError',
        issues: [{ path: 'toVersion' }],
      });
    }
    expect((await streamOf(cartId)).version).toBe(4);
  });

  it('of a stream that does not exist: NotFoundError', async () => {
    expect(await revert({ streamId: 'e2e-no-such-stream', toVersion: 1, expectedVersion: 2, reason: 'oops' })).toMatchObject({ __typename: 'NotFoundError', resource: 'Stream', id: 'e2e-no-such-stream' });
  });

  it('without a reason: a ValidationError on reason', async () => {
    expect(await revert({ streamId: cartId, toVersion: 2, expectedVersion: 4, reason: '   ' })).toMatchObject({ __typename: 'ValidationError', issues: [{ path: 'reason' }] });
  });

  it('by anyone but an administrator: the cart’s customer is forbidden, an anonymous caller unauthenticated, a stranger learns nothing', async () => {
    const customer = { authorization: `Bearer ${await tokenFor('dave', ['customer'])}` };
    expect(await revert({ streamId: cartId, toVersion: 2, expectedVersion: 4, reason: 'mine' }, customer)).toMatchObject({ __typename: 'ForbiddenError', resource: 'Stream', id: cartId });
    expect(await revert({ streamId: 'e2e-no-such-stream', toVersion: 1, expectedVersion: 2, reason: 'probe' }, customer)).toMatchObject({ __typename: 'ForbiddenError' });
    expect(await revert({ streamId: cartId, toVersion: 2, expectedVersion: 4, reason: 'anyone' }, { authorization: '' })).toMatchObject({ __typename: 'UnauthenticatedError' });
    expect((await streamOf(cartId)).version).toBe(4);
  });

  it('when the cart changed since the version the administrator saw: ConcurrencyError, and the change stands', async () => {
    await add(cartId, 'BEANS', 1);
    expect(await revert({ streamId: cartId, toVersion: 2, expectedVersion: 4, reason: 'stale view' })).toMatchObject({ __typename: 'ConcurrencyError', expectedVersion: 4, actualVersion: 5 });
    expect(await cart(cartId)).toMatchObject({ version: 5, itemCount: 7 });
  });

  it('when a command races the revert, one of them wins and the revert never silently undoes the other', async () => {
    const id = 'e2e-revert-race';
    await cartWithThreeItems(id);
    const [reverted] = await Promise.all([revert({ streamId: id, toVersion: 2, expectedVersion: 4, reason: 'race' }), add(id, 'BEANS', 1)]);
    const stream = await streamOf(id);
    const types = stream.events.edges.map((edge: any) => edge.node.type);
    if (reverted.__typename === 'RevertStreamSuccess') {
      // The revert went first; the add was decided on the reverted cart after it.
      expect(types.slice(4)).toEqual(['Reverted', 'CartItemAdded']);
      expect(await cart(id)).toMatchObject({ version: 6, lines: [{ sku: 'COFFEE', quantity: 2 }, { sku: 'BEANS', quantity: 1 }] });
    } else {
      expect(reverted).toMatchObject({ __typename: 'ConcurrencyError', expectedVersion: 4, actualVersion: 5 });
      expect(types.slice(4)).toEqual(['CartItemAdded']);
    }
  });

  it('of a checked-out cart: RevertRefusedError with the cart’s rule', async () => {
    await command('checkoutCart', { cartId });
    expect(await revert({ streamId: cartId, toVersion: 2, expectedVersion: 6, reason: 'undo the order' })).toMatchObject({
      __typename: 'RevertRefusedError',
      code: 'REVERT_REFUSED',
      rule: 'CART_ALREADY_CHECKED_OUT',
      streamId: cartId,
      toVersion: 2,
    });
    expect((await streamOf(cartId)).version).toBe(6);
    expect(await cart(cartId)).toMatchObject({ status: 'CHECKED_OUT', version: 6 });
  });
});

describe('reverting other aggregates over GraphQL', () => {
  it('a user: the rename is taken back in the read model, time travel and history', async () => {
    await command('registerUser', { userId: 'e2e-revert-user', email: 'revert@example.com', name: 'Ada' });
    await command('renameUser', { userId: 'e2e-revert-user', name: 'Ada Lovelace' });
    await command('renameUser', { userId: 'e2e-revert-user', name: 'Wrong Name' });
    expect(await revert({ streamId: 'e2e-revert-user', toVersion: 2, expectedVersion: 3, reason: 'renamed the wrong user' })).toMatchObject({ __typename: 'RevertStreamSuccess', version: 4 });
    const USER = `query($asOf: AsOf) { user(id: "e2e-revert-user", asOf: $asOf) { name status version } }`;
    const live = (await server.gql(USER)).data.user;
    expect(live).toEqual({ name: 'Ada Lovelace', status: 'ACTIVE', version: 4 });
    expect((await server.gql(USER, { asOf: { version: 4 } })).data.user).toEqual(live);
    expect((await server.gql(USER, { asOf: { version: 3 } })).data.user).toMatchObject({ name: 'Wrong Name' });
    expect((await streamOf('e2e-revert-user')).events.edges.at(-1).node).toMatchObject({ type: 'Reverted', toVersion: 2, reason: 'renamed the wrong user' });
  });

  it('a counter, twice (nested): the value follows, and the next increment counts from it', async () => {
    for (const amount of [5, 3, 2]) await command('incrementCounter', { counterId: 'e2e-revert-counter', amount });
    expect(await revert({ streamId: 'e2e-revert-counter', toVersion: 1, expectedVersion: 3, reason: 'double count' })).toMatchObject({ version: 4 });
    await command('incrementCounter', { counterId: 'e2e-revert-counter', amount: 1 });
    expect(await revert({ streamId: 'e2e-revert-counter', toVersion: 4, expectedVersion: 5, reason: 'that one too' })).toMatchObject({ version: 6 });
    const COUNTER = `query($asOf: AsOf) { counter(id: "e2e-revert-counter", asOf: $asOf) { value version } }`;
    expect((await server.gql(COUNTER)).data.counter).toEqual({ value: 5, version: 6 });
    expect((await server.gql(COUNTER, { asOf: { version: 5 } })).data.counter).toEqual({ value: 6, version: 5 });
    expect((await server.gql(COUNTER, { asOf: { version: 6 } })).data.counter).toEqual({ value: 5, version: 6 });
    await command('incrementCounter', { counterId: 'e2e-revert-counter', amount: 10 });
    expect((await server.gql(COUNTER)).data.counter).toEqual({ value: 15, version: 7 });
  });
});
