import type { ModuleDefinition } from '../moduleDefinition.ts';
import { counterGraphiqlTabs } from './graphiql.ts';
import { counterDecider } from './counter.ts';
import { counterGraphQL } from './graphql.ts';
import { Migration20261123040000_counters } from './migrations/Migration20261123040000_counters.ts';
import { CounterRecord, counterProjection } from './projection.ts';

/** Counters that go up and down but never below zero. */
export const counterModule: ModuleDefinition = {
  name: 'counter',
  deciders: [counterDecider],
  entities: [CounterRecord],
  projections: [counterProjection],
  migrations: [{ name: 'Migration20261123040000_counters', class: Migration20261123040000_counters }],
  graphql: counterGraphQL,
  graphiqlTabs: counterGraphiqlTabs,
};
