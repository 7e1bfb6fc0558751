import v8 from 'node:v8';
import vm from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './support/server.ts';

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => server?.close());

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

/** Heap in use after full collections, so what is left is what something still holds. */
async function heapUsed(): Promise<number> {
  for (let i = 0; i < 3; i++) {
    gc();
    await new Promise((resolve) => setImmediate(resolve));
  }
  return process.memoryUsage().heapUsed;
}

const SOCKETS = 40;
const VARIABLE_BYTES = 500_000;
const EVENTS = `subscription Wide($filter: EventFilter) { events(filter: $filter) { type } }`;

describe('the shared-execution cache of subscriptions', () => {
  it('keeps nothing of the operations of closed sockets, however large and distinct their variables', async () => {
    const baseline = await heapUsed();
    const subscribers = server.app.feed.subscriberCount;
    const clients = Array.from({ length: SOCKETS }, () => server.wsClient());
    clients.forEach((client, i) => {
      // A stream id no event has, distinct per socket and half a megabyte long.
      const streamId = `wide-${i}-${'x'.repeat(VARIABLE_BYTES)}`;
      client.subscribe({ query: EVENTS, variables: { filter: { streamId } } }, { next: () => {}, error: () => {}, complete: () => {} });
    });
    await expect.poll(() => server.app.feed.subscriberCount, { timeout: 30_000 }).toBe(subscribers + SOCKETS);

    await Promise.all(clients.map((client) => client.dispose()));
    await expect.poll(() => server.app.feed.subscriberCount, { timeout: 30_000 }).toBe(subscribers);

    const sent = SOCKETS * VARIABLE_BYTES;
    const retained = (await heapUsed()) - baseline;
    console.info(`shared results: ${(sent / 1e6).toFixed(0)} MB of variables sent on ${SOCKETS} sockets, ${(retained / 1e6).toFixed(1)} MB of heap left after they closed`);
    expect(retained).toBeLessThan(sent * 0.2);
  });
});
