import { builder } from '../../graphql/builder.ts';
import { runViewCommand, viewCommandSuccessType } from '../../graphql/viewCommand.ts';
import { commandErrors, ruleErrorType } from '../../graphql/errors.ts';
import { encodeTimeIdCursor, timeIdPageConditions } from '../../graphql/keysetCursor.ts';
import { ID_HINT, ID_PATTERN, InputCheck } from '../../graphql/validation.ts';
import { resolveCursorConnection } from '@pothos/plugin-relay';
import type { RecordedEvent } from '../../core/message.ts';
import { AsOfInput, COMMAND_ID_FIELD, eventObjectType, toAsOf } from '../../graphql/events.ts';
import { idFromCommandId } from '../../eventStore/commands/idempotency.ts';
import { viewAsOf } from '../../eventStore/projections/timeTravel.ts';
import {
  CartAlreadyCheckedOutError,
  CartAlreadyOpenedError,
  CartEmptyError,
  cartDecider,
  CartPriceMismatchError,
  type Money,
  ItemNotInCartError,
  MAX_QUANTITY,
  MAX_UNIT_PRICE,
} from './cart.ts';
import { CartRecord, cartView, evolveCartView, type CartLineView, type CartView } from './projection.ts';
import type { FeedSubscription } from '../../eventStore/feed/feed.ts';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { CartEvent } from './cart.ts';

// ---- Read model types ---------------------------------------------------------------------

const MoneyRef = builder.objectRef<Money>('Money').implement({
  description: 'An amount of money in minor units (cents) of its currency.',
  fields: (t) => ({
    amount: t.field({ type: 'SafeInt', description: 'Whole minor units, e.g. 1999 for 19.99.', resolve: (m) => m.amount }),
    currency: t.exposeString('currency', { description: 'ISO 4217 code, e.g. "EUR".' }),
  }),
});

const MoneyInput = builder.inputType('MoneyInput', {
  description: 'An amount in minor units with its currency.',
  fields: (t) => ({
    amount: t.int({ description: `Whole minor units, 0 to ${MAX_UNIT_PRICE}.` }),
    currency: t.string({ description: 'ISO 4217 code: three capital letters, e.g. "EUR".' }),
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

export const CartRef = builder.objectRef<CartView>('Cart').implement({
  description: 'A shopping cart as its projection holds it (updated in the same transaction as its events).',
  fields: (t) => ({
    id: t.exposeID('id', { description: 'The cart id, which is also its stream id.' }),
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
    version: t.exposeInt('version', { description: 'The stream version this state reflects; pass it as expectedVersion to guard a change.' }),
    openedAt: t.field({ type: 'DateTime', description: 'When the cart was opened.', resolve: (cart) => cart.openedAt }),
    updatedAt: t.field({ type: 'DateTime', description: 'When the cart last changed.', resolve: (cart) => cart.updatedAt }),
    checkedOutAt: t.field({ type: 'DateTime', nullable: true, description: 'When the cart was checked out; null while it is open.', resolve: (cart) => cart.checkedOutAt }),
  }),
});

// ---- Events -------------------------------------------------------------------------------

type Data<T> = RecordedEvent & { data: T };

eventObjectType('CartOpened', {
  description: 'A cart was opened for a customer.',
  fields: (t) => ({
    cartId: t.string({ description: 'The new cart.', resolve: (e: Data<{ cartId: string }>) => e.data.cartId }),
    customerId: t.string({ description: 'Whose cart it is.', resolve: (e: Data<{ customerId: string }>) => e.data.customerId }),
  }),
});
eventObjectType('CartItemAdded', {
  description: 'Some quantity of an item was put in a cart.',
  fields: (t) => ({
    sku: t.string({ description: 'Stock keeping unit of the item.', resolve: (e: Data<{ sku: string }>) => e.data.sku }),
    name: t.string({ description: 'Product name.', resolve: (e: Data<{ name: string }>) => e.data.name }),
    unitPrice: t.field({ type: MoneyRef, description: 'Price of one.', resolve: (e: Data<{ unitPrice: Money }>) => e.data.unitPrice }),
    quantity: t.int({ description: 'How many were added.', resolve: (e: Data<{ quantity: number }>) => e.data.quantity }),
  }),
});
eventObjectType('CartItemRemoved', {
  description: 'Some quantity of an item was taken out of a cart.',
  fields: (t) => ({
    sku: t.string({ description: 'Stock keeping unit of the item.', resolve: (e: Data<{ sku: string }>) => e.data.sku }),
    quantity: t.int({ description: 'How many were removed.', resolve: (e: Data<{ quantity: number }>) => e.data.quantity }),
  }),
});
eventObjectType('CartCheckedOut', {
  description: 'A cart was checked out; it is final from here on.',
  fields: (t) => ({
    total: t.field({ type: MoneyRef, description: 'What the cart came to.', resolve: (e: Data<{ total: Money }>) => e.data.total }),
    itemCount: t.int({ description: 'How many items it held, all lines together.', resolve: (e: Data<{ itemCount: number }>) => e.data.itemCount }),
  }),
});

// ---- Rule errors --------------------------------------------------------------------------

const cartIdField = (t: any) => ({ cartId: t.exposeString('cartId', { description: 'The cart the command addressed.' }) });
ruleErrorType(CartAlreadyOpenedError, { name: 'CartAlreadyOpenedError', description: 'A cart with this id exists already.', fields: cartIdField });
ruleErrorType(CartAlreadyCheckedOutError, { name: 'CartAlreadyCheckedOutError', description: 'The cart is checked out; it cannot change.', fields: cartIdField });
ruleErrorType(CartEmptyError, { name: 'CartEmptyError', description: 'An empty cart cannot be checked out.', fields: cartIdField });
ruleErrorType(ItemNotInCartError, {
  name: 'ItemNotInCartError',
  description: 'The item is not in the cart, or not in the quantity asked to remove.',
  fields: (t) => ({
    cartId: t.exposeString('cartId', { description: 'The cart the command addressed.' }),
    sku: t.exposeString('sku', { description: 'The item the command tried to remove.' }),
    requestedQuantity: t.exposeInt('requestedQuantity', { description: 'How many the command tried to remove.' }),
    quantityInCart: t.exposeInt('quantityInCart', { description: 'How many the cart holds (0 when absent).' }),
  }),
});
ruleErrorType(CartPriceMismatchError, {
  name: 'CartPriceMismatchError',
  description: 'The price disagrees with the cart: another currency, or another unit price for a SKU already in it.',
  fields: (t) => ({
    cartId: t.exposeString('cartId', { description: 'The cart the command addressed.' }),
    sku: t.exposeString('sku', { description: 'The item whose price disagrees.' }),
  }),
});

// ---- Commands -----------------------------------------------------------------------------

const successType = (name: string, verb: string) => viewCommandSuccessType(name, { field: 'cart', noun: 'cart', verb, type: CartRef });
const aggregate = { decider: cartDecider, view: cartView };

const rulesOf = {
  openCart: [CartAlreadyOpenedError],
  addItemToCart: [CartAlreadyCheckedOutError, CartPriceMismatchError],
  removeItemFromCart: [CartAlreadyCheckedOutError, ItemNotInCartError],
  checkoutCart: [CartAlreadyCheckedOutError, CartEmptyError],
};

const EXPECTED_VERSION = {
  required: false,
  description: 'Refuse with ConcurrencyError unless the cart is at this version. Omit to let the server retry on conflicts.',
} as const;
const checkedCartId = (check: InputCheck, id: string) => check.text('cartId', id, { max: 100, pattern: ID_PATTERN, patternHint: ID_HINT });
const checkedSku = (check: InputCheck, sku: string) => check.text('sku', sku, { max: 64 });

const OpenCartInput = builder.inputType('OpenCartInput', {
  description: 'What openCart needs.',
  fields: (t) => ({
    cartId: t.id({ required: false, description: 'Choose the id (URL-safe, up to 100 characters); generated when omitted.' }),
    customerId: t.string({ description: 'Whose cart it is.' }),
    commandId: t.id(COMMAND_ID_FIELD),
  }),
});
builder.mutationField('openCart', (t) =>
  t.field({
    type: successType('OpenCartSuccess', 'opened'),
    description: 'Opens a new, empty cart.',
    args: { input: t.arg({ type: OpenCartInput, description: 'The command.' }) },
    errors: { types: [...commandErrors, ...rulesOf.openCart], directResult: true, union: { name: 'OpenCartResult' } },
    resolve: async (_root, { input }, ctx) => {
      const check = new InputCheck();
      const commandId = check.optionalCommandId('commandId', input.commandId);
      // A replayed command id must address the cart its first run opened, so the id derives from it.
      const generatedId = commandId === undefined ? ctx.ids.uuid() : idFromCommandId(cartDecider.streamType, commandId);
      const cartId = input.cartId == null ? generatedId : checkedCartId(check, String(input.cartId));
      const customerId = check.text('customerId', input.customerId, { max: 100 });
      check.done();
      return runViewCommand(ctx, aggregate, cartId, { type: 'OpenCart', data: { cartId, customerId }, now: ctx.clock.now() }, { expectedVersion: undefined, commandId });
    },
  }),
);

const AddItemToCartInput = builder.inputType('AddItemToCartInput', {
  description: 'What addItemToCart needs.',
  fields: (t) => ({
    cartId: t.id({ description: 'The cart to add to.' }),
    sku: t.string({ description: 'Stock keeping unit, up to 64 characters.' }),
    name: t.string({ description: 'Product name, up to 200 characters.' }),
    unitPrice: t.field({ type: MoneyInput, description: 'Price of one, in minor units.' }),
    quantity: t.int({ description: `How many to add, 1 to ${MAX_QUANTITY}.` }),
    expectedVersion: t.int(EXPECTED_VERSION),
    commandId: t.id(COMMAND_ID_FIELD),
  }),
});
builder.mutationField('addItemToCart', (t) =>
  t.field({
    type: successType('AddItemToCartSuccess', 'updated'),
    description: 'Adds some quantity of an item to an open cart.',
    args: { input: t.arg({ type: AddItemToCartInput, description: 'The command.' }) },
    errors: { types: [...commandErrors, ...rulesOf.addItemToCart], directResult: true, union: { name: 'AddItemToCartResult' } },
    resolve: async (_root, { input }, ctx) => {
      const check = new InputCheck();
      const cartId = checkedCartId(check, String(input.cartId));
      const sku = checkedSku(check, input.sku);
      const name = check.text('name', input.name, { max: 200 });
      const currency = check.text('unitPrice.currency', input.unitPrice.currency, { max: 3, pattern: /^[A-Z]{3}$/, patternHint: 'must be an ISO 4217 code of three capital letters' });
      const amount = check.integer('unitPrice.amount', input.unitPrice.amount, 0, MAX_UNIT_PRICE);
      const quantity = check.integer('quantity', input.quantity, 1, MAX_QUANTITY);
      const expectedVersion = check.optionalVersion('expectedVersion', input.expectedVersion);
      const commandId = check.optionalCommandId('commandId', input.commandId);
      check.done();
      const data = { cartId, sku, name, unitPrice: { amount, currency }, quantity };
      return runViewCommand(ctx, aggregate, cartId, { type: 'AddItemToCart', data, now: ctx.clock.now() }, { expectedVersion, commandId });
    },
  }),
);

const RemoveItemFromCartInput = builder.inputType('RemoveItemFromCartInput', {
  description: 'What removeItemFromCart needs.',
  fields: (t) => ({
    cartId: t.id({ description: 'The cart to remove from.' }),
    sku: t.string({ description: 'Stock keeping unit of the item to remove.' }),
    quantity: t.int({ description: `How many to remove, 1 to ${MAX_QUANTITY}; at most what the cart holds.` }),
    expectedVersion: t.int(EXPECTED_VERSION),
    commandId: t.id(COMMAND_ID_FIELD),
  }),
});
builder.mutationField('removeItemFromCart', (t) =>
  t.field({
    type: successType('RemoveItemFromCartSuccess', 'updated'),
    description: 'Takes some quantity of an item out of an open cart. Removing what is not there is an ItemNotInCartError.',
    args: { input: t.arg({ type: RemoveItemFromCartInput, description: 'The command.' }) },
    errors: { types: [...commandErrors, ...rulesOf.removeItemFromCart], directResult: true, union: { name: 'RemoveItemFromCartResult' } },
    resolve: async (_root, { input }, ctx) => {
      const check = new InputCheck();
      const cartId = checkedCartId(check, String(input.cartId));
      const sku = checkedSku(check, input.sku);
      const quantity = check.integer('quantity', input.quantity, 1, MAX_QUANTITY);
      const expectedVersion = check.optionalVersion('expectedVersion', input.expectedVersion);
      const commandId = check.optionalCommandId('commandId', input.commandId);
      check.done();
      return runViewCommand(ctx, aggregate, cartId, { type: 'RemoveItemFromCart', data: { cartId, sku, quantity }, now: ctx.clock.now() }, { expectedVersion, commandId });
    },
  }),
);

const CheckoutCartInput = builder.inputType('CheckoutCartInput', {
  description: 'What checkoutCart needs.',
  fields: (t) => ({ cartId: t.id({ description: 'The cart to check out.' }), expectedVersion: t.int(EXPECTED_VERSION), commandId: t.id(COMMAND_ID_FIELD) }),
});
builder.mutationField('checkoutCart', (t) =>
  t.field({
    type: successType('CheckoutCartSuccess', 'checked out'),
    description: 'Checks out a non-empty open cart. After this the cart never changes.',
    args: { input: t.arg({ type: CheckoutCartInput, description: 'The command.' }) },
    errors: { types: [...commandErrors, ...rulesOf.checkoutCart], directResult: true, union: { name: 'CheckoutCartResult' } },
    resolve: async (_root, { input }, ctx) => {
      const check = new InputCheck();
      const cartId = checkedCartId(check, String(input.cartId));
      const expectedVersion = check.optionalVersion('expectedVersion', input.expectedVersion);
      const commandId = check.optionalCommandId('commandId', input.commandId);
      check.done();
      return runViewCommand(ctx, aggregate, cartId, { type: 'CheckoutCart', data: { cartId }, now: ctx.clock.now() }, { expectedVersion, commandId });
    },
  }),
);

// ---- Queries ------------------------------------------------------------------------------

builder.queryField('cart', (t) =>
  t.field({
    type: CartRef,
    nullable: true,
    description:
      'One cart from the projection; null when there is no such cart. With `asOf`, the cart as it was at that version or ' +
      'instant, rebuilt from its events by the same code that maintains the projection (null if it did not exist yet).',
    args: {
      id: t.arg.id({ description: 'The cart id.' }),
      asOf: t.arg({ type: AsOfInput, required: false, description: 'Travel back in time: the cart as it was at this version or instant.' }),
    },
    resolve: async (_root, args, ctx) => {
      const id = String(args.id);
      if (args.asOf != null) return viewAsOf(ctx.em, cartView, id, toAsOf(args.asOf));
      return (await ctx.em.findOne(CartRecord, id)) as CartView | null;
    },
  }),
);

const CartFilterInput = builder.inputType('CartFilter', {
  description: 'Narrows the cart list; all given conditions must hold.',
  fields: (t) => ({
    customerId: t.string({ required: false, description: "Only this customer's carts." }),
    status: t.field({ type: CartStatusEnum, required: false, description: 'Only carts in this status.' }),
  }),
});

builder.queryField('carts', (t) =>
  t.connection({
    type: CartRef,
    description: 'Carts, newest first, from the projection. Page with first/after or last/before (at most 100 a page, 20 by default).',
    args: { filter: t.arg({ type: CartFilterInput, required: false, description: 'Which carts to list; all when omitted.' }) },
    resolve: (_root, args, ctx) =>
      // Newest first, keyed on (openedAt, id) so deep pages cost what the first does.
      resolveCursorConnection<Promise<CartView[]>>({ args, toCursor: (cart: CartView) => encodeTimeIdCursor({ time: cart.openedAt, id: cart.id }), defaultSize: 20, maxSize: 100 }, async ({ before, after, limit, inverted }): Promise<CartView[]> => {
        const where = timeIdPageConditions('openedAt', { after, before });
        if (args.filter?.customerId != null) where.push({ customerId: args.filter.customerId });
        if (args.filter?.status != null) where.push({ status: args.filter.status });
        const direction = inverted ? 'asc' : 'desc';
        const rows = await ctx.em.find(CartRecord, { $and: where } as never, { orderBy: { openedAt: direction, id: direction } as never, limit });
        return rows as CartView[];
      }),
  }),
);

// ---- Subscriptions ------------------------------------------------------------------------

/**
 * The cart's current projection, then the projection after each of its events. The feed subscription
 * is opened before the row is read, so no change can fall between the two; events the row already
 * reflects are skipped by version. Later states come from the same pure `evolveCartView` the inline
 * projection runs, so the live path costs no database work per subscriber.
 */
async function* cartUpdates(events: FeedSubscription, em: EntityManager, cartId: string): AsyncGenerator<CartView | null> {
  try {
    const row = await em.findOne(CartRecord, cartId);
    let view: CartView | null = row ? ({ ...row } as CartView) : null;
    yield view;
    for await (const event of events) {
      if (view && event.version <= view.version) continue;
      const next = evolveCartView(view, event as RecordedEvent<CartEvent>);
      if (next === null || next === view) continue;
      view = next;
      yield view;
    }
  } finally {
    await events.return();
  }
}

builder.subscriptionField('cart', (t) =>
  t.field({
    type: CartRef,
    nullable: true,
    description:
      'One cart, live: first its current state, then its new state after every change to it, in order. When no cart ' +
      'has this id yet, the first message is null and the cart follows as soon as it is opened. If the server loses ' +
      'its database connection the subscription ends with a FEED_CLOSED error: subscribe again to get the current state.',
    args: { id: t.arg.id({ description: 'The cart id.' }) },
    subscribe: (_root, args, ctx) => {
      const check = new InputCheck();
      const cartId = checkedCartId(check, String(args.id));
      check.done();
      return cartUpdates(ctx.feed.subscribe({ filter: { streamId: cartId, streamType: cartDecider.streamType } }), ctx.em, cartId);
    },
    resolve: (view) => view,
  }),
);
