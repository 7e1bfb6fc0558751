import { appUpcasters } from './support/commands.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { uuidv7 } from '../src/core/ids.ts';
import type { RecordedEvent } from '../src/core/message.ts';
import { openOrm, type Orm } from '../src/db/orm.ts';
import { appendToStream } from '../src/eventStore/log/append.ts';
import { readLog } from '../src/eventStore/log/read.ts';
import { decodePosition, LOG_START } from '../src/eventStore/log/position.ts';
import { compose } from '../src/app/composition.ts';
import { modules } from '../src/app/modules.ts';
import { collect, startTestServer, type TestServer } from './support/server.ts';
import { terminateFeedConnection } from './support/database.ts';

const { orm: ormSchema } = compose(modules);

let server: TestServer;
let orm: Orm;
beforeAll(async () => {
  server = await startTestServer();
  orm = await openOrm({ url: server.database.url, poolSize: 4, ...ormSchema });
});
afterAll(async () => {
  await orm?.close();
  await server?.close();
});

type FeedEvent = { id: string; position: string; streamId: string; streamType: string; version: number; type: string };
const EVENTS = `subscription Events($after: String, $filter: EventFilter) {
  events(after: $after, filter: $filter) { id: eventId position streamId streamType version type }
}`;
const OPEN = `mutation Open($input: OpenCartInput!) {
  openCart(input: $input) { __typename ... on OpenCartSuccess { position events { id: eventId position } } ... on Error { message } }
}`;
const ADD = `mutation Add($input: AddItemToCartInput!) {
  addItemToCart(input: $input) { __typename ... on AddItemToCartSuccess { position } ... on Error { message code } }
}`;
const CHECKOUT = `mutation Checkout($input: CheckoutCartInput!) { checkoutCart(input: $input) { __typename } }`;
const item = (cartId: string, sku = 'TEA', quantity = 1) => ({ cartId, sku, name: 'Green tea', unitPrice: { amount: 450, currency: 'EUR' }, quantity });

async function openCart(cartId: string): Promise<string> {
  const result = await server.gql(OPEN, { input: { cartId, customerId: 'feed-tests' } });
  expect(result.data?.openCart.__typename, JSON.stringify(result)).toBe('OpenCartSuccess');
  return result.data.openCart.position as string;
}

async function addItem(cartId: string, sku?: string, quantity?: number): Promise<string> {
  const result = await server.gql(ADD, { input: item(cartId, sku, quantity) });
  expect(result.data?.addItemToCart.__typename, JSON.stringify(result)).toBe('AddItemToCartSuccess');
  return result.data.addItemToCart.position as string;
}

/** The log after `after`, in the order history reports it, straight from the database. */
async function history(after?: string): Promise<RecordedEvent[]> {
  return (await readLog(orm.em.fork(), appUpcasters, { after: after ? decodePosition(after) : LOG_START, limit: 100_000 })).events;
}

const eventsOf = (messages: { events: FeedEvent }[]) => messages.map((m) => m.events);

describe('Subscription.events over graphql-ws', () => {
  it('holds events back behind an open transaction, reports the lag, then delivers the late commit first, once', async () => {
    const start = await openCart('ooo-start');
    const live = collect<{ events: FeedEvent }>(server.wsClient(), EVENTS, { after: start });

    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let appended!: () => void;
    const lateAppended = new Promise<void>((resolve) => (appended = resolve));
    let lateEvent: RecordedEvent | undefined;
    const late = orm.em.fork().transactional(async (tx) => {
      [lateEvent] = await appendToStream(tx, {
        streamId: 'ooo-late', streamType: 'Cart', expectedVersion: 0, recordedAt: new Date(),
        events: [{ id: uuidv7(), type: 'CartOpened', data: { cartId: 'ooo-late', customerId: 'late' }, metadata: {} }],
      });
      appended();
      await gate;
    });
    try {
      await lateAppended;
      await openCart('ooo-early-1');
      await openCart('ooo-early-2');

      const health = await (await fetch(server.url.replace('/graphql', '/health'))).json();
      expect(health).toMatchObject({ status: 'ok', feed: { connected: true, subscribers: 1 } });
      expect(health.feed.eventsHeldBack).toBe(2);
      expect(health.feed.oldestOpenTransaction).toMatchObject({ ageSeconds: expect.any(Number) });
      const metrics = await (await fetch(server.url.replace('/graphql', '/metrics'))).text();
      expect(metrics).toContain('# TYPE eventfeed_events_held_back gauge');
      expect(metrics).toMatch(/^eventfeed_events_held_back 2$/m);
      expect(metrics).toMatch(/^eventfeed_oldest_transaction_age_seconds [\d.e+-]+$/m);
      expect(metrics).toMatch(/^eventfeed_subscriptions 1$/m);
    } finally {
      release();
      await late;
    }

    await live.waitFor(3);
    const delivered = eventsOf(live.received);
    expect(delivered.map((e) => e.streamId)).toEqual(['ooo-late', 'ooo-early-1', 'ooo-early-2']);
    expect(delivered[0]!.id).toBe(lateEvent!.id);
    const logged = await history(start);
    expect(delivered.map((e) => e.id)).toEqual(logged.map((e) => e.id));
    // The late event took the lowest sequence value: a reader polling `position > last` would have skipped it.
    expect(logged[0]!.globalPosition).toBeLessThan(logged[1]!.globalPosition);

    const replay = collect<{ events: FeedEvent }>(server.wsClient(), EVENTS, { after: start });
    await replay.waitFor(3);
    expect(eventsOf(replay.received).map((e) => e.id)).toEqual(logged.map((e) => e.id));
    expect([...live.errors, ...replay.errors]).toEqual([]);
    live.unsubscribe();
    replay.unsubscribe();
  });

  it('gives many subscribers, one of them reconnecting mid-way, exactly the history while many writers append concurrently', async () => {
    const carts = Array.from({ length: 12 }, (_, i) => `busy-${i}`);
    const start = await openCart('busy-start');
    const steady = [0, 1].map(() => collect<{ events: FeedEvent }>(server.wsClient(), EVENTS, { after: start }));
    const firstClient = server.wsClient();
    const firstLeg = collect<{ events: FeedEvent }>(firstClient, EVENTS, { after: start });

    const writers = (async () => {
      await Promise.all(carts.map((cart) => openCart(cart)));
      await Promise.all(
        Array.from({ length: 8 }, async (_, writer) => {
          for (let round = 0; round < 12; round++) await addItem(carts[(writer * 5 + round) % carts.length]!, `SKU-${writer}`);
        }),
      );
    })();

    // One subscriber drops its connection mid-way and resumes after the last position it received.
    await firstLeg.waitFor(30, 30_000);
    // Messages in flight still arrive until the socket has closed; the last of them is where to resume.
    const closed = new Promise((resolve) => firstClient.on('closed', resolve));
    await firstClient.dispose();
    await closed;
    const resumeAfter = eventsOf(firstLeg.received).at(-1)!.position;
    const secondLeg = collect<{ events: FeedEvent }>(server.wsClient(), EVENTS, { after: resumeAfter });
    await writers;

    const logged = await history(start);
    expect(logged).toHaveLength(12 + 8 * 12);
    const expected = logged.map((e) => e.id);
    for (const subscriber of steady) await subscriber.waitFor(expected.length, 30_000);
    const resumedCount = expected.length - expected.indexOf(eventsOf(firstLeg.received).at(-1)!.id) - 1;
    await secondLeg.waitFor(resumedCount, 30_000);

    const resumed = [...eventsOf(firstLeg.received), ...eventsOf(secondLeg.received)];
    for (const events of [...steady.map((s) => eventsOf(s.received)), resumed]) {
      expect(events.map((e) => e.id)).toEqual(expected);
      for (const cart of carts) {
        const versions = events.filter((e) => e.streamId === cart).map((e) => e.version);
        expect(versions).toEqual(versions.map((_, i) => i + 1));
      }
    }
    expect([...steady, firstLeg, secondLeg].flatMap((s) => s.errors)).toEqual([]);
    for (const subscriber of [...steady, secondLeg]) subscriber.unsubscribe();
  });

  it('filters by stream, by stream type and by event types', async () => {
    const start = await openCart('filter-a');
    const byStream = collect<{ events: FeedEvent }>(server.wsClient(), EVENTS, { after: start, filter: { streamId: 'filter-b' } });
    const byType = collect<{ events: FeedEvent }>(server.wsClient(), EVENTS, { after: start, filter: { streamType: 'Cart' } });
    const byOtherType = collect<{ events: FeedEvent }>(server.wsClient(), EVENTS, { after: start, filter: { streamType: 'Nothing' } });
    const byEventTypes = collect<{ events: FeedEvent }>(server.wsClient(), EVENTS, { after: start, filter: { types: ['CartItemAdded', 'CartCheckedOut'] } });
    await openCart('filter-b');
    await addItem('filter-a');
    await addItem('filter-b');
    await server.gql(CHECKOUT, { input: { cartId: 'filter-b' } });

    await byStream.waitFor(3);
    expect(eventsOf(byStream.received).map((e) => [e.streamId, e.type])).toEqual([
      ['filter-b', 'CartOpened'],
      ['filter-b', 'CartItemAdded'],
      ['filter-b', 'CartCheckedOut'],
    ]);
    await byType.waitFor(4);
    expect(eventsOf(byType.received).map((e) => e.type)).toEqual(['CartOpened', 'CartItemAdded', 'CartItemAdded', 'CartCheckedOut']);
    await byEventTypes.waitFor(3);
    expect(eventsOf(byEventTypes.received).map((e) => [e.streamId, e.type])).toEqual([
      ['filter-a', 'CartItemAdded'],
      ['filter-b', 'CartItemAdded'],
      ['filter-b', 'CartCheckedOut'],
    ]);
    expect(byOtherType.received).toEqual([]);
    // Nothing further was waiting for the exact-count subscribers either.
    expect(byStream.received).toHaveLength(3);
    expect(byEventTypes.received).toHaveLength(3);
    for (const s of [byStream, byType, byOtherType, byEventTypes]) s.unsubscribe();
  });

  it('ends subscriptions with FEED_CLOSED and the position to resume after when the database connection is lost', async () => {
    const start = await openCart('closed-1');
    const subscription = collect<{ events: FeedEvent }>(server.wsClient(), EVENTS, { after: start, filter: { streamType: 'Cart' } });
    const added = await addItem('closed-1');
    await subscription.waitFor(1);

    await terminateFeedConnection(server.database.url);
    await expect.poll(() => subscription.errors.length).toBeGreaterThan(0);
    expect(subscription.errors).toEqual([
      [expect.objectContaining({ message: expect.stringContaining('resubscribe'), extensions: { code: 'FEED_CLOSED', resumeAfter: added } })],
    ]);

    const missed = await addItem('closed-1', 'MISSED');
    await expect.poll(() => server.app.feed.connected, { timeout: 10_000 }).toBe(true);
    const resumed = collect<{ events: FeedEvent }>(server.wsClient(), EVENTS, { after: added, filter: { streamType: 'Cart' } });
    await resumed.waitFor(1);
    expect(eventsOf(resumed.received).map((e) => e.position)).toEqual([missed]);
    resumed.unsubscribe();
  });
});

type CartMessage = { cart: null | { id: string; version: number; status: string; itemCount: number; total: { amount: number } | null } };
const CART = `subscription Cart($id: ID!) { cart(id: $id) { id: cartId version status itemCount total { amount } } }`;

describe('Subscription.cart', () => {
  it('starts with the current cart, then pushes the cart after each change', async () => {
    await openCart('live-cart');
    await addItem('live-cart', 'TEA', 2);
    const updates = collect<CartMessage>(server.wsClient(), CART, { id: 'live-cart' });
    await updates.waitFor(1);
    expect(updates.received[0]!.cart).toMatchObject({ id: 'live-cart', version: 2, itemCount: 2, total: { amount: 900 } });

    await addItem('live-cart', 'TEA', 1);
    await openCart('live-cart-neighbour'); // changes to other carts are not pushed
    await server.gql(CHECKOUT, { input: { cartId: 'live-cart' } });
    await updates.waitFor(3);
    expect(updates.received.map((m) => m.cart)).toEqual([
      { id: 'live-cart', version: 2, status: 'OPEN', itemCount: 2, total: { amount: 900 } },
      { id: 'live-cart', version: 3, status: 'OPEN', itemCount: 3, total: { amount: 1350 } },
      { id: 'live-cart', version: 4, status: 'CHECKED_OUT', itemCount: 3, total: { amount: 1350 } },
    ]);
    // The pushed states are the projection's: the query agrees with the last one.
    const queried = await server.gql(`query($id: ID!) { cart(id: $id) { id: cartId version status itemCount total { amount } } }`, { id: 'live-cart' });
    expect(queried.data.cart).toEqual(updates.received.at(-1)!.cart);
    expect(updates.errors).toEqual([]);
    updates.unsubscribe();
  });

  it('sends null for a cart that does not exist yet, then the cart once it is opened', async () => {
    const updates = collect<CartMessage>(server.wsClient(), CART, { id: 'future-cart' });
    await updates.waitFor(1);
    expect(updates.received[0]!.cart).toBeNull();
    await openCart('future-cart');
    await addItem('future-cart');
    await updates.waitFor(3);
    expect(updates.received.map((m) => m.cart && [m.cart.version, m.cart.itemCount])).toEqual([null, [1, 0], [2, 1]]);
    updates.unsubscribe();
  });
});
