import { upcaster } from '../../eventStore/log/upcasters.ts';
import type { CartItemAdded, Money } from './cart.ts';

/** CartItemAdded as releases before schema version 2 wrote it: the product's name was `name`. */
type CartItemAddedV1 = { readonly sku: string; readonly name: string; readonly unitPrice: Money; readonly quantity: number };

/**
 * `name` on an item event was read as the cart's or the customer's name by the teams consuming the
 * feed, so version 2 says what it is: `productName`. Carts already in the log are read the new way.
 */
const itemAddedV1ToV2 = upcaster<CartItemAddedV1, CartItemAdded['data']>({
  streamType: 'Cart',
  eventType: 'CartItemAdded',
  fromVersion: 1,
  upcast: ({ name, ...rest }) => ({ ...rest, productName: name }),
});

export const cartUpcasters = [itemAddedV1ToV2];
