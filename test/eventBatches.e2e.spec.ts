import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { uuidv7 } from '../src/core/ids.ts';
import { openOrm, type Orm } from '../src/db/orm.ts';
import { appendToStream } from '../src/eventStore/log/append.ts';
import { readLog } from '../src/eventStore/log/read.ts';
import { decodePosition } from '../src/eventStore/log/position.ts';
import { compose } from '../src/app/composition.ts';
import { modules } from '../src/app/modules.ts';
import { collect, startTestServer, type TestServer } from './support/server.ts';
import { until } from './support/until.ts';
import { appUpcasters } from './support/commands.ts';

const { orm: ormSchema } = compose(modules);

let server: TestServer;
let orm: Orm;
beforeAll(async () => {
  server = await startTestServer();
  orm = await openOrm({ url: server.database.url, poolSize: 2, ...ormSchema });
});
afterAll(async () => {
  await orm?.close();
  await server?.close();
});

type FeedEvent = { id: string; position: string; streamId: string; type: string };
const BATCHES = `subscription Batches($after: String, $filter: EventFilter, $size: Int) {
  eventBatches(after: $after, filter: $filter, size: $size) { id: eventId position streamId type ... on CartItemAdded { sku quantity } }
}`;
const OPEN = `mutation Open($input: OpenCartInput!) { openCart(input: $input) { __typename ... on OpenCartSuccess { position } } }`;
const ADD = `mutation Add($input: AddItemToCartInput!) { addItemToCart(input: $input) { __typename ... on AddItemToCartSuccess { position } } }`;

async function openCart(cartId: string): Promise<string> {
  const result = await server.gql(OPEN, { input: { cartId, customerId: 'batch-tests' } });
  expect(result.data?.openCart.__typename, JSON.stringify(result)).toBe('OpenCartSuccess');
  return result.data.openCart.position as string;
}

async function addItem(cartId: string, sku: string): Promise<void> {
  const result = await server.gql(ADD, { input: { cartId, sku, name: 'Green tea', unitPrice: { amount: 450, currency: 'EUR' }, quantity: 2 } });
  expect(result.data?.addItemToCart.__typename, JSON.stringify(result)).toBe('AddItemToCartSuccess');
}

/** Event ids after `after` in commit order, straight from the database. */
async function logAfter(after: string): Promise<string[]> {
  return (await readLog(orm.em.fork(), appUpcasters, { after: decodePosition(after), limit: 100_000 })).events.map((event) => event.id);
}

describe('Subscription.eventBatches over graphql-ws', () => {
  it('replays from a position and follows live, several events to a message, each once and in commit order, as Subscription.events would', async () => {
    const start = await openCart('batch-a');
    for (let i = 0; i < 24; i++) await addItem('batch-a', `sku-${i}`);
    // Two subscribers of the same operation share its per-event results; a third follows one stream.
    const all = [1, 2].map(() => collect<{ eventBatches: FeedEvent[] }>(server.wsClient(), BATCHES, { after: start, size: 10 }));
    const one = collect<{ eventBatches: FeedEvent[] }>(server.wsClient(), BATCHES, { after: start, filter: { streamId: 'batch-b' } });
    await openCart('batch-b');
    for (let i = 0; i < 12; i++) await addItem(i % 2 ? 'batch-a' : 'batch-b', `live-${i}`);

    const expected = await logAfter(start);
    expect(expected).toHaveLength(37);
    const received = (batches: { eventBatches: FeedEvent[] }[]) => batches.flatMap((message) => message.eventBatches);
    for (const subscriber of all) {
      await until(async () => received(subscriber.received).length >= expected.length, 'every event in batches');
      expect(subscriber.errors).toEqual([]);
      expect(received(subscriber.received).map((event) => event.id)).toEqual(expected);
      const sizes = subscriber.received.map((message) => message.eventBatches.length);
      expect(Math.max(...sizes)).toBe(10);
      expect(Math.min(...sizes)).toBeGreaterThanOrEqual(1);
    }
    expect(received(all[0]!.received)).toEqual(received(all[1]!.received));
    expect(received(all[0]!.received).find((event) => event.type === 'CartItemAdded')).toMatchObject({ sku: 'sku-0', quantity: 2 });

    await until(async () => received(one.received).length >= 7, 'the stream of batch-b');
    expect(received(one.received).map((event) => event.streamId)).toEqual(Array(7).fill('batch-b'));
    // Resuming after the last event of a message continues with the next event.
    const lastOfFirst = all[0]!.received[0]!.eventBatches.at(-1)!;
    const resumed = collect<{ eventBatches: FeedEvent[] }>(server.wsClient(), BATCHES, { after: lastOfFirst.position, size: 1000 });
    await until(async () => received(resumed.received).length >= expected.length - 10, 'the resumed subscriber');
    expect(received(resumed.received).map((event) => event.id)).toEqual(expected.slice(10));
    for (const subscriber of [...all, one, resumed]) subscriber.unsubscribe();
  });

  it('delivers messages larger than 64 KiB whole: a catch-up batch of 600 events with large payloads, then live ones', async () => {
    const start = await openCart('batch-large');
    const notes = (from: number, count: number) =>
      Array.from({ length: count }, (_, i) => ({ id: uuidv7(), type: 'BatchNote', data: { n: from + i, text: 'é'.repeat(150) }, metadata: {} }));
    await orm.em.fork().transactional((tx) => appendToStream(tx, { streamId: 'batch-notes', streamType: 'Note', expectedVersion: 0, recordedAt: new Date(), events: notes(0, 600) }));
    const large = collect<{ eventBatches: { note: { n: number; text: string } }[] }>(server.wsClient(), `subscription Large($after: String) {
      eventBatches(after: $after, filter: { streamId: "batch-notes" }, size: 1000) { ... on UntypedEvent { note: data } }
    }`, { after: start });
    await until(async () => large.received.length > 0, 'the catch-up batch');
    await orm.em.fork().transactional((tx) => appendToStream(tx, { streamId: 'batch-notes', streamType: 'Note', expectedVersion: 600, recordedAt: new Date(), events: notes(600, 3) }));
    await server.app.feed.pump();
    const data = () => large.received.flatMap((message) => message.eventBatches.map((event) => event.note));
    await until(async () => data().length >= 603, 'all 603 notes');
    expect(large.errors).toEqual([]);
    expect(data().map((note) => note.n)).toEqual(Array.from({ length: 603 }, (_, i) => i));
    expect(data().every((note) => note.text === 'é'.repeat(150))).toBe(true);
    // The first message carried the whole catch-up page (500 events, well over 64 KiB of UTF-8).
    expect(large.received[0]!.eventBatches.length).toBeGreaterThanOrEqual(500);
    large.unsubscribe();
  });

  it('refuses a size outside 1 to 1000 with a VALIDATION error naming it', async () => {
    for (const size of [0, 1001]) {
      const refused = collect(server.wsClient(), BATCHES, { size });
      await until(async () => refused.errors.length > 0, `the refusal of size ${size}`);
      expect(refused.errors[0]).toEqual(expect.objectContaining({ extensions: { code: 'VALIDATION', issues: [{ path: 'size', message: expect.any(String) }] } }));
    }
  });
});
