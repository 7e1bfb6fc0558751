import { describe, expect, it } from 'vitest';
import type { RecordedEvent } from '../../core/message.ts';
import { fold } from '../../core/decider.ts';
import { createStateCacheStore, estimateBytes, StateCache } from './stateCache.ts';

type Line = { sku: string; name: string; unitPrice: { amount: number; currency: string }; quantity: number };
const cartWith = (lines: number) => ({
  status: 'Open',
  cartId: 'cart-1',
  customerId: 'customer-1',
  lines: Array.from({ length: lines }, (_, i): Line => ({ sku: `SKU-${i}`, name: `Item number ${i}`, unitPrice: { amount: 1999, currency: 'EUR' }, quantity: 2 })),
});

type List = { items: string[] };
/** A decider-shaped fold whose state is the list of what was added. */
const lister = { initialState: (): List => ({ items: [] }), evolve: (state: List, event: RecordedEvent): List => ({ items: [...state.items, (event.data as { item: string }).item] }) };
const added = (version: number, item: string) => ({ type: 'Added', data: { item }, id: `e${version}`, streamId: 's', streamType: 'List', version }) as unknown as RecordedEvent;

describe('estimating a state’s bytes', () => {
  it('grows with what the state holds, in the same order as its serialised size', () => {
    const small = cartWith(10);
    const large = cartWith(1_000);
    const ratio = (state: object) => estimateBytes(state, Infinity) / JSON.stringify(state).length;
    expect(ratio(small)).toBeGreaterThan(0.5);
    expect(ratio(small)).toBeLessThan(4);
    expect(ratio(large)).toBeGreaterThan(0.5);
    expect(ratio(large)).toBeLessThan(4);
    expect(estimateBytes(large, Infinity)).toBeGreaterThan(50 * estimateBytes(small, Infinity));
  });

  it('stops counting past its limit, even on a value that refers to itself', () => {
    const loop: Record<string, unknown> = { name: 'loop' };
    loop.self = loop;
    expect(estimateBytes(loop, 10_000)).toBeGreaterThan(10_000);
    expect(estimateBytes(loop, 10_000)).toBeLessThan(10_200);
  });
});

describe('the store of remembered states', () => {
  it('keeps its estimated size under the byte budget by forgetting the least recently used states', () => {
    const store = createStateCacheStore(64 * 1024);
    store.set('Cart\u0000first', { version: 1, state: cartWith(3) });
    for (let i = 0; i < 1_000; i++) {
      store.set(`Cart\u0000cart-${i}`, { version: 1, state: cartWith(3) });
      store.get('Cart\u0000first'); // used all along, so never the least recent
    }
    expect(store.calculatedSize).toBeLessThanOrEqual(64 * 1024);
    expect(store.size).toBeGreaterThan(10);
    expect(store.size).toBeLessThan(1_000);
    expect(store.get('Cart\u0000first')).toBeDefined();
    expect(store.get('Cart\u0000cart-999')).toBeDefined();
    expect(store.get('Cart\u0000cart-0')).toBeUndefined();
  });

  it('a state remembered after its commit is decided on without reading the stream', async () => {
    const store = createStateCacheStore(1024 * 1024);
    new StateCache<List>(store, 'List', 's').remember(2, { items: ['a', 'b'] });
    let reads = 0;
    const loaded = await new StateCache<List>(store, 'List', 's').load(async () => (reads++, { version: 2, state: fold(lister, [added(1, 'a'), added(2, 'b')]) }), lister);
    expect(loaded).toEqual({ version: 2, state: { items: ['a', 'b'] }, optimistic: true });
    expect(reads).toBe(0);
  });

  it('a state over a sixteenth of the budget is not kept, and the next command reads its stream instead of assuming it new', async () => {
    const store = createStateCacheStore(16 * 1024);
    const big = { items: Array.from({ length: 200 }, (_, i) => `item-${i}`) };
    const history = big.items.map((item, i) => added(i + 1, item));
    new StateCache<List>(store, 'List', 's').remember(1, { items: ['small'] });
    new StateCache<List>(store, 'List', 's').remember(history.length, big);
    expect(store.calculatedSize).toBeLessThan(1024);

    let reads = 0;
    const loaded = await new StateCache<List>(store, 'List', 's').load(async () => (reads++, { version: history.length, state: fold(lister, history) }), lister);
    expect(reads).toBe(1);
    expect(loaded).toEqual({ version: 200, state: big, optimistic: false });
  });
});
