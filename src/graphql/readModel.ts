import type { FieldMap, InputObjectRef, ObjectRef } from '@pothos/core';
import { resolveCursorConnection } from '@pothos/plugin-relay';
import type { EntityName, EntitySchema } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';
import { ValidationError } from '../core/errors.ts';
import type { Event, RecordedEvent } from '../core/message.ts';
import { type Identity, mayRead } from '../core/identity.ts';
import { mayReadStream } from '../eventStore/access/streamAccess.ts';
import type { GraphQLContext } from './context.ts';
import type { FeedSubscription } from '../eventStore/feed/feed.ts';
import type { AsOf } from '../eventStore/log/read.ts';
import type { StreamView } from '../eventStore/projections/projection.ts';
import { viewAsOf } from '../eventStore/projections/timeTravel.ts';
import { isReverted } from '../eventStore/log/reverts.ts';
import type { Builder, SchemaTypes } from './builder.ts';
import { encodeTimeIdCursor, timeIdPageConditions } from './keysetCursor.ts';
import { idShape } from './inputShapes.ts';
import { perSchema } from './perSchema.ts';

type Types = PothosSchemaTypes.ExtendDefaultTypes<SchemaTypes>;
type Row = { readonly id: string; readonly version: number };

/**
 * Which rows of a read model a caller may see, as MikroORM conditions on the row (so listings stay
 * index-served): `{}` for all, null for none. It says of rows what the aggregate's policy says of
 * streams with `readers`; the module keeps both side by side.
 */
export type RowVisibility = (identity: Identity) => Record<string, unknown> | null;

/** The row with this id, if the caller may see it. */
async function visibleRow<V extends Row>(em: EntityManager, entity: EntityName<V>, visibleTo: RowVisibility, identity: Identity, id: string): Promise<V | null> {
  const visible = visibleTo(identity);
  if (visible === null) return null;
  return (await em.findOne(entity, { $and: [visible, { id }] } as never)) as V | null;
}

/** `asOf` for a single-aggregate query: exactly one of a version or an instant. */
const asOfInput = perSchema((builder) =>
  builder.inputType('AsOf', {
    description: "A point in an aggregate's past: give exactly one of `version` or `time`.",
    isOneOf: true,
    fields: (t) => ({
      version: t.int({ required: false, description: 'The state right after this stream version (0 is before the first event).' }),
      time: t.field({ type: 'DateTime', required: false, description: 'The state as it stood at this instant: every event recorded at or before it.' }),
    }),
  }),
);

function toAsOf(asOf: { version?: number | null; time?: Date | null }): AsOf {
  if (asOf.version != null) {
    if (asOf.version < 0) throw new ValidationError('asOf.version must not be negative', [{ path: 'asOf.version', message: 'must be 0 or more' }]);
    return { version: asOf.version };
  }
  if (asOf.time != null) return { time: asOf.time };
  throw new ValidationError('asOf needs exactly one of version or time', [{ path: 'asOf', message: 'give version or time' }]);
}

/**
 * A read model's row type as a Relay node: `id` is the global id (so a client cache never mixes a
 * cart with the stream of the same id), `<noun>Id` the aggregate's own id, and `node(id:)` loads it.
 */
export function readModelNode<V extends Row>(
  builder: Builder,
  options: {
    name: string;
    noun: string;
    entity: EntitySchema<V> | EntityName<V>;
    visibleTo: RowVisibility;
    description: string;
    fields: (t: PothosSchemaTypes.ObjectFieldBuilder<Types, V>) => FieldMap;
  },
): ObjectRef<Types, V> {
  // Rows reach the Node interface from several loaders at once (node, nodes, and the request cache they
  // share), so the type is recognised by the row's shape rather than by a brand a race can miss.
  const properties = Object.keys((options.entity as EntitySchema<V>).meta.properties);
  return builder.node(builder.objectRef<V>(options.name), {
    description: options.description,
    isTypeOf: (value) => typeof value === 'object' && value !== null && properties.every((property) => property in value),
    id: { resolve: (row) => row.id },
    loadOne: (id, ctx) => visibleRow(ctx.em, options.entity, options.visibleTo, ctx.identity, id),
    fields: (t) => ({
      [`${options.noun}Id`]: t.string({ description: `The ${options.noun} id, which is also its stream id.`, resolve: (row) => row.id }),
      version: t.int({ description: 'The stream version this state reflects; pass it as expectedVersion to guard a change.', resolve: (row) => row.version }),
      ...options.fields(t),
    }),
  }) as unknown as ObjectRef<Types, V>;
}

/**
 * `<noun>(id, asOf)`: one row of the read model, or with `asOf` the row as it was at a version or an
 * instant, rebuilt from the stream's events by the same `evolve` that maintains the projection.
 */
export function readModelQuery<E extends Event, V extends Row>(
  builder: Builder,
  aggregate: { readonly view: StreamView<V, E>; readonly ref: ObjectRef<Types, V>; readonly noun: string; readonly visibleTo: RowVisibility },
  options: { description: string },
): void {
  const { view, ref, noun, visibleTo } = aggregate;
  builder.queryField(noun, (t) =>
    t.field({
      type: ref,
      nullable: true,
      description:
        `${options.description} With \`asOf\`, the ${noun} as it was at that version or instant, rebuilt from its events ` +
        'by the same code that maintains the projection (null if it did not exist yet).',
      args: {
        id: t.arg.id({ description: `The ${noun} id.` }),
        asOf: t.arg({ type: asOfInput(builder), required: false, description: `Travel back in time: the ${noun} as it was at this version or instant.` }),
      },
      // Typed by `ref`; Pothos cannot relate a generic row type to it, hence the cast.
      resolve: (async (_root: unknown, args: { id: string; asOf?: { version?: number | null; time?: Date | null } | null }, ctx: GraphQLContext) => {
        const id = String(args.id);
        if (args.asOf == null) return visibleRow(ctx.em, view.entity, visibleTo, ctx.identity, id);
        // The past is the stream's: whoever may read the stream may see any version of it.
        return (await mayReadStream(ctx.em, ctx.identity, id)) ? viewAsOf(ctx.em, ctx.upcasters, view, id, toAsOf(args.asOf)) : null;
      }) as never,
    }),
  );
}

/**
 * A keyset-paged listing of a read model, newest first by `timeField` (ties broken by id), so the
 * hundredth page costs what the first does. `filter` adds an input whose given fields narrow it.
 */
export function keysetListing<V extends Row, F extends object = never>(
  builder: Builder,
  options: {
    readonly field: string;
    readonly ref: ObjectRef<Types, V>;
    readonly typeName: string;
    readonly entity: EntityName<V>;
    readonly timeField: keyof V & string;
    readonly visibleTo: RowVisibility;
    readonly description: string;
    readonly filter?: { readonly input: InputObjectRef<Types, F>; readonly description: string; readonly where: (filter: F) => Record<string, unknown>[] };
  },
): void {
  const page = { defaultSize: 20, maxSize: 100 };
  builder.queryField(options.field, (t) =>
    t.connection(
      {
        type: options.ref,
        description: `${options.description} Page with first/after or last/before (at most ${page.maxSize} a page, ${page.defaultSize} by default).`,
        args: options.filter ? { filter: t.arg({ type: options.filter.input, required: false, description: options.filter.description }) } : {},
        resolve: (_root, args, ctx) =>
          resolveCursorConnection<Promise<V[]>>(
            { args, toCursor: (row: V) => encodeTimeIdCursor({ time: row[options.timeField] as Date, id: row.id }), ...page },
            async ({ before, after, limit, inverted }): Promise<V[]> => {
              const visible = options.visibleTo(ctx.identity);
              if (visible === null) return [];
              const where = [visible, ...timeIdPageConditions(options.timeField, { after, before })];
              const filter = (args as { filter?: F | null }).filter;
              if (filter != null && options.filter) where.push(...options.filter.where(filter));
              const direction = inverted ? 'asc' : 'desc';
              return (await ctx.em.find(options.entity, { $and: where } as never, { orderBy: { [options.timeField]: direction, id: direction } as never, limit })) as V[];
            },
          ) as never,
      },
      { name: `${options.typeName}Connection`, description: `A page of ${options.field}, newest first.` },
      { name: `${options.typeName}Edge`, description: `One item of ${options.field} and its cursor.` },
    ),
  );
}

/**
 * `<noun>(id)` as a subscription: the row as the projection holds it, then the row after each of
 * the stream's events. The feed subscription opens before the row is read, so no change can fall
 * between the two; events the row already reflects are skipped by version. Later rows come from the
 * view's own pure `evolve`, so following a live aggregate costs no database work per event.
 */
export function readModelSubscription<E extends Event, V extends Row>(
  builder: Builder,
  aggregate: { readonly view: StreamView<V, E>; readonly ref: ObjectRef<Types, V>; readonly noun: string; readonly visibleTo: RowVisibility },
  options: { description: string },
): void {
  const { view, ref, noun } = aggregate;
  builder.subscriptionField(noun, (t) =>
    t.field({
      type: ref,
      nullable: true,
      description: options.description,
      args: { id: t.arg.id({ description: `The ${noun} id.`, validate: idShape }) },
      subscribe: (_root, args, ctx) =>
        liveView(ctx.feed.subscribe({ filter: { streamId: String(args.id), streamType: view.streamType } }), ctx, aggregate, String(args.id)),
      resolve: (row) => row as never,
    }),
  );
}

async function* liveView<E extends Event, V extends Row>(
  events: FeedSubscription,
  ctx: GraphQLContext,
  aggregate: { readonly view: StreamView<V, E>; readonly visibleTo: RowVisibility },
  id: string,
): AsyncGenerator<V | null> {
  const { view } = aggregate;
  try {
    // A row the caller may not see looks like none; its events are checked one by one as they come.
    const row = await visibleRow(ctx.em, view.entity, aggregate.visibleTo, ctx.identity, id);
    let current: V | null = row ? ({ ...row } as V) : null;
    yield current;
    for await (const event of events) {
      if (!mayRead(ctx.identity, event.metadata.readers)) continue;
      if (current && event.version <= current.version) continue;
      // A revert goes back to an older row, which only the stream knows; everything else evolves in memory.
      const next = isReverted(event) ? await viewAsOf(ctx.em, ctx.upcasters, view, id, { version: event.version }) : view.evolve(current, event as RecordedEvent<E>);
      if (next === null || next === current) continue;
      current = next;
      yield current;
    }
  } finally {
    await events.return();
  }
}
