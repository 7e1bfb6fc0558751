import pg from 'pg';
import { systemClock } from '../../src/core/ids.ts';
import { silentLogger } from '../../src/core/logger.ts';
import type { Orm } from '../../src/db/orm.ts';
import { LogFeed } from '../../src/eventStore/feed/feed.ts';
import { comparePositions, decodePosition, LOG_START, type LogPosition } from '../../src/eventStore/log/position.ts';
import type { ProcessorDefinition } from '../../src/eventStore/processors/processorDefinition.ts';
import { PROGRESS_CHANNEL } from '../../src/eventStore/processors/processorStore.ts';
import { PROCESSOR_DEFAULTS, Processors } from '../../src/eventStore/processors/processors.ts';
import { logHead, withClient } from '../lib/db.ts';
import { GraphQLHttpClient } from '../lib/http.ts';
import { round, sleep, summarize, wallNow, type LatencySummary } from '../lib/stats.ts';
import { compose } from '../../src/app/composition.ts';
import { modules } from '../../src/app/modules.ts';

const { upcasters } = compose(modules);

export type NoopProcessorResult = { events: number; handled: number; seconds: number; eventsPerS: number; batchSize: number };

/**
 * A processor with a no-op handler over the whole preloaded log, in this process as an API process
 * runs it: its log follower wakes it, it reads readLog batches and moves its checkpoint in a
 * transaction per batch. Timed from start until its checkpoint passes the head (read-your-writes'
 * own wait tells when).
 */
export async function noopProcessorCell(url: string, orm: Orm, name: string): Promise<NoopProcessorResult> {
  const head = await logHead(url);
  const events = await withClient(url, async (client) => Number((await client.query<{ n: string }>('select count(*) as n from events')).rows[0]!.n));
  const feed = new LogFeed({ em: orm.em.fork(), databaseUrl: url, logger: silentLogger, upcasters });
  await feed.start();
  let handled = 0;
  const definition: ProcessorDefinition = { name, readModel: name, delivery: 'transactional', handle: async (batch) => void (handled += batch.length) };
  const processors = new Processors({ definitions: [definition], em: orm.em, upcasters, feed, databaseUrl: url, logger: silentLogger, clock: systemClock });
  const started = performance.now();
  try {
    await processors.start();
    await processors.waitFor(name, head, 600_000);
  } finally {
    await processors.stop();
    await feed.stop();
  }
  const seconds = (performance.now() - started) / 1000;
  return { events, handled, seconds: round(seconds, 3), eventsPerS: round(handled / seconds, 0), batchSize: PROCESSOR_DEFAULTS.batchSize };
}

export type SalesLagResult = { lagMs: LatencySummary; checkouts: number; achievedRate: number; errors: number; firstError?: string; unresolved: number };

const OPEN = `mutation($input: OpenCartInput!) { openCart(input: $input) { __typename } }`;
const ADD = `mutation($input: AddItemToCartInput!) { addItemToCart(input: $input) { __typename } }`;
const CHECKOUT = `mutation($input: CheckoutCartInput!) { checkoutCart(input: $input) { __typename ... on CheckoutCartSuccess { position } } }`;

/**
 * Product sales' lag under `rate` events/s of commands over GraphQL: carts of four events each
 * (open, two items, checkout), a new one every 4000/rate ms, each cart's commands in sequence. The
 * lag of a checkout is from its mutation's answer until the product-sales processor's checkpoint
 * passed its position, as the processor's progress NOTIFY (what read-your-writes waits on) tells
 * this process; 0 when it had passed before the answer arrived.
 */
export async function productSalesLagCell(options: { apiUrl: string; databaseUrl: string; rate: number; warmupMs: number; durationMs: number; prefix: string }): Promise<SalesLagResult> {
  const client = new GraphQLHttpClient(options.apiUrl, 64);
  const listener = new pg.Client({ connectionString: options.databaseUrl, application_name: 'bench-progress-listener' });
  await listener.connect();
  let passed: LogPosition = LOG_START;
  const pending: { position: LogPosition; at: number; measured: boolean }[] = [];
  const lags: number[] = [];
  listener.on('notification', (message) => {
    const [name, t, g] = (message.payload ?? '').split(' ');
    if (name !== 'cart-product-sales' || !t || !g) return;
    const now = wallNow();
    passed = { transactionId: BigInt(t), globalPosition: BigInt(g) };
    for (let i = pending.length - 1; i >= 0; i--) {
      const waiting = pending[i]!;
      if (comparePositions(waiting.position, passed) > 0) continue;
      if (waiting.measured) lags.push(now - waiting.at);
      pending.splice(i, 1);
    }
  });
  await listener.query(`LISTEN ${PROGRESS_CHANNEL}`);

  let errors = 0;
  let firstError: string | undefined;
  let checkouts = 0;
  let events = 0;
  let measureFrom = Infinity;
  let measureTo = Infinity;
  const send = async (query: string, variables: Record<string, unknown>) => {
    const answer = await client.request(query, variables);
    const result = answer.data ? (Object.values(answer.data)[0] as { __typename: string; position?: string }) : undefined;
    if (!result || !result.__typename.endsWith('Success')) throw new Error(JSON.stringify(answer.errors ?? answer.data));
    events++;
    return result;
  };
  const cart = async (cartId: string) => {
    try {
      await send(OPEN, { input: { cartId, customerId: 'bench' } });
      for (const sku of ['sku-1', 'sku-2']) await send(ADD, { input: { cartId, sku, name: 'Benchmark widget', unitPrice: { amount: 1999, currency: 'EUR' }, quantity: 1 } });
      const done = await send(CHECKOUT, { input: { cartId } });
      const at = wallNow();
      const position = decodePosition(done.position!);
      checkouts++;
      if (comparePositions(position, passed) <= 0) {
        if (at >= measureFrom && at < measureTo) lags.push(0);
      } else {
        pending.push({ position, at, measured: at >= measureFrom && at < measureTo });
      }
    } catch (error) {
      errors++;
      firstError ??= error instanceof Error ? error.message : String(error);
    }
  };

  let running = true;
  const carts: Promise<void>[] = [];
  const interval = 4000 / options.rate;
  const loop = (async () => {
    const started = performance.now();
    for (let k = 0; running; k++) {
      const wait = started + k * interval - performance.now();
      if (wait > 0) await sleep(wait);
      if (running) carts.push(cart(`${options.prefix}-${k}`));
    }
  })();
  await sleep(options.warmupMs);
  measureFrom = wallNow();
  const eventsAtStart = events;
  await sleep(options.durationMs);
  measureTo = wallNow();
  const achievedRate = ((events - eventsAtStart) * 1000) / options.durationMs;
  running = false;
  await loop;
  await Promise.all(carts);
  // Let the processor pass the last checkouts.
  const deadline = performance.now() + 10_000;
  while (pending.some((p) => p.measured) && performance.now() < deadline) await sleep(50);
  const unresolved = pending.filter((p) => p.measured).length;
  await listener.end();
  client.close();
  return { lagMs: summarize(lags), checkouts, achievedRate: round(achievedRate, 0), errors, ...(firstError ? { firstError } : {}), unresolved };
}
