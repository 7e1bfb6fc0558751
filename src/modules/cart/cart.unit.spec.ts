import { describe, it, expect } from 'vitest';
import { NotFoundError, ValidationError } from '../../core/errors.ts';
import { fold } from '../../core/decider.ts';
import { deciderSpec } from '../../../test/support/deciderSpec.ts';
import {
  CartAlreadyCheckedOutError,
  CartAlreadyOpenedError,
  cartDecider,
  CartEmptyError,
  type CartEvent,
  CartPriceMismatchError,
  ItemNotInCartError,
  MAX_QUANTITY,
} from './cart.ts';

const now = new Date('2026-11-23T10:00:00Z');
const spec = deciderSpec(cartDecider);

const opened: CartEvent = { type: 'CartOpened', data: { cartId: 'cart-1', customerId: 'customer-1' } };
const coffeeAdded = (quantity = 2): CartEvent => ({
  type: 'CartItemAdded',
  data: { sku: 'COFFEE', productName: 'Coffee beans', unitPrice: { amount: 1299, currency: 'EUR' }, quantity },
});
const checkedOut: CartEvent = { type: 'CartCheckedOut', data: { total: { amount: 2598, currency: 'EUR' }, itemCount: 2 } };

const add = (sku: string, quantity: number, amount = 1299, currency = 'EUR') =>
  ({ type: 'AddItemToCart', data: { cartId: 'cart-1', sku, name: 'Coffee beans', unitPrice: { amount, currency }, quantity }, now }) as const;
const remove = (sku: string, quantity: number) => ({ type: 'RemoveItemFromCart', data: { cartId: 'cart-1', sku, quantity }, now }) as const;
const checkout = { type: 'CheckoutCart', data: { cartId: 'cart-1' }, now } as const;
const open = { type: 'OpenCart', data: { cartId: 'cart-1', customerId: 'customer-1' }, now } as const;

describe('opening a cart', () => {
  it('a new cart is opened for its customer', () => {
    spec.given().when(open).then(opened);
  });

  it('a cart id that is already taken cannot be opened again', () => {
    spec.given(opened).when(open).thenFails(CartAlreadyOpenedError, { code: 'CART_ALREADY_OPENED', cartId: 'cart-1' });
  });
});

describe('adding items', () => {
  it('an open cart takes an item with its price and quantity', () => {
    spec.given(opened).when(add('COFFEE', 2)).then(coffeeAdded(2));
  });

  it('adding more of an item already in the cart adds to its line', () => {
    spec.given(opened, coffeeAdded(2)).when(add('COFFEE', 3)).then(coffeeAdded(3));
    const state = fold(cartDecider, [opened, coffeeAdded(2), coffeeAdded(3)]);
    expect(state.status === 'Open' && state.lines.COFFEE?.quantity).toBe(5);
  });

  it('a cart that was never opened is not found', () => {
    spec.given().when(add('COFFEE', 1)).thenFails(NotFoundError, { resource: 'Cart', id: 'cart-1' });
  });

  it.each([0, -1, 1.5, MAX_QUANTITY + 1])('a quantity of %s is refused', (quantity) => {
    const error = spec.given(opened).when(add('COFFEE', quantity)).thenFails(ValidationError);
    expect(error.issues[0]?.path).toBe('quantity');
  });

  it('a negative or fractional price is refused', () => {
    spec.given(opened).when(add('COFFEE', 1, -5)).thenFails(ValidationError);
    spec.given(opened).when(add('COFFEE', 1, 12.5)).thenFails(ValidationError);
  });

  it('an item priced in another currency than the cart is refused', () => {
    spec.given(opened, coffeeAdded()).when(add('TEA', 1, 500, 'USD')).thenFails(CartPriceMismatchError, { code: 'CART_PRICE_MISMATCH', sku: 'TEA' });
  });

  it('the same SKU at another unit price is refused', () => {
    spec.given(opened, coffeeAdded()).when(add('COFFEE', 1, 999)).thenFails(CartPriceMismatchError, { sku: 'COFFEE' });
  });

  it('a checked-out cart takes no new items', () => {
    spec.given(opened, coffeeAdded(), checkedOut).when(add('TEA', 1)).thenFails(CartAlreadyCheckedOutError);
  });
});

describe('removing items', () => {
  it('part of a line can be removed', () => {
    spec.given(opened, coffeeAdded(2)).when(remove('COFFEE', 1)).then({ type: 'CartItemRemoved', data: { sku: 'COFFEE', quantity: 1 } });
  });

  it('removing the whole quantity empties the line', () => {
    spec.given(opened, coffeeAdded(2)).when(remove('COFFEE', 2)).then({ type: 'CartItemRemoved', data: { sku: 'COFFEE', quantity: 2 } });
    const state = fold(cartDecider, [opened, coffeeAdded(2), { type: 'CartItemRemoved', data: { sku: 'COFFEE', quantity: 2 } }]);
    expect(state.status === 'Open' && Object.keys(state.lines)).toEqual([]);
  });

  it('an item that is not in the cart cannot be removed', () => {
    spec.given(opened).when(remove('TEA', 1)).thenFails(ItemNotInCartError, { code: 'ITEM_NOT_IN_CART', sku: 'TEA', requestedQuantity: 1, quantityInCart: 0 });
  });

  it('more than the cart holds cannot be removed', () => {
    spec.given(opened, coffeeAdded(2)).when(remove('COFFEE', 3)).thenFails(ItemNotInCartError, { requestedQuantity: 3, quantityInCart: 2 });
  });

  it('a removal needs a positive quantity', () => {
    spec.given(opened, coffeeAdded(2)).when(remove('COFFEE', 0)).thenFails(ValidationError);
  });

  it('nothing is removed from a cart that was never opened', () => {
    spec.given().when(remove('COFFEE', 1)).thenFails(NotFoundError);
  });

  it('nothing is removed from a checked-out cart', () => {
    spec.given(opened, coffeeAdded(), checkedOut).when(remove('COFFEE', 1)).thenFails(CartAlreadyCheckedOutError);
  });
});

describe('checking out', () => {
  it('a cart with items checks out with its total and item count', () => {
    const tea: CartEvent = { type: 'CartItemAdded', data: { sku: 'TEA', productName: 'Tea', unitPrice: { amount: 450, currency: 'EUR' }, quantity: 3 } };
    spec.given(opened, coffeeAdded(2), tea).when(checkout).then({ type: 'CartCheckedOut', data: { total: { amount: 2 * 1299 + 3 * 450, currency: 'EUR' }, itemCount: 5 } });
  });

  it('an empty cart cannot be checked out', () => {
    spec.given(opened).when(checkout).thenFails(CartEmptyError, { code: 'CART_EMPTY' });
  });

  it('a cart emptied again cannot be checked out', () => {
    spec.given(opened, coffeeAdded(2), { type: 'CartItemRemoved', data: { sku: 'COFFEE', quantity: 2 } }).when(checkout).thenFails(CartEmptyError);
  });

  it('a cart is checked out only once', () => {
    spec.given(opened, coffeeAdded(), checkedOut).when(checkout).thenFails(CartAlreadyCheckedOutError, { code: 'CART_ALREADY_CHECKED_OUT' });
  });

  it('a cart that was never opened cannot be checked out', () => {
    spec.given().when(checkout).thenFails(NotFoundError);
  });
});

describe('reverting a cart', () => {
  const stateAfter = (...events: CartEvent[]) => fold(cartDecider, events);

  it('an open cart may go back to an earlier version', () => {
    expect(cartDecider.canRevert?.(stateAfter(opened, coffeeAdded(2), coffeeAdded(3)), stateAfter(opened, coffeeAdded(2)))).toBeUndefined();
  });

  it('a checked-out cart is an order and is not reverted', () => {
    const refusal = cartDecider.canRevert?.(stateAfter(opened, coffeeAdded(), checkedOut), stateAfter(opened, coffeeAdded()));
    expect(refusal).toBeInstanceOf(CartAlreadyCheckedOutError);
    expect(refusal).toMatchObject({ code: 'CART_ALREADY_CHECKED_OUT', cartId: 'cart-1' });
  });
});
