import { type GraphQLSchema, lexicographicSortSchema, printSchema } from 'graphql';
import { type Builder, createBuilder } from './builder.ts';
import { registerErrorTypes } from './errors.ts';
import { registerEventTypes } from './events.ts';
import { registerEventTypeCatalogue } from './eventTypes.ts';
import { registerHistory } from './history.ts';
import { registerRevert } from './revert.ts';
import type { Decider } from '../core/decider.ts';
import { registerReadModels } from './readModels.ts';
import { registerProcessors } from './processors.ts';
import { registerScalars } from './scalars.ts';

/** What a module adds to the schema: its types, and its query, mutation and subscription fields. */
export type GraphQLRegistration = (builder: Builder) => void;

/**
 * The schema of the core (events, history, errors, scalars, reverting any of `deciders`' streams, the processors' admin API) and
 * of the given registrations, in order.
 */
export function buildSchema(registrations: readonly GraphQLRegistration[], deciders: readonly Decider<any, any, any>[] = []): GraphQLSchema {
  const builder = createBuilder();
  builder.queryType({ description: 'Reads. Everything here reads projections, except the event history and time travel.' });
  builder.mutationType({ description: 'Commands. Each is validated, decided against current state and appended atomically.' });
  builder.subscriptionType({ description: 'Live feeds over graphql-ws on the same /graphql path.' });
  registerScalars(builder);
  registerErrorTypes(builder);
  registerEventTypes(builder);
  registerHistory(builder);
  registerRevert(builder, deciders);
  registerEventTypeCatalogue(builder);
  registerReadModels(builder);
  registerProcessors(builder);
  for (const register of registrations) register(builder);
  return builder.toSchema({ sortSchema: true });
}

/** The SDL as committed at schema/schema.graphql: printed and sorted, so a diff shows only real changes. */
export const printSortedSchema = (schema: GraphQLSchema): string => printSchema(lexicographicSortSchema(schema)) + '\n';
