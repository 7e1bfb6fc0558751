import { describe, expect, it } from 'vitest';
import { compose } from '../src/app/composition.ts';
import { modules } from '../src/app/modules.ts';
import { cartModule } from '../src/modules/cart/module.ts';
import { counterModule } from '../src/modules/counter/module.ts';

describe('composing the app checks how its modules evolve, before anything starts', () => {
  it('the app’s own modules compose, with every event type listed at its current version', () => {
    const { upcasters, snapshots } = compose(modules);
    expect(upcasters.currentVersion('Cart', 'CartItemAdded')).toBe(2);
    expect(upcasters.eventTypes).toHaveLength(10);
    expect([...snapshots.keys()].sort()).toEqual(['Cart', 'Counter']);
  });

  it('a module whose event type lost its upcaster does not start', () => {
    expect(() => compose([{ ...cartModule, upcasters: [] }])).toThrow('Cart CartItemAdded is at version 2 but has no upcaster from version 1');
  });

  it('an upcaster beyond the version its decider writes does not start', () => {
    const beyond = { streamType: 'Cart', eventType: 'CartItemAdded', fromVersion: 2, upcast: (data: object) => data };
    expect(() => compose([{ ...cartModule, upcasters: [...(cartModule.upcasters ?? []), beyond] }])).toThrow('goes beyond the current version 2');
  });

  it('a snapshot policy for a stream type without a decider, or twice for one, or of no sensible size, does not start', () => {
    expect(() => compose([counterModule, { ...cartModule, snapshots: [{ streamType: 'Basket', every: 10, version: 1 }] }])).toThrow('no decider owns');
    expect(() => compose([{ ...cartModule, snapshots: [{ streamType: 'Cart', every: 10, version: 1 }, { streamType: 'Cart', every: 5, version: 2 }] }])).toThrow('given twice');
    expect(() => compose([{ ...cartModule, snapshots: [{ streamType: 'Cart', every: 0, version: 1 }] }])).toThrow('every must be a whole number from 1');
  });
});
