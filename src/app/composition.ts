import type { GraphQLSchema } from 'graphql';
import type { OrmSchema } from '../db/orm.ts';
import type { Policy } from '../core/policy.ts';
import type { ProcessorDefinition } from '../eventStore/processors/processorDefinition.ts';
import type { InlineProjection } from '../eventStore/projections/projection.ts';
import { eventStoreEntities, eventStoreMigrations } from '../eventStore/storage.ts';
import { UpcasterRegistry } from '../eventStore/log/upcasters.ts';
import { type SnapshotPolicy, snapshotPolicies } from '../eventStore/snapshots/snapshots.ts';
import { buildSchema } from '../graphql/schema.ts';
import type { GraphiqlTab, ModuleDefinition } from '../modules/moduleDefinition.ts';

/** What the app is made of, read from a module list and nothing else. */
export type Composition = {
  readonly modules: readonly ModuleDefinition[];
  readonly orm: OrmSchema;
  readonly projections: readonly InlineProjection[];
  /** The core's processors (given by the app, such as the broker forwarder), then each module's. */
  readonly processors: readonly ProcessorDefinition[];
  /** Each stream type's policy. */
  readonly policies: ReadonlyMap<string, Policy<any, any>>;
  readonly schema: GraphQLSchema;
  readonly graphiqlTabs: readonly GraphiqlTab[];
  /** Every event type's current version and upcasters, for every reader of the log. */
  readonly upcasters: UpcasterRegistry;
  /** The deciders that keep snapshots, by stream type. */
  readonly snapshots: ReadonlyMap<string, SnapshotPolicy>;
};

export function compose(modules: readonly ModuleDefinition[], options: { coreProcessors?: readonly ProcessorDefinition[] } = {}): Composition {
  const names = new Set<string>();
  for (const module of modules) {
    if (names.has(module.name)) throw new Error(`Two modules are named ${module.name}`);
    names.add(module.name);
  }
  const policies = new Map(modules.flatMap((m) => m.policies.map((policy) => [policy.streamType, policy] as const)));
  for (const decider of modules.flatMap((m) => m.deciders)) {
    if (!policies.has(decider.streamType)) throw new Error(`${decider.streamType} has no policy: every aggregate needs one in its module`);
  }
  const deciders = modules.flatMap((m) => m.deciders);
  const eventTypes = deciders.flatMap((decider) =>
    Object.entries(decider.schemaVersions as Record<string, number>).map(([eventType, currentVersion]) => ({ streamType: decider.streamType, eventType, currentVersion })),
  );
  // Checked here, at start: a missing or misplaced upcaster must stop the app, not fail a read later.
  const upcasters = new UpcasterRegistry(eventTypes, modules.flatMap((m) => m.upcasters ?? []));
  const snapshots = snapshotPolicies(modules.flatMap((m) => m.snapshots ?? []), new Set(deciders.map((d) => d.streamType)));
  const processors = [...(options.coreProcessors ?? []), ...modules.flatMap((m) => m.processors ?? [])];
  const processorNames = new Set<string>();
  for (const processor of processors) {
    if (processorNames.has(processor.name)) throw new Error(`Two processors are named ${processor.name}`);
    processorNames.add(processor.name);
  }
  let schema: GraphQLSchema | undefined;
  return {
    upcasters,
    snapshots,
    modules,
    policies,
    orm: {
      entities: [...eventStoreEntities, ...modules.flatMap((m) => m.entities)],
      migrations: [...eventStoreMigrations, ...modules.flatMap((m) => m.migrations)],
    },
    projections: modules.flatMap((m) => m.projections),
    processors,
    // Built on first use: the ORM, migrations and policies are wanted without a schema too (tests, bench).
    get schema() {
      return (schema ??= buildSchema(modules.map((m) => m.graphql), modules.flatMap((m) => m.deciders)));
    },
    graphiqlTabs: modules.flatMap((m) => m.graphiqlTabs ?? []),
  };
}
