import type { ModuleDefinition } from '../moduleDefinition.ts';
import { Migration20261201000100_counter_readers } from './migrations/Migration20261201000100_counter_readers.ts';
import { counterPolicy } from './policy.ts';
import { counterGraphiqlTabs } from './graphiql.ts';
import { counterDecider } from './counter.ts';
import { counterGraphQL } from './graphql.ts';
import { Migration20261123040000_counters } from './migrations/Migration20261123040000_counters.ts';
import { CounterRecord, counterProjection } from './projection.ts';
import { counterSnapshots } from './snapshots.ts';

/** Counters that go up and down but never below zero. */
export const counterModule: ModuleDefinition = {
  name: 'counter',
  deciders: [counterDecider],
  policies: [counterPolicy],
  entities: [CounterRecord],
  projections: [counterProjection],
  migrations: [{ name: 'Migration20261123040000_counters', class: Migration20261123040000_counters }, { name: 'Migration20261201000100_counter_readers', class: Migration20261201000100_counter_readers }],
  snapshots: [counterSnapshots],
  graphql: counterGraphQL,
  graphiqlTabs: counterGraphiqlTabs,
};
