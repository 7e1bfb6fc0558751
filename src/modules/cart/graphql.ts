import type { Builder } from '../../graphql/builder.ts';
import { type AggregateGraphQL, commandIdField, commandMutation, expectedVersionField } from '../../graphql/commandMutation.ts';
import { ruleErrorType } from '../../graphql/errors.ts';
import { cartRowsVisibleTo } from './policy.ts';
import { eventTypes } from '../../graphql/events.ts';
import { idShape, textShape } from '../../graphql/inputShapes.ts';
import { keysetListing, readModelNode, readModelQuery, readModelSubscription } from '../../graphql/readModel.ts';
import { z } from 'zod';
import {
  CartAlreadyCheckedOutError,
  CartAlreadyOpenedError,
  CartEmptyError,
  type CartCommand,
  cartDecider,
  type CartEvent,
  CartPriceMismatchError,
  ItemNotInCartError,
  MAX_QUANTITY,
  MAX_UNIT_PRICE,
  type Money,
  type CartState,
} from './cart.ts';
import { CartRecord, type CartLineView, type CartView, cartView } from './projection.ts';
import { invalidInput } from '../../core/errors.ts';
import { productSalesGraphQL } from './productSalesGraphql.ts';
import type { Identity } from '../../core/identity.ts';

/** A new cart's customer when the input names none: the caller. An anonymous caller has no id to give it. */
function customerOf(caller: Identity): string {
  if (caller.kind === 'subject') return caller.subject;
  throw invalidInput([{ path: 'customerId', message: 'is required from an anonymous caller (one without a bearer token)' }])!;
}

/** The cart's GraphQL: its read model, events, rule errors, commands, queries and live view. */
export function cartGraphQL(builder: Builder): void {
  // ---- Read model ---------------------------------------------------------------------------

  const MoneyRef = builder.objectRef<Money>('Money').implement({
    description: 'An amount of money in minor units (cents) of its currency.',
    fields: (t) => ({
      amount: t.field({ type: 'SafeInt', description: 'Whole minor units, e.g. 1999 for 19.99.', resolve: (m) => m.amount }),
      currency: t.exposeString('currency', { description: 'ISO 4217 code, e.g. "EUR".' }),
    }),
  });

  const CartStatusEnum = builder.enumType('CartStatus', {
    description: 'Where a cart is in its life.',
    values: {
      OPEN: { description: 'Items can be added and removed.' },
      CHECKED_OUT: { description: 'Final: nothing changes any more.' },
    } as const,
  });

  const CartLineRef = builder.objectRef<{ line: CartLineView; currency: string }>('CartLine').implement({
    description: 'One SKU in a cart.',
    fields: (t) => ({
      sku: t.string({ resolve: ({ line }) => line.sku, description: 'Stock keeping unit.' }),
      name: t.string({ resolve: ({ line }) => line.name, description: 'Product name when it was added.' }),
      quantity: t.int({ resolve: ({ line }) => line.quantity, description: 'How many are in the cart.' }),
      unitPrice: t.field({ type: MoneyRef, resolve: ({ line, currency }) => ({ amount: line.unitPrice, currency }), description: 'Price of one.' }),
      lineTotal: t.field({ type: MoneyRef, resolve: ({ line, currency }) => ({ amount: line.lineTotal, currency }), description: 'unitPrice × quantity.' }),
    }),
  });

  const CartRef = readModelNode<CartView>(builder, {
    name: 'Cart',
    noun: 'cart',
    entity: CartRecord as never,
    visibleTo: cartRowsVisibleTo,
    description: 'A shopping cart as its projection holds it (updated in the same transaction as its events).',
    fields: (t) => ({
      customerId: t.exposeString('customerId', { description: 'Whose cart it is.' }),
      status: t.field({ type: CartStatusEnum, resolve: (cart) => cart.status, description: 'OPEN or CHECKED_OUT.' }),
      lines: t.field({
        type: [CartLineRef],
        description: 'The items, in the order they were first added.',
        resolve: (cart) => cart.lines.map((line) => ({ line, currency: cart.currency ?? '' })),
      }),
      itemCount: t.exposeInt('itemCount', { description: 'Sum of all quantities.' }),
      currency: t.string({ nullable: true, resolve: (cart) => cart.currency, description: 'Currency of every price in the cart; null until the first item.' }),
      total: t.field({
        type: MoneyRef,
        nullable: true,
        description: 'Sum of the line totals; null until the first item sets the currency.',
        resolve: (cart) => (cart.currency ? { amount: Number(cart.total), currency: cart.currency } : null),
      }),
      openedAt: t.field({ type: 'DateTime', description: 'When the cart was opened.', resolve: (cart) => cart.openedAt }),
      updatedAt: t.field({ type: 'DateTime', description: 'When the cart last changed.', resolve: (cart) => cart.updatedAt }),
      checkedOutAt: t.field({ type: 'DateTime', nullable: true, description: 'When the cart was checked out; null while it is open.', resolve: (cart) => cart.checkedOutAt }),
    }),
  });
  const cart: AggregateGraphQL<CartCommand, CartEvent, CartState, CartView> = {
    decider: cartDecider,
    view: cartView,
    ref: CartRef,
    noun: 'cart',
    visibleTo: cartRowsVisibleTo,
  };

  // ---- Events -------------------------------------------------------------------------------

  eventTypes<CartEvent>(builder, {
    CartOpened: {
      description: 'A cart was opened for a customer.',
      fields: (t) => ({
        cartId: t.string({ description: 'The new cart.', resolve: (e) => e.data.cartId }),
        customerId: t.string({ description: 'Whose cart it is.', resolve: (e) => e.data.customerId }),
      }),
    },
    CartItemAdded: {
      description: 'Some quantity of an item was put in a cart.',
      fields: (t) => ({
        sku: t.string({ description: 'Stock keeping unit of the item.', resolve: (e) => e.data.sku }),
        productName: t.string({ description: 'Product name when it was added.', resolve: (e) => e.data.productName }),
        name: t.string({ description: 'Product name.', deprecationReason: 'Use productName (the payload calls it so since schema version 2).', resolve: (e) => e.data.productName }),
        unitPrice: t.field({ type: MoneyRef, description: 'Price of one.', resolve: (e) => e.data.unitPrice }),
        quantity: t.int({ description: 'How many were added.', resolve: (e) => e.data.quantity }),
      }),
    },
    CartItemRemoved: {
      description: 'Some quantity of an item was taken out of a cart.',
      fields: (t) => ({
        sku: t.string({ description: 'Stock keeping unit of the item.', resolve: (e) => e.data.sku }),
        quantity: t.int({ description: 'How many were removed.', resolve: (e) => e.data.quantity }),
      }),
    },
    CartCheckedOut: {
      description: 'A cart was checked out; it is final from here on.',
      fields: (t) => ({
        total: t.field({ type: MoneyRef, description: 'What the cart came to.', resolve: (e) => e.data.total }),
        itemCount: t.int({ description: 'How many items it held, all lines together.', resolve: (e) => e.data.itemCount }),
      }),
    },
  });

  // ---- Rule errors --------------------------------------------------------------------------

  const cartIdField = { description: 'The cart the command addressed.' };
  ruleErrorType(builder, CartAlreadyOpenedError, { name: 'CartAlreadyOpenedError', description: 'A cart with this id exists already.', fields: (t) => ({ cartId: t.exposeString('cartId', cartIdField) }) });
  ruleErrorType(builder, CartAlreadyCheckedOutError, { name: 'CartAlreadyCheckedOutError', description: 'The cart is checked out; it cannot change.', fields: (t) => ({ cartId: t.exposeString('cartId', cartIdField) }) });
  ruleErrorType(builder, CartEmptyError, { name: 'CartEmptyError', description: 'An empty cart cannot be checked out.', fields: (t) => ({ cartId: t.exposeString('cartId', cartIdField) }) });
  ruleErrorType(builder, ItemNotInCartError, {
    name: 'ItemNotInCartError',
    description: 'The item is not in the cart, or not in the quantity asked to remove.',
    fields: (t) => ({
      cartId: t.exposeString('cartId', cartIdField),
      sku: t.exposeString('sku', { description: 'The item the command tried to remove.' }),
      requestedQuantity: t.exposeInt('requestedQuantity', { description: 'How many the command tried to remove.' }),
      quantityInCart: t.exposeInt('quantityInCart', { description: 'How many the cart holds (0 when absent).' }),
    }),
  });
  ruleErrorType(builder, CartPriceMismatchError, {
    name: 'CartPriceMismatchError',
    description: 'The price disagrees with the cart: another currency, or another unit price for a SKU already in it.',
    fields: (t) => ({
      cartId: t.exposeString('cartId', cartIdField),
      sku: t.exposeString('sku', { description: 'The item whose price disagrees.' }),
    }),
  });

  // ---- Commands -----------------------------------------------------------------------------

  const skuShape = textShape(64);
  const MoneyInput = builder.inputType('MoneyInput', {
    description: 'An amount in minor units with its currency.',
    fields: (t) => ({
      amount: t.int({ description: `Whole minor units, 0 to ${MAX_UNIT_PRICE}.` }),
      currency: t.string({ description: 'ISO 4217 code: three capital letters, e.g. "EUR".', validate: z.string().regex(/^[A-Z]{3}$/, 'must be an ISO 4217 code of three capital letters') }),
    }),
  });

  commandMutation(builder, cart, {
    name: 'openCart',
    description: 'Opens a new, empty cart.',
    verb: 'opened',
    input: builder.inputType('OpenCartInput', {
      description: 'What openCart needs.',
      fields: (t) => ({
        cartId: t.id({ required: false, validate: idShape, description: 'Choose the id (URL-safe, up to 100 characters); generated when omitted.' }),
        customerId: t.string({
          required: false,
          validate: textShape(100),
          description: "Whose cart it is; the caller's (the token's subject) when omitted, which an anonymous caller must not do.",
        }),
        commandId: commandIdField(t),
      }),
    }),
    errors: [CartAlreadyOpenedError],
    streamId: (input) => input.cartId,
    command: (input, cartId, caller) => ({ type: 'OpenCart', data: { cartId, customerId: input.customerId ?? customerOf(caller) } }),
  });

  commandMutation(builder, cart, {
    name: 'addItemToCart',
    description: 'Adds some quantity of an item to an open cart.',
    verb: 'updated',
    input: builder.inputType('AddItemToCartInput', {
      description: 'What addItemToCart needs.',
      fields: (t) => ({
        cartId: t.id({ validate: idShape, description: 'The cart to add to.' }),
        sku: t.string({ validate: skuShape, description: 'Stock keeping unit, up to 64 characters.' }),
        name: t.string({ validate: textShape(200), description: 'Product name, up to 200 characters.' }),
        unitPrice: t.field({ type: MoneyInput, description: 'Price of one, in minor units.' }),
        quantity: t.int({ description: `How many to add, 1 to ${MAX_QUANTITY}.` }),
        expectedVersion: expectedVersionField(t, 'cart'),
        commandId: commandIdField(t),
      }),
    }),
    errors: [CartAlreadyCheckedOutError, CartPriceMismatchError],
    streamId: (input) => input.cartId,
    command: ({ sku, name, unitPrice, quantity }, cartId) => ({ type: 'AddItemToCart', data: { cartId, sku, name, unitPrice, quantity } }),
  });

  commandMutation(builder, cart, {
    name: 'removeItemFromCart',
    description: 'Takes some quantity of an item out of an open cart. Removing what is not there is an ItemNotInCartError.',
    verb: 'updated',
    input: builder.inputType('RemoveItemFromCartInput', {
      description: 'What removeItemFromCart needs.',
      fields: (t) => ({
        cartId: t.id({ validate: idShape, description: 'The cart to remove from.' }),
        sku: t.string({ validate: skuShape, description: 'Stock keeping unit of the item to remove.' }),
        quantity: t.int({ description: `How many to remove, 1 to ${MAX_QUANTITY}; at most what the cart holds.` }),
        expectedVersion: expectedVersionField(t, 'cart'),
        commandId: commandIdField(t),
      }),
    }),
    errors: [CartAlreadyCheckedOutError, ItemNotInCartError],
    streamId: (input) => input.cartId,
    command: ({ sku, quantity }, cartId) => ({ type: 'RemoveItemFromCart', data: { cartId, sku, quantity } }),
  });

  commandMutation(builder, cart, {
    name: 'checkoutCart',
    description: 'Checks out a non-empty open cart. After this the cart never changes.',
    verb: 'checked out',
    input: builder.inputType('CheckoutCartInput', {
      description: 'What checkoutCart needs.',
      fields: (t) => ({
        cartId: t.id({ validate: idShape, description: 'The cart to check out.' }),
        expectedVersion: expectedVersionField(t, 'cart'),
        commandId: commandIdField(t),
      }),
    }),
    errors: [CartAlreadyCheckedOutError, CartEmptyError],
    streamId: (input) => input.cartId,
    command: (_input, cartId) => ({ type: 'CheckoutCart', data: { cartId } }),
  });

  // ---- Queries and live view ----------------------------------------------------------------

  readModelQuery(builder, cart, { description: 'One cart from the projection; null when there is no such cart.' });

  const CartFilterInput = builder.inputType('CartFilter', {
    description: 'Narrows the cart list; all given conditions must hold.',
    fields: (t) => ({
      customerId: t.string({ required: false, description: "Only this customer's carts." }),
      status: t.field({ type: CartStatusEnum, required: false, description: 'Only carts in this status.' }),
    }),
  });
  keysetListing(builder, {
    field: 'carts',
    ref: CartRef,
    typeName: 'Cart',
    entity: CartRecord as never,
    timeField: 'openedAt',
    visibleTo: cartRowsVisibleTo,
    description: 'Carts, newest first, from the projection.',
    filter: {
      input: CartFilterInput,
      description: 'Which carts to list; all when omitted.',
      where: (filter) => [
        ...(filter.customerId != null ? [{ customerId: filter.customerId }] : []),
        ...(filter.status != null ? [{ status: filter.status }] : []),
      ],
    },
  });

  productSalesGraphQL(builder, MoneyRef);

  readModelSubscription(builder, cart, {
    description:
      'One cart, live: first its current state, then its new state after every change to it, in order. When no cart ' +
      'has this id yet, the first message is null and the cart follows as soon as it is opened. If the server loses ' +
      'its database connection the subscription ends with a FEED_CLOSED error: subscribe again to get the current state.',
  });
}
