import type { Command, Event } from '../../core/message.ts';
import { assertNever } from '../../core/message.ts';
import type { Decider } from '../../core/decider.ts';
import { DomainError, IllegalStateError, invalidInput, NotFoundError, wholeNumberIssue } from '../../core/errors.ts';

/** Money as integer minor units (cents) so totals never suffer from floating point. */
export type Money = { readonly amount: number; readonly currency: string };

// ---- Events -------------------------------------------------------------------------------

export type CartOpened = Event<'CartOpened', { readonly cartId: string; readonly customerId: string }>;
/** Version 2: the product's name is `productName` (version 1 called it `name`; see upcasters.ts). */
export type CartItemAdded = Event<
  'CartItemAdded',
  { readonly sku: string; readonly productName: string; readonly unitPrice: Money; readonly quantity: number }
>;
export type CartItemRemoved = Event<'CartItemRemoved', { readonly sku: string; readonly quantity: number }>;
export type CartCheckedOut = Event<'CartCheckedOut', { readonly total: Money; readonly itemCount: number }>;
export type CartEvent = CartOpened | CartItemAdded | CartItemRemoved | CartCheckedOut;

export const cartEventTypes = ['CartOpened', 'CartItemAdded', 'CartItemRemoved', 'CartCheckedOut'] as const satisfies readonly CartEvent['type'][];

// ---- State --------------------------------------------------------------------------------

export type CartLine = { readonly sku: string; readonly name: string; readonly unitPrice: Money; readonly quantity: number };
type CartContents = { readonly id: string; readonly customerId: string; readonly lines: Readonly<Record<string, CartLine>> };
export type CartState =
  | { readonly status: 'Empty' }
  | ({ readonly status: 'Open' } & CartContents)
  | ({ readonly status: 'CheckedOut' } & CartContents);

export const initialState = (): CartState => ({ status: 'Empty' });

export function evolve(state: CartState, event: CartEvent): CartState {
  switch (event.type) {
    case 'CartOpened':
      return { status: 'Open', id: event.data.cartId, customerId: event.data.customerId, lines: {} };
    case 'CartItemAdded': {
      if (state.status !== 'Open') return state;
      const { sku, productName, unitPrice, quantity } = event.data;
      const existing = state.lines[sku];
      const line = { sku, name: productName, unitPrice, quantity: (existing?.quantity ?? 0) + quantity };
      return { ...state, lines: { ...state.lines, [sku]: line } };
    }
    case 'CartItemRemoved': {
      if (state.status !== 'Open') return state;
      const existing = state.lines[event.data.sku];
      if (!existing) return state;
      const { [event.data.sku]: _removed, ...rest } = state.lines;
      const remaining = existing.quantity - event.data.quantity;
      return { ...state, lines: remaining > 0 ? { ...rest, [event.data.sku]: { ...existing, quantity: remaining } } : rest };
    }
    case 'CartCheckedOut':
      return state.status === 'Open' ? { ...state, status: 'CheckedOut' } : state;
    default:
      return assertNever(event);
  }
}

// ---- Commands -----------------------------------------------------------------------------

export type OpenCart = Command<'OpenCart', { readonly cartId: string; readonly customerId: string }>;
export type AddItemToCart = Command<
  'AddItemToCart',
  { readonly cartId: string; readonly sku: string; readonly name: string; readonly unitPrice: Money; readonly quantity: number }
>;
export type RemoveItemFromCart = Command<'RemoveItemFromCart', { readonly cartId: string; readonly sku: string; readonly quantity: number }>;
export type CheckoutCart = Command<'CheckoutCart', { readonly cartId: string }>;
export type CartCommand = OpenCart | AddItemToCart | RemoveItemFromCart | CheckoutCart;

// ---- Rule errors --------------------------------------------------------------------------

export class CartAlreadyOpenedError extends IllegalStateError {
  readonly cartId: string;
  constructor(cartId: string) {
    super('CART_ALREADY_OPENED', `Cart ${cartId} is already open`);
    this.cartId = cartId;
  }
}

export class CartAlreadyCheckedOutError extends IllegalStateError {
  readonly cartId: string;
  constructor(cartId: string) {
    super('CART_ALREADY_CHECKED_OUT', `Cart ${cartId} is checked out and can no longer change`);
    this.cartId = cartId;
  }
}

export class CartEmptyError extends IllegalStateError {
  readonly cartId: string;
  constructor(cartId: string) {
    super('CART_EMPTY', `Cart ${cartId} is empty and cannot be checked out`);
    this.cartId = cartId;
  }
}

export class ItemNotInCartError extends IllegalStateError {
  readonly cartId: string;
  readonly sku: string;
  readonly requestedQuantity: number;
  readonly quantityInCart: number;
  constructor(cartId: string, sku: string, requestedQuantity: number, quantityInCart: number) {
    super(
      'ITEM_NOT_IN_CART',
      quantityInCart === 0
        ? `Item ${sku} is not in cart ${cartId}`
        : `Cannot remove ${requestedQuantity} of item ${sku}: cart ${cartId} holds only ${quantityInCart}`,
    );
    this.cartId = cartId;
    this.sku = sku;
    this.requestedQuantity = requestedQuantity;
    this.quantityInCart = quantityInCart;
  }
}

/** A cart holds one currency, and one price per SKU, so its total is always well defined. */
export class CartPriceMismatchError extends IllegalStateError {
  readonly cartId: string;
  readonly sku: string;
  constructor(cartId: string, sku: string, message: string) {
    super('CART_PRICE_MISMATCH', message);
    this.cartId = cartId;
    this.sku = sku;
  }
}

// ---- Decisions ----------------------------------------------------------------------------

/** Largest quantity of one line; keeps every total a safe integer. */
export const MAX_QUANTITY = 1_000_000;
/** Largest unit price in minor units (10 million of the major unit). */
export const MAX_UNIT_PRICE = 1_000_000_000;

export function cartTotal(lines: Iterable<CartLine>): { amount: number; itemCount: number } {
  let amount = 0;
  let itemCount = 0;
  for (const line of lines) {
    amount += line.unitPrice.amount * line.quantity;
    itemCount += line.quantity;
  }
  return { amount, itemCount };
}

const quantityIssue = (quantity: number) => wholeNumberIssue('quantity', quantity, 1, MAX_QUANTITY);

export function decide(command: CartCommand, state: CartState): readonly CartEvent[] | DomainError {
  switch (command.type) {
    case 'OpenCart': {
      if (state.status !== 'Empty') return new CartAlreadyOpenedError(command.data.cartId);
      return [{ type: 'CartOpened', data: { cartId: command.data.cartId, customerId: command.data.customerId } }];
    }
    case 'AddItemToCart': {
      const { cartId, sku, name, unitPrice, quantity } = command.data;
      if (state.status === 'Empty') return new NotFoundError('Cart', cartId);
      if (state.status === 'CheckedOut') return new CartAlreadyCheckedOutError(cartId);
      // Both rules at once, so a client fixing its input sees every problem in one answer.
      const invalid = invalidInput([quantityIssue(quantity), wholeNumberIssue('unitPrice.amount', unitPrice.amount, 0, MAX_UNIT_PRICE)]);
      if (invalid) return invalid;
      const lines = Object.values(state.lines);
      const otherCurrency = lines.find((line) => line.unitPrice.currency !== unitPrice.currency);
      if (otherCurrency) {
        return new CartPriceMismatchError(cartId, sku, `Cart ${cartId} is priced in ${otherCurrency.unitPrice.currency}, not ${unitPrice.currency}`);
      }
      const existing = state.lines[sku];
      if (existing && existing.unitPrice.amount !== unitPrice.amount) {
        return new CartPriceMismatchError(cartId, sku, `Item ${sku} is already in cart ${cartId} at ${existing.unitPrice.amount} ${existing.unitPrice.currency}`);
      }
      if (existing && existing.quantity + quantity > MAX_QUANTITY) {
        return invalidInput([{ path: 'quantity', message: `would take the line above ${MAX_QUANTITY} items` }])!;
      }
      return [{ type: 'CartItemAdded', data: { sku, productName: name, unitPrice, quantity } }];
    }
    case 'RemoveItemFromCart': {
      const { cartId, sku, quantity } = command.data;
      if (state.status === 'Empty') return new NotFoundError('Cart', cartId);
      if (state.status === 'CheckedOut') return new CartAlreadyCheckedOutError(cartId);
      const invalid = invalidInput([quantityIssue(quantity)]);
      if (invalid) return invalid;
      const inCart = state.lines[sku]?.quantity ?? 0;
      if (inCart < quantity) return new ItemNotInCartError(cartId, sku, quantity, inCart);
      return [{ type: 'CartItemRemoved', data: { sku, quantity } }];
    }
    case 'CheckoutCart': {
      const { cartId } = command.data;
      if (state.status === 'Empty') return new NotFoundError('Cart', cartId);
      if (state.status === 'CheckedOut') return new CartAlreadyCheckedOutError(cartId);
      const lines = Object.values(state.lines);
      const first = lines[0];
      if (!first) return new CartEmptyError(cartId);
      const { amount, itemCount } = cartTotal(lines);
      return [{ type: 'CartCheckedOut', data: { total: { amount, currency: first.unitPrice.currency }, itemCount } }];
    }
    default:
      return assertNever(command);
  }
}

/** A checked-out cart became an order: going back to an open cart would unsay it, so it is refused. */
export function canRevert(current: CartState, _target: CartState): DomainError | undefined {
  return current.status === 'CheckedOut' ? new CartAlreadyCheckedOutError(current.id) : undefined;
}

export const cartDecider: Decider<CartCommand, CartEvent, CartState> = {
  streamType: 'Cart',
  initialState,
  evolve,
  decide,
  canRevert,
  schemaVersions: { CartOpened: 1, CartItemAdded: 2, CartItemRemoved: 1, CartCheckedOut: 1 },
};
