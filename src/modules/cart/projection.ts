import { defineEntity, p } from '@mikro-orm/core';
import type { RecordedEvent } from '../../core/message.ts';
import { assertNever } from '../../core/message.ts';
import { inlineStreamView, type StreamView } from '../../eventStore/projections/projection.ts';
import type { CartEvent } from './cart.ts';

export type CartStatus = 'OPEN' | 'CHECKED_OUT';

/** One line of the read model; money amounts are minor units in the cart's currency. */
export type CartLineView = {
  readonly sku: string;
  readonly name: string;
  readonly unitPrice: number;
  readonly quantity: number;
  readonly lineTotal: number;
};

/** The `carts` read model, one row per cart, as queries return it. */
export type CartView = {
  id: string;
  customerId: string;
  status: CartStatus;
  currency: string | null;
  lines: CartLineView[];
  itemCount: number;
  total: number;
  version: number;
  openedAt: Date;
  updatedAt: Date;
  checkedOutAt: Date | null;
};

export const CartRecord = defineEntity({
  name: 'Cart',
  tableName: 'carts',
  // Keyset pages newest first, overall and per filter (see Query.carts). Declared as in migrations/
  // so the ORM's schema diff stays empty; the customer index is written as SQL because the column
  // form of a snake_case column compared unequal to itself in MikroORM's schema diff.
  indexes: [
    { name: 'carts_listing_idx', columns: [{ name: 'openedAt', sort: 'desc' }, { name: 'id', sort: 'desc' }] },
    { name: 'carts_customer_idx', expression: 'create index "carts_customer_idx" on "carts" ("customer_id", "opened_at" desc, "id" desc)' },
    { name: 'carts_status_idx', columns: [{ name: 'status', sort: 'asc' }, { name: 'openedAt', sort: 'desc' }, { name: 'id', sort: 'desc' }] },
  ],
  properties: {
    id: p.text().primary(),
    customerId: p.text(),
    status: p.text().$type<CartStatus>(),
    currency: p.text().nullable().$type<string | null>(),
    lines: p.json<CartLineView[]>().defaultRaw(`'[]'::jsonb`),
    itemCount: p.integer().default(0),
    total: p.bigint('number').defaultRaw('0'),
    version: p.integer(),
    openedAt: p.datetime().columnType('timestamptz'),
    updatedAt: p.datetime().columnType('timestamptz'),
    checkedOutAt: p.datetime().columnType('timestamptz').nullable().$type<Date | null>(),
  },
});

/** The read model as a view of each stream, kept inline by the append and rebuilt by `evolveCartView` for time travel. */
export const cartView: StreamView<CartView, CartEvent> = {
  name: 'carts',
  streamType: 'Cart',
  version: 1,
  entity: CartRecord as never,
  evolve: evolveCartView,
  // After a revert the row is the one at the target version, as of the revert: `version` stays the stream's.
  reverted: (view, event) => ({ ...view, version: event.version, updatedAt: event.recordedAt }),
};
export const cartProjection = inlineStreamView(cartView);

function withLines(view: CartView, lines: CartLineView[], event: RecordedEvent): CartView {
  let itemCount = 0;
  let total = 0;
  for (const line of lines) {
    itemCount += line.quantity;
    total += line.lineTotal;
  }
  return { ...view, lines, itemCount, total, version: event.version, updatedAt: event.recordedAt };
}

/** Pure: the cart view after one event. Used live (inline) and for `asOf` rebuilds alike. */
export function evolveCartView(view: CartView | null, event: RecordedEvent<CartEvent>): CartView | null {
  if (event.type === 'CartOpened') {
    return {
      id: event.data.cartId,
      customerId: event.data.customerId,
      status: 'OPEN',
      currency: null,
      lines: [],
      itemCount: 0,
      total: 0,
      version: event.version,
      openedAt: event.recordedAt,
      updatedAt: event.recordedAt,
      checkedOutAt: null,
    };
  }
  if (view === null) return null;
  switch (event.type) {
    case 'CartItemAdded': {
      const { sku, productName, unitPrice, quantity } = event.data;
      const existing = view.lines.find((line) => line.sku === sku);
      const merged = existing
        ? view.lines.map((line) => (line.sku === sku ? { ...line, quantity: line.quantity + quantity, lineTotal: (line.quantity + quantity) * line.unitPrice } : line))
        : [...view.lines, { sku, name: productName, unitPrice: unitPrice.amount, quantity, lineTotal: unitPrice.amount * quantity }];
      return { ...withLines(view, merged, event), currency: view.currency ?? unitPrice.currency };
    }
    case 'CartItemRemoved': {
      const { sku, quantity } = event.data;
      const lines = view.lines
        .map((line) => (line.sku === sku ? { ...line, quantity: line.quantity - quantity, lineTotal: (line.quantity - quantity) * line.unitPrice } : line))
        .filter((line) => line.quantity > 0);
      return withLines(view, lines, event);
    }
    case 'CartCheckedOut':
      return { ...view, status: 'CHECKED_OUT', version: event.version, updatedAt: event.recordedAt, checkedOutAt: event.recordedAt };
    default:
      return assertNever(event);
  }
}
