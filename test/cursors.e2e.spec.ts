import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodePosition, encodePosition } from '../src/eventStore/log/position.ts';
import { collect, startTestServer, type TestServer } from './support/server.ts';
import { terminateFeedConnection } from './support/database.ts';

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => server?.close());

type LiveEvent = { events: { type: string; streamId: string; version: number; position: string } };
const FOLLOW = `subscription Follow($after: String) { events(after: $after) { type streamId version position } }`;
const HISTORY = `query History($after: String, $before: String) {
  events(first: 100, after: $after, before: $before) { edges { node { type streamId version position } } }
}`;
const STREAM = `query Stream($id: ID!, $after: String) { stream(id: $id) { events(after: $after) { edges { node { version } } } } }`;
const OPEN = `mutation Open($cartId: ID!) { openCart(input: { cartId: $cartId, customerId: "cursors" }) { __typename ... on OpenCartSuccess { position } } }`;

/** The events history shows after `after`, once it shows `expectedCount`: history waits for every older transaction on the shared server. */
async function historyAfter(after: string | undefined, expectedCount: number): Promise<LiveEvent['events'][]> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const result = await server.gql(HISTORY, { after });
    if (result.errors) throw new Error(JSON.stringify(result.errors));
    const nodes: LiveEvent['events'][] = result.data.events.edges.map((edge: { node: LiveEvent['events'] }) => edge.node);
    if (nodes.length === expectedCount) return nodes;
    if (Date.now() > deadline) throw new Error(`history showed ${nodes.length} events, not ${expectedCount}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}


const refusal = (argument: string) => [
  expect.objectContaining({ message: expect.stringContaining('not a position this API handed out'), extensions: { code: 'VALIDATION', issues: [{ path: argument, message: expect.any(String) }] } }),
];

describe('positions the server handed out', () => {
  it("a subscription begun on an empty log is told to resume after the log's start, and that position is taken back", async () => {
    const fromHead = collect<LiveEvent>(server.wsClient(), FOLLOW);
    await expect.poll(() => server.app.feed.subscriberCount).toBe(1);
    await terminateFeedConnection(server.database.url);
    await expect.poll(() => fromHead.errors.length).toBe(1);
    expect(fromHead.errors[0]).toEqual([expect.objectContaining({ extensions: { code: 'FEED_CLOSED', resumeAfter: '0_0' } })]);

    await expect.poll(() => server.app.feed.connected, { timeout: 20_000 }).toBe(true);
    const resumed = collect<LiveEvent>(server.wsClient(), FOLLOW, { after: '0_0' });
    await expect.poll(() => server.app.feed.subscriberCount).toBe(1);
    await server.gql(OPEN, { cartId: 'first-cart' });
    await resumed.waitFor(1);
    expect(resumed.errors).toEqual([]);
    expect(resumed.received.map((m) => [m.events.type, m.events.streamId])).toEqual([['CartOpened', 'first-cart']]);
    resumed.unsubscribe();

    // The log's start means the same to history: everything after it, and nothing before it.
    expect((await historyAfter('0_0', 1)).map((e) => e.streamId)).toEqual(['first-cart']);
    expect((await server.gql(HISTORY, { before: '0_0' })).data.events.edges).toEqual([]);
  });

  it("every event's position, and a mutation's, is taken as a cursor by history, streams and subscriptions", async () => {
    const opened = await server.gql(OPEN, { cartId: 'second-cart' });
    const position: string = opened.data.openCart.position;
    const [first] = await historyAfter(undefined, 2);
    expect((await historyAfter(first!.position, 1)).map((e) => e.position)).toEqual([position]);
    expect((await server.gql(STREAM, { id: 'second-cart', after: position })).data.stream.events.edges).toEqual([]);
    const live = collect<LiveEvent>(server.wsClient(), FOLLOW, { after: first!.position });
    await live.waitFor(1);
    expect(live.received.map((m) => m.events.position)).toEqual([position]);
    live.unsubscribe();
  });
});

describe('cursors the server never handed out', () => {
  let real: string;
  beforeAll(async () => {
    real = (await historyAfter(undefined, 2))[1]!.position;
  });

  const madeUp = () => {
    const { transactionId, globalPosition } = decodePosition(real);
    return {
      'an unused position': encodePosition({ transactionId, globalPosition: globalPosition + 1_000_000n }),
      'a position no transaction had': 'zzzz_zz',
      'a zero position past the start': '0_1',
      'a real position written with a leading zero': `0${real}`,
      'a transaction id beyond 64 bits': `zzzzzzzzzzzzz_${real.split('_')[1]}`,
      'a sequence number beyond 64 bits': `${real.split('_')[0]}_zzzzzzzzzzzzz`,
      'text that is not a position': 'not-a-cursor',
    };
  };

  it('history over HTTP refuses each as `after` and as `before` with a VALIDATION error naming the argument', async () => {
    for (const [what, cursor] of Object.entries(madeUp())) {
      for (const argument of ['after', 'before']) {
        const result = await server.gql(HISTORY, { [argument]: cursor });
        expect(result.errors, `${what} as ${argument}: ${cursor}`).toEqual(refusal(argument));
        expect(result.data).toBeNull();
      }
    }
  });

  it('a stream over HTTP refuses each as `after`', async () => {
    for (const [what, cursor] of Object.entries(madeUp())) {
      const result = await server.gql(STREAM, { id: 'second-cart', after: cursor });
      expect(result.errors?.[0]?.extensions, `${what}: ${cursor}`).toMatchObject({ code: 'VALIDATION', issues: [{ path: 'after' }] });
    }
  });

  it('a subscription and a history query over graphql-ws refuse each with a VALIDATION error naming the argument', async () => {
    const subscribersBefore = server.app.feed.subscriberCount;
    for (const [what, cursor] of Object.entries(madeUp())) {
      const live = collect<LiveEvent>(server.wsClient(), FOLLOW, { after: cursor });
      await expect.poll(() => live.completed || live.errors.length > 0).toBe(true);
      expect(live.errors, `${what}: ${cursor}`).toEqual(refusal('after'));
      expect(live.received).toEqual([]);
      const history = collect(server.wsClient(), HISTORY, { before: cursor });
      await expect.poll(() => history.completed).toBe(true);
      expect(history.errors, `${what}: ${cursor}`).toEqual(refusal('before'));
    }
    // Nothing was left subscribed to the feed by the refusals.
    expect(server.app.feed.subscriberCount).toBe(subscribersBefore);
  });
});
