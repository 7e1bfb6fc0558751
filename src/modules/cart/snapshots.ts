import { snapshotPolicy } from '../../eventStore/snapshots/snapshots.ts';
import { cartDecider } from './cart.ts';

/**
 * A cart's state is plain JSON (its lines keyed by sku), so it is stored as it is. Bump `version`
 * with any change to CartState or to what evolve makes of an event: old snapshots are then ignored.
 */
export const cartSnapshots = snapshotPolicy(cartDecider, { every: 100, version: 1 });
