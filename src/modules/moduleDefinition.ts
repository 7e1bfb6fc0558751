import type { EntitySchema, MigrationObject } from '@mikro-orm/core';
import type { Decider } from '../core/decider.ts';
import type { Policy } from '../core/policy.ts';
import type { ProcessorDefinition } from '../eventStore/processors/processorDefinition.ts';
import type { InlineProjection } from '../eventStore/projections/projection.ts';
import type { Upcaster } from '../eventStore/log/upcasters.ts';
import type { SnapshotPolicy } from '../eventStore/snapshots/snapshots.ts';
import type { GraphQLRegistration } from '../graphql/schema.ts';

/** A ready-made operation GraphiQL opens a tab with. */
export type GraphiqlTab = { readonly query: string; readonly variables?: string };

/**
 * Everything one aggregate brings to the app, exported by `src/modules/<name>/module.ts`. The app
 * reads nothing of a module but this: the ORM gets its entities, the migrator its migrations (run
 * after the event store's, in the order of the module list), the append its inline projections,
 * the processor runners its processors, the schema its GraphQL registration, GraphiQL its example tabs.
 */
export type ModuleDefinition = {
  /** Unique among modules; used in logs. */
  readonly name: string;
  /** The aggregates' pure behaviour. */
  readonly deciders: readonly Decider<any, any, any>[];
  /** Who may run each command and see each stream: one policy per decider, for its stream type. */
  readonly policies: readonly Policy<any, any>[];
  /** Read-model entities (MikroORM `defineEntity` schemas). */
  readonly entities: readonly EntitySchema<any, any>[];
  /** Projections that commit in the same transaction as the events, in the order they run. */
  readonly projections: readonly InlineProjection[];
  /** The module's own tables, as migrations named `MigrationYYYYMMDDhhmmss_what` (unique across modules). */
  readonly migrations: readonly MigrationObject[];
  readonly graphql: GraphQLRegistration;
  /** GraphiQL tabs, shown in the order of the module list. */
  readonly graphiqlTabs?: readonly GraphiqlTab[];
  /**
   * Checkpointed consumers of the log, run after commits in exactly one API process each (see
   * docs/processors.md): asynchronous read models, calls to other systems. Names are unique across the app.
   */
  readonly processors?: readonly ProcessorDefinition[];
  /**
   * The steps that bring an older payload of the module's event types up to the version its
   * decider writes (`schemaVersions`): one per event type and version n to n + 1, from 1. Checked
   * when the app is composed; applied on every read of the log. See docs/evolving.md.
   */
  readonly upcasters?: readonly Upcaster[];
  /** Which of the module's deciders keep snapshots, how often, and of which state shape. See docs/evolving.md. */
  readonly snapshots?: readonly SnapshotPolicy[];
};
