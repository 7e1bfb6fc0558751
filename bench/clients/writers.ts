/**
 * A writer process for the read and live workloads: `writers` concurrent writers appending cart
 * events through the command handler (decide, append, inline projection, commit, NOTIFY), either
 * as fast as they can (rate 0) or paced to `rate` events per second in total. Controlled over IPC:
 * the parent sends 'start' and 'stop'; on stop it answers with what was appended and when each
 * append's commit returned (wall clock in ms, comparable across processes on this machine).
 *
 *   node bench/clients/writers.ts '{"databaseUrl":"…","writers":4,"rate":0,"record":false,"prefix":"w"}'
 */
import { randomUUID } from 'node:crypto';
import { openOrm } from '../../src/db/orm.ts';
import { handleCommand } from '../../src/eventStore/commands/commandHandler.ts';
import { cartDecider, type CartCommand } from '../../src/modules/cart/cart.ts';
import { compose } from '../../src/app/composition.ts';
import { modules } from '../../src/app/modules.ts';
import { commandEnvironments } from '../lib/environment.ts';
import { sleep, wallNow } from '../lib/stats.ts';

const { orm: ormSchema } = compose(modules);

export type WriterOptions = {
  databaseUrl: string;
  writers: number;
  /** Events per second across all writers; 0 for as fast as possible. */
  rate: number;
  /** Long-lived carts per writer (opened on 'open', before 'start'). */
  cartsPerWriter: number;
  record: boolean;
  prefix: string;
};
export type Appended = { id: string; streamId: string; type: string; position: string; commitAt: number };
export type WriterReport = { appended: number; errors: number; firstError?: string; events: Appended[]; durationS: number };

const options = JSON.parse(process.argv[2]!) as WriterOptions;
const orm = await openOrm({ url: options.databaseUrl, poolSize: Math.max(2, options.writers), ...ormSchema });
const environment = commandEnvironments(orm, { client: 'bench-writer', databaseUrl: options.databaseUrl });
const SKUS = ['sku-1', 'sku-2', 'sku-3', 'sku-4', 'sku-5'];

const events: Appended[] = [];
let appended = 0;
let errors = 0;
let firstError: string | undefined;
let running = false;

async function command(cartId: string, cmd: CartCommand): Promise<void> {
  try {
    const result = await handleCommand(environment(), cartDecider, cartId, cmd);
    const commitAt = wallNow();
    appended += result.events.length;
    if (options.record) for (const e of result.events) events.push({ id: e.id, streamId: e.streamId, type: e.type, position: e.position, commitAt });
  } catch (error) {
    errors++;
    firstError ??= error instanceof Error ? error.message : String(error);
  }
}

const carts: string[][] = Array.from({ length: options.writers }, (_, w) =>
  Array.from({ length: options.cartsPerWriter }, (_, s) => `${options.prefix}-${w}-${s}`));
const contents = new Map<string, Map<string, number>>();

function nextCommand(writer: number): [string, CartCommand] {
  const own = carts[writer]!;
  if (options.cartsPerWriter === 0) {
    // Fresh carts only: open one, and let the next commands fill it.
    const cartId = `${options.prefix}-${writer}-${randomUUID()}`;
    own.push(cartId);
    return [cartId, { type: 'OpenCart', data: { cartId, customerId: 'bench' }, now: new Date() }];
  }
  const cartId = own[Math.floor(Math.random() * own.length)]!;
  const items = contents.get(cartId)!;
  const sku = SKUS[Math.floor(Math.random() * SKUS.length)]!;
  if (Math.random() < 0.1 && (items.get(sku) ?? 0) > 0) {
    items.set(sku, items.get(sku)! - 1);
    return [cartId, { type: 'RemoveItemFromCart', data: { cartId, sku, quantity: 1 }, now: new Date() }];
  }
  items.set(sku, (items.get(sku) ?? 0) + 1);
  return [cartId, { type: 'AddItemToCart', data: { cartId, sku, name: 'Benchmark widget', unitPrice: { amount: 1999, currency: 'EUR' }, quantity: 1 }, now: new Date() }];
}

/** As fast as possible: each writer waits for its command before sending the next. */
async function closedWriter(index: number): Promise<void> {
  while (running) {
    if (options.cartsPerWriter === 0) {
      const [cartId, open] = nextCommand(index);
      await command(cartId, open);
      for (let i = 0; i < 3 && running; i++) {
        await command(cartId, { type: 'AddItemToCart', data: { cartId, sku: SKUS[i]!, name: 'Benchmark widget', unitPrice: { amount: 1999, currency: 'EUR' }, quantity: 1 }, now: new Date() });
      }
    } else {
      const [cartId, cmd] = nextCommand(index);
      await command(cartId, cmd);
    }
  }
}

/**
 * Paced (open loop): the k-th command is sent at a fixed time whatever the earlier ones took, up
 * to MAX_IN_FLIGHT at once, so a slow commit delays no later append. Writers take turns.
 */
const MAX_IN_FLIGHT = 64;
async function pacedWriters(started: number): Promise<void> {
  const interval = 1000 / options.rate;
  const inFlight = new Set<Promise<void>>();
  for (let k = 0; running; k++) {
    const wait = started + k * interval - performance.now();
    if (wait > 0) await sleep(wait);
    if (!running) break;
    if (inFlight.size >= MAX_IN_FLIGHT) await Promise.race(inFlight);
    const [cartId, cmd] = nextCommand(k % options.writers);
    const sent = command(cartId, cmd).finally(() => inFlight.delete(sent));
    inFlight.add(sent);
  }
  await Promise.all(inFlight);
}

let writersDone: Promise<unknown> = Promise.resolve();
let startedAt = 0;
process.on('message', (message: { type: string }) => {
  void (async () => {
    if (message.type === 'open') {
      // Open the long-lived carts before the measured phase.
      // The writers open theirs side by side: 10,000 carts one after the other would take a minute.
      await Promise.all(carts.map(async (own) => {
        for (const cartId of own) {
          contents.set(cartId, new Map());
          await command(cartId, { type: 'OpenCart', data: { cartId, customerId: 'bench' }, now: new Date() });
        }
      }));
      events.length = 0;
      process.send!({ type: 'opened' });
    } else if (message.type === 'start') {
      running = true;
      startedAt = performance.now();
      writersDone = options.rate > 0 ? pacedWriters(startedAt) : Promise.all(carts.map((_, index) => closedWriter(index)));
      process.send!({ type: 'started' });
    } else if (message.type === 'stop') {
      running = false;
      await writersDone;
      const report: WriterReport = { appended, errors, ...(firstError ? { firstError } : {}), events, durationS: (performance.now() - startedAt) / 1000 };
      // Wait until the (large) report is handed to the channel before disconnecting.
      await new Promise((resolve) => process.send!({ type: 'report', report }, undefined, {}, resolve));
      await orm.close();
      process.disconnect();
    }
  })();
});
process.send!({ type: 'ready' });
