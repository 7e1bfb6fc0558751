import { defineEntity, p } from '@mikro-orm/core';
import type { UpcasterRegistry } from '../../eventStore/log/upcasters.ts';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { RecordedEvent } from '../../core/message.ts';
import { query } from '../../db/sql.ts';
import { EVENT_COLUMNS, type EventRow, toRecordedEvent } from '../../eventStore/log/recorded.ts';
import type { ProcessorDefinition } from '../../eventStore/processors/processorDefinition.ts';
import { type CartEvent, type CartState, evolve, initialState } from './cart.ts';

/** The read model's name, as queries wait on it (`consistentWith`). */
export const PRODUCT_SALES = 'productSales';

/** Units and revenue (minor units of `currency`) per SKU over every checked-out cart. */
export type ProductSaleView = {
  sku: string;
  currency: string;
  /** The product's name in the latest checkout that sold it. */
  name: string;
  unitsSold: number;
  revenue: number;
  /** Checked-out carts that held it. */
  carts: number;
  lastSoldAt: Date;
};

export const ProductSaleRecord = defineEntity({
  name: 'ProductSale',
  tableName: 'product_sales',
  properties: {
    sku: p.text().primary(),
    currency: p.text().primary(),
    name: p.text(),
    unitsSold: p.bigint('number').fieldName('units_sold'),
    revenue: p.bigint('number'),
    carts: p.integer(),
    lastSoldAt: p.datetime().columnType('timestamptz').fieldName('last_sold_at'),
  },
});

type Sale = { sku: string; currency: string; name: string; units: number; revenue: number; carts: number; at: Date };

/** What one checkout sold: the cart's lines as its own events left them at the checkout's version. */
export function salesOfCheckout(history: readonly RecordedEvent<CartEvent>[], checkout: RecordedEvent): Sale[] {
  let state: CartState = initialState();
  for (const event of history) if (event.version < checkout.version) state = evolve(state, event);
  if (state.status !== 'Open') return [];
  return Object.values(state.lines).map((line) => ({
    sku: line.sku,
    currency: line.unitPrice.currency,
    name: line.name,
    units: line.quantity,
    revenue: line.quantity * line.unitPrice.amount,
    carts: 1,
    at: checkout.recordedAt,
  }));
}

/**
 * Keeps product_sales from checkouts, after they commit: a transactional processor, so each
 * checkout is counted exactly once, and a reset rebuilds the table from the log.
 */
export const productSalesProcessor: ProcessorDefinition = {
  name: 'cart-product-sales',
  filter: { streamTypes: ['Cart'], eventTypes: ['CartCheckedOut'] },
  delivery: 'transactional',
  readModel: PRODUCT_SALES,
  async handle(events, { em, upcasters }) {
    const totals = new Map<string, Sale>();
    // The checkout's event carries totals only; the lines are in the carts' earlier events: one read for the batch.
    const histories = await cartHistories(em, upcasters, events);
    for (const checkout of events) {
      for (const sale of salesOfCheckout(histories.get(checkout.streamId) ?? [], checkout)) {
        const key = `${sale.sku}\u0000${sale.currency}`;
        const sum = totals.get(key);
        totals.set(key, sum ? { ...sale, units: sum.units + sale.units, revenue: sum.revenue + sale.revenue, carts: sum.carts + 1 } : sale);
      }
    }
    await upsertSales(em, [...totals.values()]);
  },
  async reset(em) {
    await query(em, 'delete from product_sales');
  },
};

/** Each checked-out cart's events, in version order. */
async function cartHistories(em: EntityManager, upcasters: UpcasterRegistry, checkouts: readonly RecordedEvent[]): Promise<Map<string, RecordedEvent<CartEvent>[]>> {
  const rows = await query<EventRow>(
    em,
    // salesOfCheckout takes each stream up to its checkout; a checked-out cart takes no later events anyway.
    `select ${EVENT_COLUMNS} from events where stream_id = any($1::text[]) order by stream_id, stream_version`,
    [[...new Set(checkouts.map((c) => c.streamId))]],
  );
  const histories = new Map<string, RecordedEvent<CartEvent>[]>();
  for (const row of rows) {
    const event = toRecordedEvent(row, upcasters) as RecordedEvent<CartEvent>;
    const history = histories.get(event.streamId) ?? [];
    history.push(event);
    histories.set(event.streamId, history);
  }
  return histories;
}

async function upsertSales(em: EntityManager, sales: readonly Sale[]): Promise<void> {
  if (sales.length === 0) return;
  await query(
    em,
    `insert into product_sales (sku, currency, name, units_sold, revenue, carts, last_sold_at)
     select * from unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::int[], $7::timestamptz[])
     on conflict (sku, currency) do update set
       name = excluded.name,
       units_sold = product_sales.units_sold + excluded.units_sold,
       revenue = product_sales.revenue + excluded.revenue,
       carts = product_sales.carts + excluded.carts,
       last_sold_at = greatest(product_sales.last_sold_at, excluded.last_sold_at)`,
    [
      sales.map((s) => s.sku),
      sales.map((s) => s.currency),
      sales.map((s) => s.name),
      sales.map((s) => s.units),
      sales.map((s) => s.revenue),
      sales.map((s) => s.carts),
      sales.map((s) => s.at),
    ],
  );
}

/** The read model's rows, best-selling first (by revenue, then SKU). */
export async function readProductSales(em: EntityManager, options: { sku?: string; limit: number }): Promise<ProductSaleView[]> {
  const rows = await em.find(ProductSaleRecord, options.sku !== undefined ? { sku: options.sku } : {}, {
    orderBy: { revenue: 'desc', sku: 'asc', currency: 'asc' },
    limit: options.limit,
  });
  return rows.map((row) => ({ ...row }));
}
