import type { EventTypeHistory } from '../eventStore/log/upcasters.ts';
import type { Builder } from './builder.ts';

type Upcast = EventTypeHistory['upcasts'][number];

/**
 * `Query.eventTypes`: what the log may hold of each event type, so a client reading raw `data` (or
 * another service) knows which payload versions exist and that it is always handed the current one.
 * Type information only, like the schema itself, so every caller may read it.
 */
export function registerEventTypeCatalogue(builder: Builder): void {
  const UpcastRef = builder.objectRef<Upcast>('EventUpcast').implement({
    description: 'One step of an upcast chain: events stored at `fromVersion` are read as `toVersion`.',
    fields: (t) => ({
      fromVersion: t.exposeInt('fromVersion', { description: 'The payload version the step reads.' }),
      toVersion: t.exposeInt('toVersion', { description: 'The payload version it produces (always fromVersion + 1).' }),
    }),
  });

  const EventTypeRef = builder.objectRef<EventTypeHistory>('EventTypeVersion').implement({
    description:
      "An event type, the payload version this release writes, and the upcasts that bring every older stored version up to it. " +
      'Every event this API returns (history, stream, live feeds, results) is in the current version: its GraphQL type describes that shape.',
    fields: (t) => ({
      streamType: t.exposeString('streamType', { description: 'The aggregate type, e.g. "Cart".' }),
      type: t.exposeString('eventType', { description: 'The event type, e.g. "CartItemAdded".' }),
      currentVersion: t.exposeInt('currentVersion', { description: 'The payload version new events are written with and every event is read as.' }),
      upcasts: t.field({
        type: [UpcastRef],
        description: 'From version 1 up to the current version, in order; empty for a type that never changed.',
        resolve: (type) => type.upcasts,
      }),
    }),
  });

  builder.queryField('eventTypes', (t) =>
    t.field({
      type: [EventTypeRef],
      description: 'Every event type of every aggregate, with its current payload version and upcast chain, by stream type and event type.',
      resolve: (_root, _args, ctx) =>
        [...ctx.upcasters.eventTypes].sort((a, b) => a.streamType.localeCompare(b.streamType) || a.eventType.localeCompare(b.eventType)),
    }),
  );
}
