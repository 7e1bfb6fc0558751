import type { EventMetadata, RecordedEvent } from '../core/message.ts';
import { builder } from '../graphql/builder.ts';
import { decodePosition } from './position.ts';
import type { LogFilter } from './read.ts';

/**
 * The `Event` interface every domain event type implements. By convention an event's GraphQL
 * object type has the name of its event type (e.g. CartItemAdded), which is how the interface resolves.
 */
export const EventInterface = builder.interfaceRef<RecordedEvent>('Event').implement({
  description: 'Something that happened, as committed to the log. Each event type is its own object type with typed payload fields.',
  resolveType: (event) => event.type,
  fields: (t) => ({
    id: t.exposeID('id', { description: 'Unique id of this event.' }),
    position: t.exposeString('position', {
      description: 'Opaque cursor in commit order. Pass it as `after` to resume history or a subscription right after this event.',
    }),
    streamId: t.exposeString('streamId', { description: 'The aggregate (stream) this event belongs to.' }),
    streamType: t.exposeString('streamType', { description: 'The aggregate type, e.g. "Cart".' }),
    version: t.exposeInt('version', { description: "1-based position of this event in its stream; the stream's version after it." }),
    type: t.exposeString('type', { description: 'The event type, e.g. "CartItemAdded".' }),
    recordedAt: t.field({ type: 'DateTime', description: 'When the command that caused it was handled.', resolve: (e) => e.recordedAt }),
    data: t.field({ type: 'JSON', description: 'The payload exactly as stored.', resolve: (e) => e.data }),
    metadata: t.field({ type: EventMetadataRef, description: 'Who and what caused this event.', resolve: (e) => e.metadata }),
  }),
});

export const EventMetadataRef = builder.objectRef<EventMetadata>('EventMetadata').implement({
  description: 'Audit information stored with every event.',
  fields: (t) => ({
    correlationId: t.string({ nullable: true, description: 'Shared by everything one request caused (from the x-correlation-id header, else generated).', resolve: (m) => m.correlationId ?? null }),
    causationId: t.string({ nullable: true, description: 'The id of the command that produced the event.', resolve: (m) => m.causationId ?? null }),
    commandName: t.string({ nullable: true, description: 'The command that produced the event, e.g. "AddItemToCart".', resolve: (m) => m.commandName ?? null }),
    actor: t.string({ nullable: true, description: 'Who issued the command ("anonymous" until authentication exists).', resolve: (m) => m.actor ?? null }),
    client: t.string({ nullable: true, description: 'The client that sent the command (its user agent).', resolve: (m) => m.client ?? null }),
    schemaVersion: t.int({ nullable: true, description: "Version of the event type's payload schema.", resolve: (m) => m.schemaVersion ?? null }),
  }),
});

/** Declares the object type of one domain event, implementing `Event`. */
export function eventObjectType(name: string, options: { description: string; fields: (t: any) => Record<string, any> }) {
  return builder.objectRef<RecordedEvent>(name).implement({
    description: options.description,
    interfaces: [EventInterface],
    isTypeOf: (value) => (value as RecordedEvent).type === name,
    fields: options.fields,
  });
}

export const EventFilterInput = builder.inputType('EventFilter', {
  description: 'Narrows a feed or history to some events. All given conditions must hold.',
  fields: (t) => ({
    streamId: t.string({ required: false, description: 'Only this stream (aggregate id).' }),
    streamType: t.string({ required: false, description: 'Only streams of this type, e.g. "Cart".' }),
    types: t.stringList({ required: false, description: 'Only these event types, e.g. ["CartItemAdded"].' }),
  }),
});

export function toLogFilter(filter: { streamId?: string | null; streamType?: string | null; types?: readonly string[] | null } | null | undefined): LogFilter {
  return {
    ...(filter?.streamId != null ? { streamId: filter.streamId } : {}),
    ...(filter?.streamType != null ? { streamType: filter.streamType } : {}),
    ...(filter?.types != null ? { types: filter.types } : {}),
  };
}

builder.subscriptionField('events', (t) =>
  t.field({
    type: EventInterface,
    description:
      'Every committed event matching `filter`, once each, in commit order, pushed as it commits. With `after` ' +
      '(a position from an event), first replays everything after it, then continues live without gap or repeat: ' +
      'resubscribe with your last position after a dropped connection. Without `after`, starts at the live head.',
    args: {
      after: t.arg.string({ required: false, description: 'Resume after this position.' }),
      filter: t.arg({ type: EventFilterInput, required: false, description: 'Which events to receive.' }),
    },
    subscribe: (_root, args, ctx) =>
      ctx.feed.subscribe({
        ...(args.after != null ? { after: decodePosition(args.after) } : {}),
        filter: toLogFilter(args.filter),
      }),
    resolve: (event) => event,
  }),
);
