import { defineEntity, p } from '@mikro-orm/core';
import type { RecordedEvent } from '../../core/message.ts';
import { assertNever } from '../../core/message.ts';
import { inlineStreamView, type StreamView } from '../../eventStore/projections/projection.ts';
import type { CounterEvent } from './counter.ts';

/** The `counters` read model, one row per counter, as queries return it. */
export type CounterView = {
  id: string;
  value: number;
  /** How many resets the counter has seen. */
  resetCount: number;
  version: number;
  createdAt: Date;
  updatedAt: Date;
};

export const CounterRecord = defineEntity({
  name: 'Counter',
  tableName: 'counters',
  // Mirrors migrations/ so the ORM's schema diff against a migrated database stays empty.
  indexes: [{ name: 'counters_listing_idx', columns: [{ name: 'createdAt', sort: 'desc' }, { name: 'id', sort: 'desc' }] }],
  checks: [{ name: 'counters_value_check', expression: 'value >= 0' }],
  properties: {
    id: p.text().primary(),
    value: p.bigint('number'),
    resetCount: p.integer().default(0),
    version: p.integer(),
    createdAt: p.datetime().columnType('timestamptz'),
    updatedAt: p.datetime().columnType('timestamptz'),
  },
});

/** The read model as a view of each stream, kept inline by the append and rebuilt by `evolveCounterView` for time travel. */
export const counterView: StreamView<CounterView, CounterEvent> = {
  name: 'counters',
  streamType: 'Counter',
  version: 1,
  entity: CounterRecord as never,
  evolve: evolveCounterView,
  // After a revert the row is the one at the target version, as of the revert: `version` stays the stream's.
  reverted: (view, event) => ({ ...view, version: event.version, updatedAt: event.recordedAt }),
};
export const counterProjection = inlineStreamView(counterView);

/** Pure: the counter view after one event. Used live (inline) and for `asOf` rebuilds alike. */
export function evolveCounterView(view: CounterView | null, event: RecordedEvent<CounterEvent>): CounterView {
  // A counter needs no creation event: its first event, whatever it is, brings the row into being.
  const current: CounterView = view ?? { id: event.streamId, value: 0, resetCount: 0, version: 0, createdAt: event.recordedAt, updatedAt: event.recordedAt };
  const touched = { version: event.version, updatedAt: event.recordedAt };
  switch (event.type) {
    case 'CounterIncremented':
    case 'CounterDecremented':
      return { ...current, ...touched, value: event.data.value };
    case 'CounterReset':
      return { ...current, ...touched, value: 0, resetCount: current.resetCount + 1 };
    default:
      return assertNever(event);
  }
}
