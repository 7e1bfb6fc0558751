import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ValidationError } from '../src/core/errors.ts';
import { handleCommand } from '../src/eventStore/commands/commandHandler.ts';
import { readStream } from '../src/eventStore/log/read.ts';
import { viewAsOf } from '../src/eventStore/projections/timeTravel.ts';
import { type CartCommand, cartDecider } from '../src/modules/cart/cart.ts';
import { CartRecord, type CartView, cartView } from '../src/modules/cart/projection.ts';
import { apiInstance, appUpcasters } from './support/commands.ts';
import { openTestOrm } from './support/database.ts';
import { random } from './support/random.ts';

let db: Awaited<ReturnType<typeof openTestOrm>>;
beforeAll(async () => {
  db = await openTestOrm();
});
afterAll(async () => db?.close());



const base = new Date('2026-11-23T09:00:00Z').getTime();
/** Version v is recorded at base + v seconds. */
const recordedAtVersion = (version: number) => new Date(base + version * 1000);
const prices: Record<string, number> = { COFFEE: 1299, TEA: 450, MUG: 899, BEANS: 2100, FILTER: 199 };

/** The live projection row as a plain object, read fresh from the database. */
async function liveRow(cartId: string): Promise<CartView | null> {
  const row = await db.orm.em.fork().findOne(CartRecord, cartId);
  return row ? ({ ...row } as CartView) : null;
}

/**
 * Runs a long random history against one cart (adds and removes, then checkout), capturing the live
 * projection row right after each version is written. Every command appends exactly one event.
 */
async function randomHistory(cartId: string, commands: number, seed: number): Promise<(CartView | null)[]> {
  const next = random(seed);
  const environment = apiInstance(db.orm, { metadata: { correlationId: 'time-travel', actor: 'anonymous' } });
  const captured: (CartView | null)[] = [null];
  const inCart = new Map<string, number>();
  const run = async (command: Omit<CartCommand, 'now'>) => {
    const version = captured.length;
    await handleCommand(environment(), cartDecider, cartId, { ...command, now: recordedAtVersion(version) } as CartCommand);
    captured.push(await liveRow(cartId));
  };
  await run({ type: 'OpenCart', data: { cartId, customerId: 'traveller' } });
  for (let i = 0; i < commands; i++) {
    const held = [...inCart.entries()].filter(([, quantity]) => quantity > 0);
    if (held.length > 0 && next() < 0.4) {
      const [sku, quantity] = held[Math.floor(next() * held.length)]!;
      const remove = 1 + Math.floor(next() * quantity);
      inCart.set(sku, quantity - remove);
      await run({ type: 'RemoveItemFromCart', data: { cartId, sku, quantity: remove } });
    } else {
      const skus = Object.keys(prices);
      const sku = skus[Math.floor(next() * skus.length)]!;
      const quantity = 1 + Math.floor(next() * 5);
      inCart.set(sku, (inCart.get(sku) ?? 0) + quantity);
      await run({ type: 'AddItemToCart', data: { cartId, sku, name: sku.toLowerCase(), unitPrice: { amount: prices[sku]!, currency: 'EUR' }, quantity } });
    }
  }
  if ([...inCart.values()].some((quantity) => quantity > 0)) await run({ type: 'CheckoutCart', data: { cartId } });
  return captured;
}

describe('a cart as of a version', () => {
  let captured: (CartView | null)[];
  const cartId = 'travel-1';

  beforeAll(async () => {
    captured = await randomHistory(cartId, 250, 7);
  });

  it('equals the live projection as it stood right after that version, for every version of a long random history', async () => {
    const events = await readStream(db.orm.em.fork(), appUpcasters, cartId);
    expect(events.length).toBe(captured.length - 1);
    expect(events.length).toBeGreaterThan(200);
    expect(events.some((event) => event.type === 'CartItemRemoved')).toBe(true);
    const em = db.orm.em.fork();
    for (let version = 1; version < captured.length; version++) {
      const asOf = await viewAsOf(em, appUpcasters, cartView, cartId, { version });
      expect(asOf, `version ${version}`).toEqual(captured[version]);
    }
  });

  it('is null before the first event', async () => {
    expect(await viewAsOf(db.orm.em.fork(), appUpcasters, cartView, cartId, { version: 0 })).toBeNull();
  });

  it('refuses a version the cart has not reached', async () => {
    await expect(viewAsOf(db.orm.em.fork(), appUpcasters, cartView, cartId, { version: captured.length })).rejects.toBeInstanceOf(ValidationError);
  });

  it('is null for a stream that is not a cart', async () => {
    expect(await viewAsOf(db.orm.em.fork(), appUpcasters, { ...cartView, streamType: 'NotACart' }, cartId, { version: 1 })).toBeNull();
  });
});

describe('a cart as of a time', () => {
  let captured: (CartView | null)[];
  const cartId = 'travel-2';

  beforeAll(async () => {
    captured = await randomHistory(cartId, 40, 11);
  });

  it('between two events is the state after the earlier one', async () => {
    const em = db.orm.em.fork();
    for (let version = 1; version < captured.length; version++) {
      const between = new Date(recordedAtVersion(version).getTime() + 500);
      expect(await viewAsOf(em, appUpcasters, cartView, cartId, { time: between }), `half a second after version ${version}`).toEqual(captured[version]);
    }
  });

  it('at the exact instant of an event includes that event', async () => {
    expect(await viewAsOf(db.orm.em.fork(), appUpcasters, cartView, cartId, { time: recordedAtVersion(5) })).toEqual(captured[5]);
  });

  it('before the cart was opened is null, and after its last event is its current state', async () => {
    const em = db.orm.em.fork();
    expect(await viewAsOf(em, appUpcasters, cartView, cartId, { time: new Date(base) })).toBeNull();
    expect(await viewAsOf(em, appUpcasters, cartView, cartId, { time: new Date(base + 10_000_000) })).toEqual(await liveRow(cartId));
  });
});
