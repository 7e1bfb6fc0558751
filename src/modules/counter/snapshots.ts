import { snapshotPolicy } from '../../eventStore/snapshots/snapshots.ts';
import { counterDecider } from './counter.ts';

/**
 * A counter is the one aggregate here whose stream grows without end (every visit an event), so a
 * cold command would otherwise fold all of it. Its state is plain JSON. Bump `version` with any
 * change to CounterState or to what evolve makes of an event: old snapshots are then ignored.
 */
export const counterSnapshots = snapshotPolicy(counterDecider, { every: 100, version: 1 });
