import { ForbiddenError, StaleReadError, UnauthenticatedError, ValidationError } from '../../core/errors.ts';
import type { ObjectRef } from '@pothos/core';
import type { Builder, SchemaTypes } from '../../graphql/builder.ts';
import type { Money } from './cart.ts';
import { awaitReadModel, CONSISTENT_WITH_DESCRIPTION } from '../../graphql/readYourWrites.ts';
import { productSalesRefusal } from './policy.ts';
import { PRODUCT_SALES, type ProductSaleView, readProductSales } from './productSales.ts';

const MAX_SALES = 500;

/** `productSales`: the asynchronous read model of units and revenue per SKU, with read-your-writes. */
export function productSalesGraphQL(builder: Builder, MoneyRef: ObjectRef<PothosSchemaTypes.ExtendDefaultTypes<SchemaTypes>, Money>): void {
  const ProductSaleRef = builder.objectRef<ProductSaleView>('ProductSale').implement({
    description: 'What one SKU sold in one currency, over every checked-out cart.',
    fields: (t) => ({
      sku: t.exposeString('sku', { description: 'Stock keeping unit.' }),
      name: t.exposeString('name', { description: 'The product name in the latest checkout that sold it.' }),
      unitsSold: t.field({ type: 'SafeInt', description: 'Units in checked-out carts.', resolve: (s) => s.unitsSold }),
      revenue: t.field({ type: MoneyRef, description: 'unitPrice × quantity summed over those carts.', resolve: (s) => ({ amount: s.revenue, currency: s.currency }) }),
      carts: t.exposeInt('carts', { description: 'Checked-out carts that held it.' }),
      lastSoldAt: t.field({ type: 'DateTime', description: 'When the latest of those carts was checked out.', resolve: (s) => s.lastSoldAt }),
    }),
  });
  const ProductSalesRef = builder.objectRef<{ items: ProductSaleView[] }>('ProductSales').implement({
    description: 'Product sales, best-selling (by revenue) first.',
    fields: (t) => ({ items: t.field({ type: [ProductSaleRef], description: 'One row per SKU and currency.', resolve: (page) => page.items }) }),
  });

  builder.queryField('productSales', (t) =>
    t.field({
      type: ProductSalesRef,
      description:
        'Units and revenue per SKU from checked-out carts: an asynchronous read model, kept by the `cart-product-sales` ' +
        'processor after each checkout commits. For support staff and administrators.',
      args: {
        consistentWith: t.arg.string({ required: false, description: CONSISTENT_WITH_DESCRIPTION }),
        sku: t.arg.string({ required: false, description: 'Only this SKU.' }),
        first: t.arg.int({ required: false, defaultValue: 100, description: `At most this many rows (up to ${MAX_SALES}).` }),
      },
      errors: { types: [StaleReadError, ValidationError, UnauthenticatedError, ForbiddenError], directResult: true, union: { name: 'ProductSalesResult' } },
      resolve: async (_root, args, ctx) => {
        const refusal = productSalesRefusal(ctx.identity);
        if (refusal) throw refusal;
        await awaitReadModel(ctx, PRODUCT_SALES, args.consistentWith);
        const limit = Math.max(0, Math.min(args.first ?? 100, MAX_SALES));
        return { items: await readProductSales(ctx.em, { ...(args.sku != null ? { sku: args.sku } : {}), limit }) };
      },
    }),
  );
}
