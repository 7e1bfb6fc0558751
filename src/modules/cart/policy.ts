import { ForbiddenError, UnauthenticatedError } from '../../core/errors.ts';
import { type Identity, isAdmin, principal } from '../../core/identity.ts';
import { assertNever } from '../../core/message.ts';
import type { Policy } from '../../core/policy.ts';
import type { CartCommand, CartState } from './cart.ts';

/** Support staff see every cart (to help customers) but change none. */
export const CART_READER_ROLES = ['support'] as const;

/**
 * A cart belongs to the customer who opened it: only they (and administrators) change it, and they,
 * support staff and administrators see it. A customer opens carts for themselves only.
 */
export const cartPolicy: Policy<CartCommand, CartState> = {
  streamType: 'Cart',
  authorize(identity, command, state) {
    if (identity.kind === 'anonymous') return new UnauthenticatedError();
    if (isAdmin(identity)) return undefined;
    switch (command.type) {
      case 'OpenCart':
        return command.data.customerId === identity.subject ? undefined : new ForbiddenError('Cart', command.data.cartId, 'A customer opens carts for themselves only');
      case 'AddItemToCart':
      case 'RemoveItemFromCart':
      case 'CheckoutCart':
        // A cart that does not exist is the decider's NotFoundError, for everyone alike.
        if (state.status === 'Empty' || state.customerId === identity.subject) return undefined;
        return new ForbiddenError('Cart', command.data.cartId, 'Only the customer who opened the cart may change it');
      default:
        return assertNever(command);
    }
  },
  readers: (state) => (state.status === 'Empty' ? [] : [principal.subject(state.customerId), ...CART_READER_ROLES.map(principal.role)]),
};

/** The carts read model's rows a caller sees, as the policy's readers say: their own, or all for support and administrators. */
export function cartRowsVisibleTo(identity: Identity): Record<string, unknown> | null {
  if (identity.kind === 'anonymous') return null;
  if (isAdmin(identity) || CART_READER_ROLES.some((role) => identity.roles.includes(role))) return {};
  return { customerId: identity.subject };
}

/**
 * Product sales add up every customer's checkouts, so only those who see every cart may read them:
 * support staff and administrators. Undefined when `identity` may.
 */
export function productSalesRefusal(identity: Identity): UnauthenticatedError | ForbiddenError | undefined {
  if (identity.kind === 'anonymous') return new UnauthenticatedError();
  if (isAdmin(identity) || CART_READER_ROLES.some((role) => identity.roles.includes(role))) return undefined;
  return new ForbiddenError('ProductSales', 'all', 'Only support staff and administrators see product sales');
}
