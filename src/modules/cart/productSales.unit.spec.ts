import { describe, expect, it } from 'vitest';
import type { RecordedEvent } from '../../core/message.ts';
import type { CartEvent } from './cart.ts';
import { salesOfCheckout } from './productSales.ts';

const at = new Date('2026-12-02T10:00:00.000Z');
let version = 0;
const recorded = (event: CartEvent): RecordedEvent<CartEvent> => ({
  ...event,
  id: `event-${++version}`,
  streamId: 'cart-1',
  streamType: 'Cart',
  version,
  position: `1_${version}`,
  globalPosition: BigInt(version),
  transactionId: 1n,
  recordedAt: at,
  metadata: { correlationId: 'c', actor: 'alice' },
});

describe('what a checkout sold', () => {
  it('is each line as the cart held it at the checkout: adds merged, removals taken off, emptied lines gone', () => {
    version = 0;
    const history = [
      recorded({ type: 'CartOpened', data: { cartId: 'cart-1', customerId: 'alice' } }),
      recorded({ type: 'CartItemAdded', data: { sku: 'TEA', productName: 'Tea', unitPrice: { amount: 450, currency: 'EUR' }, quantity: 2 } }),
      recorded({ type: 'CartItemAdded', data: { sku: 'MUG', productName: 'Mug', unitPrice: { amount: 900, currency: 'EUR' }, quantity: 1 } }),
      recorded({ type: 'CartItemAdded', data: { sku: 'TEA', productName: 'Tea', unitPrice: { amount: 450, currency: 'EUR' }, quantity: 3 } }),
      recorded({ type: 'CartItemRemoved', data: { sku: 'TEA', quantity: 1 } }),
      recorded({ type: 'CartItemRemoved', data: { sku: 'MUG', quantity: 1 } }),
    ];
    const checkout = recorded({ type: 'CartCheckedOut', data: { total: { amount: 1800, currency: 'EUR' }, itemCount: 4 } });
    expect(salesOfCheckout([...history, checkout], checkout)).toEqual([{ sku: 'TEA', currency: 'EUR', name: 'Tea', units: 4, revenue: 1800, carts: 1, at }]);
  });

  it('is nothing for a cart that was not open (its history is missing)', () => {
    version = 0;
    const checkout = recorded({ type: 'CartCheckedOut', data: { total: { amount: 0, currency: 'EUR' }, itemCount: 0 } });
    expect(salesOfCheckout([], checkout)).toEqual([]);
  });
});
