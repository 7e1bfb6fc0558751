import type { FieldMap } from '@pothos/core';
import { type GraphQLSchema, isObjectType } from 'graphql';
import type { Event, EventMetadata, RecordedEvent } from '../core/message.ts';
import type { HistoryFilter, LogFilter } from '../eventStore/log/read.ts';
import { readEventsById } from '../eventStore/log/read.ts';
import { readableStreams } from '../eventStore/access/streamAccess.ts';
import { isUuid } from '../core/ids.ts';
import { REVERTED, type Reverted } from '../eventStore/log/reverts.ts';
import { perSchema } from './perSchema.ts';
import type { Builder, SchemaTypes } from './builder.ts';

type Types = PothosSchemaTypes.ExtendDefaultTypes<SchemaTypes>;
export type EventFieldBuilder<E extends Event> = PothosSchemaTypes.ObjectFieldBuilder<Types, RecordedEvent<E>>;

/**
 * The `Event` interface every domain event type implements, and what all events share. By
 * convention an event's GraphQL object type has the name of its event type (e.g. CartItemAdded),
 * which is how the interface resolves. Every event type is also a Relay node.
 */
export function registerEventTypes(builder: Builder): void {
  const EventMetadataRef = builder.objectRef<EventMetadata>('EventMetadata').implement({
    description: 'Audit information stored with every event.',
    fields: (t) => ({
      correlationId: t.string({ nullable: true, description: 'Shared by everything one request caused (from the x-correlation-id header, else generated).', resolve: (m) => m.correlationId ?? null }),
      causationId: t.string({ nullable: true, description: 'The id of the command that produced the event.', resolve: (m) => m.causationId ?? null }),
      commandName: t.string({ nullable: true, description: 'The command that produced the event, e.g. "AddItemToCart".', resolve: (m) => m.commandName ?? null }),
      actor: t.string({ nullable: true, description: 'Who issued the command ("anonymous" until authentication exists).', resolve: (m) => m.actor ?? null }),
      client: t.string({ nullable: true, description: 'The client that sent the command (its user agent).', resolve: (m) => m.client ?? null }),
      schemaVersion: t.int({
        nullable: true,
        description: "Version of the event type's payload schema that `data` and the typed fields are in: always the type's current version (see Query.eventTypes).",
        resolve: (m) => m.schemaVersion ?? null,
      }),
      storedSchemaVersion: t.int({
        nullable: true,
        description: 'The older version the event was written with, when it was upcast to the current one on reading; null when it is stored as returned.',
        resolve: (m) => (typeof m.storedSchemaVersion === 'number' ? m.storedSchemaVersion : null),
      }),
    }),
  });

  builder.interfaceType('Event', {
    description: 'Something that happened, as committed to the log. Each event type is its own object type with typed payload fields.',
    interfaces: [builder.nodeInterfaceRef()],
    resolveType: (event, _ctx, info) => ownTypeOf(info.schema, event.type) ?? 'UntypedEvent',
    fields: (t) => ({
      eventId: t.exposeID('id', { description: 'The event\'s own id (a UUID), as stored in the log.' }),
      position: t.exposeString('position', {
        description: 'Opaque cursor in commit order. Pass it as `after` to resume history or a subscription right after this event.',
      }),
      streamId: t.exposeString('streamId', { description: 'The aggregate (stream) this event belongs to.' }),
      streamType: t.exposeString('streamType', { description: 'The aggregate type, e.g. "Cart".' }),
      version: t.exposeInt('version', { description: "1-based position of this event in its stream; the stream's version after it." }),
      type: t.exposeString('type', { description: 'The event type, e.g. "CartItemAdded".' }),
      recordedAt: t.field({ type: 'DateTime', description: 'When the command that caused it was handled.', resolve: (e) => e.recordedAt }),
      data: t.field({
        type: 'JSON',
        description: "The payload, in the event type's current schema version: an event stored in an older one is upcast on reading (the log itself is never rewritten).",
        resolve: (e) => e.data,
      }),
      metadata: t.field({ type: EventMetadataRef, description: 'Who and what caused this event.', resolve: (e) => e.metadata }),
    }),
  });

  eventObjectType<Event>(builder, 'UntypedEvent', {
    description:
      'An event whose type has no GraphQL type of its own (written by another service or an older version of this one). ' +
      'Its payload is in `data`.',
    fields: () => ({}),
  });

  eventObjectType<Reverted>(builder, REVERTED, {
    description:
      'An administrator reverted the stream (Mutation.revertStream): from this event on, the aggregate and its read model are as ' +
      'they were right after version `toVersion`. Nothing before it was changed or removed; `metadata.actor` says who reverted, ' +
      '`recordedAt` when, `reason` why. Any stream type may hold one.',
    fields: (t) => ({
      toVersion: t.int({ description: 'The earlier version whose state the stream went back to.', resolve: (e) => e.data.toVersion }),
      reason: t.string({ description: 'Why, as the administrator gave it.', resolve: (e) => e.data.reason }),
    }),
  });
}

/**
 * Declares the GraphQL object type of every event of a union at once. Keyed by event type, so an
 * event type without its GraphQL type does not compile, and each type's fields are checked
 * against that event's payload (`e.data`).
 */
export function eventTypes<E extends Event>(
  builder: Builder,
  types: { [T in E['type']]: { description: string; fields: (t: EventFieldBuilder<Extract<E, { type: T }>>) => FieldMap } },
): void {
  for (const [name, options] of Object.entries(types) as [string, { description: string; fields: (t: EventFieldBuilder<Event>) => FieldMap }][]) {
    eventObjectType(builder, name, options);
  }
}

function eventObjectType<E extends Event>(builder: Builder, name: string, options: { description: string; fields: (t: EventFieldBuilder<E>) => FieldMap }): void {
  builder.node(builder.objectRef<RecordedEvent>(name), {
    description: options.description,
    interfaces: ['Event'],
    // Also asked of read-model rows where a Node is expected, so it checks the value is an event first.
    isTypeOf: (value, _ctx, info) => {
      if (!isRecordedEvent(value)) return false;
      return name === 'UntypedEvent' ? ownTypeOf(info.schema, value.type) === undefined : value.type === name;
    },
    id: { resolve: (event) => event.id },
    loadMany: async (ids, ctx) => {
      const events = await readEventsById(ctx.em, ctx.upcasters, ids.filter(isUuid));
      const readable = await readableStreams(ctx.em, ctx.identity, events.map((event) => event.streamId));
      const found = new Map(events.filter((event) => readable.has(event.streamId)).map((event) => [event.id, event]));
      return ids.map((id) => {
        const event = found.get(id);
        return event && (name === 'UntypedEvent' || event.type === name) ? event : null;
      });
    },
    fields: options.fields as never,
  });
}

/** The `EventFilter` input of history and live feeds, made once per schema. */
export const eventFilterInput = perSchema((builder) =>
  builder.inputType('EventFilter', {
    description:
      'Narrows history or a live feed to some events. All given conditions must hold. Every condition is served by an index ' +
      'in commit order, so deep pages cost what the first does. `from` and `to` apply to history only.',
    fields: (t) => ({
      streamId: t.string({ required: false, description: 'Only this stream (aggregate id).' }),
      streamType: t.string({ required: false, description: 'Only streams of this type, e.g. "Cart".' }),
      types: t.stringList({ required: false, description: 'Only these event types, e.g. ["CartItemAdded"] (at most 50 in history). An empty list matches nothing.' }),
      from: t.field({ type: 'DateTime', required: false, description: 'Only events recorded at or after this instant (history only).' }),
      to: t.field({ type: 'DateTime', required: false, description: 'Only events recorded before this instant, exclusive (history only).' }),
      correlationId: t.string({ required: false, description: 'Only events caused by requests with this correlation id (see EventMetadata.correlationId).' }),
      actor: t.string({ required: false, description: 'Only events caused by this actor, e.g. "anonymous".' }),
    }),
  }),
);

export type EventFilterArgs = {
  streamId?: string | null;
  streamType?: string | null;
  types?: readonly string[] | null;
  from?: Date | null;
  to?: Date | null;
  correlationId?: string | null;
  actor?: string | null;
};

export function toLogFilter(filter: EventFilterArgs | null | undefined): LogFilter {
  return {
    ...(filter?.streamId != null ? { streamId: filter.streamId } : {}),
    ...(filter?.streamType != null ? { streamType: filter.streamType } : {}),
    ...(filter?.types != null ? { types: filter.types } : {}),
  };
}

export function toHistoryFilter(filter: EventFilterArgs | null | undefined): HistoryFilter {
  return {
    ...toLogFilter(filter),
    ...(filter?.from != null ? { from: filter.from } : {}),
    ...(filter?.to != null ? { to: filter.to } : {}),
    ...(filter?.correlationId != null ? { correlationId: filter.correlationId } : {}),
    ...(filter?.actor != null ? { actor: filter.actor } : {}),
  };
}

/**
 * The GraphQL object type of an event type, when the schema has one. Asked once per event of every
 * page (to resolve the Event interface), so each schema's answers are remembered: a schema never
 * changes, and the event types in a log are few.
 */
function ownTypeOf(schema: GraphQLSchema, eventType: string): string | undefined {
  let known = ownTypes.get(schema);
  if (!known) ownTypes.set(schema, (known = new Map()));
  if (known.has(eventType)) return known.get(eventType);
  const type = schema.getType(eventType);
  const own = isObjectType(type) && type.getInterfaces().some((candidate) => candidate.name === 'Event') ? eventType : undefined;
  // Bounded, as event types are written by whoever appends: an unknown one more than this many is looked up each time.
  if (known.size < MAX_REMEMBERED_TYPES) known.set(eventType, own);
  return own;
}

const ownTypes = new WeakMap<GraphQLSchema, Map<string, string | undefined>>();
const MAX_REMEMBERED_TYPES = 1000;

const isRecordedEvent = (value: unknown): value is RecordedEvent =>
  typeof value === 'object' && value !== null && typeof (value as RecordedEvent).type === 'string' && typeof (value as RecordedEvent).position === 'string';
