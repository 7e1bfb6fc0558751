import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compose } from '../src/app/composition.ts';
import { modules } from '../src/app/modules.ts';
import { readStreamState } from '../src/eventStore/commands/streamState.ts';
import { cartDecider, type CartState } from '../src/modules/cart/cart.ts';
import { collect, startTestServer, type TestServer } from './support/server.ts';

/**
 * A log written by a release from before CartItemAdded's schema version 2, read by this one. The
 * rows go straight into the tables, as that release wrote them: version-1 payloads (`name`, not
 * `productName`) with schemaVersion 1 in their metadata, and its cart row beside them.
 */
let server: TestServer;
let db: pg.Client;
const { upcasters } = compose(modules);
const cartId = 'cart-from-last-year';
const openedAt = new Date('2025-11-20T10:00:00Z');

async function writeAsTheOldRelease(version: number, type: string, data: object): Promise<string> {
  const { rows } = await db.query<{ event_id: string }>(
    `insert into events (event_id, stream_id, stream_type, stream_version, event_type, data, metadata, recorded_at)
     values (gen_random_uuid(), $1, 'Cart', $2, $3, $4, $5, $6) returning event_id`,
    [cartId, version, type, data, { correlationId: 'old-release', actor: 'alice', commandName: 'Old', schemaVersion: 1, readers: ['sub:alice', 'role:support'] }, new Date(openedAt.getTime() + version * 60_000)],
  );
  return rows[0]!.event_id;
}

beforeAll(async () => {
  server = await startTestServer();
  db = new pg.Client({ connectionString: server.database.url });
  await db.connect();
  await writeAsTheOldRelease(1, 'CartOpened', { cartId, customerId: 'alice' });
  await writeAsTheOldRelease(2, 'CartItemAdded', { sku: 'COFFEE', name: 'Coffee beans', unitPrice: { amount: 1299, currency: 'EUR' }, quantity: 2 });
  // The old release's inline projection wrote its row in the same transaction as its events.
  await db.query(
    `insert into carts (id, customer_id, status, currency, lines, item_count, total, version, opened_at, updated_at)
     values ($1, 'alice', 'OPEN', 'EUR', $2, 2, 2598, 2, $3, $4)`,
    [cartId, JSON.stringify([{ sku: 'COFFEE', name: 'Coffee beans', unitPrice: 1299, quantity: 2, lineTotal: 2598 }]), openedAt, new Date(openedAt.getTime() + 120_000)],
  );
  await db.query(`insert into stream_readers (stream_id, reader) values ($1, 'sub:alice'), ($1, 'role:support')`, [cartId]);
});
afterAll(async () => {
  await db?.end();
  await server?.close();
});

const ITEM_FIELDS = `... on CartItemAdded { sku productName unitPrice { amount currency } quantity }`;
const EVENT_FIELDS = `type version data metadata { schemaVersion storedSchemaVersion } ${ITEM_FIELDS}`;
const currentItem = { type: 'CartItemAdded', version: 2, sku: 'COFFEE', productName: 'Coffee beans', unitPrice: { amount: 1299, currency: 'EUR' }, quantity: 2 };
const currentData = { sku: 'COFFEE', productName: 'Coffee beans', unitPrice: { amount: 1299, currency: 'EUR' }, quantity: 2 };

describe('events an older release wrote, read by this one', () => {
  it('fold into a command state with the current payload', async () => {
    const { state } = await readStreamState({ em: server.app.orm.em.fork(), upcasters }, cartDecider, cartId);
    expect(state).toEqual<CartState>({
      status: 'Open', id: cartId, customerId: 'alice',
      lines: { COFFEE: { sku: 'COFFEE', name: 'Coffee beans', unitPrice: { amount: 1299, currency: 'EUR' }, quantity: 2 } },
    });
  });

  it('show in history, event(id) and stream(id) in the current shape, described by the GraphQL type', async () => {
    const history = await server.gql(`{ events(filter: { streamId: "${cartId}" }) { edges { node { id: eventId ${EVENT_FIELDS} } } } }`);
    expect(history.errors).toBeUndefined();
    const [, { node: item }] = history.data.events.edges;
    expect(item).toMatchObject({ ...currentItem, data: currentData, metadata: { schemaVersion: 2, storedSchemaVersion: 1 } });
    expect(item.data).not.toHaveProperty('name');

    const single = await server.gql(`{ event(id: "${item.id}") { ${EVENT_FIELDS} } }`);
    expect(single.data.event).toMatchObject({ ...currentItem, data: currentData });

    const stream = await server.gql(`{ stream(id: "${cartId}") { version events { edges { node { ${EVENT_FIELDS} } } } } }`);
    expect(stream.data.stream.version).toBe(2);
    expect(stream.data.stream.events.edges[1].node).toMatchObject({ ...currentItem, data: currentData });
  });

  it('show in history in the current shape when the page asks for no metadata, through fragments and aliases too', async () => {
    // Such a page reads the events without their metadata column; the upcast must not need it.
    const light = await server.gql(
      `query { events(filter: { streamId: "${cartId}" }) { ...Page } }
       fragment Page on EventConnection { edges { node { ...Light ... on CartItemAdded { payload: data } } } }
       fragment Light on Event { id: eventId kind: type version data }`,
    );
    expect(light.errors).toBeUndefined();
    const [, { node: item }] = light.data.events.edges;
    expect(item).toEqual({ id: expect.any(String), kind: 'CartItemAdded', version: 2, data: currentData, payload: currentData });

    // A field of the event type's own, or metadata under a fragment on one type, reads the whole event.
    const full = await server.gql(
      `{ events(filter: { streamId: "${cartId}" }) { edges { node { data ... on CartItemAdded { productName meta: metadata { correlationId storedSchemaVersion } } } } } }`,
    );
    expect(full.errors).toBeUndefined();
    expect(full.data.events.edges[1].node).toEqual({ data: currentData, productName: 'Coffee beans', meta: { correlationId: 'old-release', storedSchemaVersion: 1 } });

    const stream = await server.gql(`{ stream(id: "${cartId}") { events { edges { cursor node { type data } } } } }`);
    expect(stream.data.stream.events.edges[1].node).toEqual({ type: 'CartItemAdded', data: currentData });
  });

  it('rebuild the cart as of an old version with the projection’s current code', async () => {
    const past = await server.gql(`{ cart(id: "${cartId}", asOf: { version: 2 }) { version itemCount lines { sku name quantity } } }`);
    expect(past.errors).toBeUndefined();
    expect(past.data.cart).toEqual({ version: 2, itemCount: 2, lines: [{ sku: 'COFFEE', name: 'Coffee beans', quantity: 2 }] });
  });

  it('reach live subscribers in the current shape, in catch-up and live alike', async () => {
    const feed = collect<{ events: any }>(server.wsClient(), `subscription { events(after: "0_0", filter: { streamId: "${cartId}" }) { ${EVENT_FIELDS} } }`);
    await feed.waitFor(2);
    // One more event from the old release (a rolling deploy: an old instance still writing) arrives live.
    await writeAsTheOldRelease(3, 'CartItemAdded', { sku: 'TEA', name: 'Green tea', unitPrice: { amount: 450, currency: 'EUR' }, quantity: 1 });
    await feed.waitFor(3);
    expect(feed.errors).toEqual([]);
    expect(feed.received[1]!.events).toMatchObject({ ...currentItem, data: currentData });
    expect(feed.received[2]!.events).toMatchObject({ type: 'CartItemAdded', version: 3, productName: 'Green tea', data: { productName: 'Green tea' }, metadata: { schemaVersion: 2 } });
    feed.unsubscribe();
    // The old release's projection would have added the tea to its row; do as it did.
    await db.query(
      `update carts set lines = $2, item_count = 3, total = 3048, version = 3 where id = $1`,
      [cartId, JSON.stringify([{ sku: 'COFFEE', name: 'Coffee beans', unitPrice: 1299, quantity: 2, lineTotal: 2598 }, { sku: 'TEA', name: 'Green tea', unitPrice: 450, quantity: 1, lineTotal: 450 }])],
    );
  });

  it('are decided on by a new command, whose event is written at the current version beside them', async () => {
    const added = await server.gql(
      `mutation { addItemToCart(input: { cartId: "${cartId}", sku: "COFFEE", name: "Coffee beans", unitPrice: { amount: 1299, currency: "EUR" }, quantity: 1 }) {
        __typename ... on AddItemToCartSuccess { cart { version itemCount lines { sku name quantity } } events { ${EVENT_FIELDS} } } ... on Error { code message } } }`,
    );
    expect(added.data.addItemToCart).toMatchObject({
      __typename: 'AddItemToCartSuccess',
      cart: { version: 4, itemCount: 4, lines: [{ sku: 'COFFEE', name: 'Coffee beans', quantity: 3 }, { sku: 'TEA', name: 'Green tea', quantity: 1 }] },
      events: [{ type: 'CartItemAdded', version: 4, productName: 'Coffee beans', quantity: 1, metadata: { schemaVersion: 2, storedSchemaVersion: null } }],
    });
    const { rows } = await db.query(`select data, metadata->>'schemaVersion' as version from events where stream_id = $1 order by stream_version`, [cartId]);
    // Nothing stored is rewritten: the old events keep their version-1 payloads.
    expect(rows.map((row) => row.version)).toEqual(['1', '1', '1', '2']);
    expect(rows[1].data).toHaveProperty('name', 'Coffee beans');
    expect(rows[3].data).toHaveProperty('productName', 'Coffee beans');

    // A price that differs from the line the old events hold is refused: the decider saw that line.
    const refused = await server.gql(
      `mutation { addItemToCart(input: { cartId: "${cartId}", sku: "TEA", name: "Green tea", unitPrice: { amount: 999, currency: "EUR" }, quantity: 1 }) { __typename } }`,
    );
    expect(refused.data.addItemToCart.__typename).toBe('CartPriceMismatchError');
  });

  it('are what Query.eventTypes says the log holds: each type with its current version and upcast chain', async () => {
    const listed = await server.gql(`{ eventTypes { streamType type currentVersion upcasts { fromVersion toVersion } } }`);
    expect(listed.data.eventTypes).toContainEqual({ streamType: 'Cart', type: 'CartItemAdded', currentVersion: 2, upcasts: [{ fromVersion: 1, toVersion: 2 }] });
    expect(listed.data.eventTypes).toContainEqual({ streamType: 'Cart', type: 'CartOpened', currentVersion: 1, upcasts: [] });
    expect(listed.data.eventTypes.map((t: { type: string }) => t.type)).toEqual(expect.arrayContaining(['UserRegistered', 'CounterIncremented', 'CartCheckedOut']));
  });
});
