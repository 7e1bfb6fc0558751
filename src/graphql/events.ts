import type { EntityManager } from '@mikro-orm/postgresql';
import { resolveCursorConnection } from '@pothos/plugin-relay';
import { isObjectType } from 'graphql';
import { ValidationError } from '../core/errors.ts';
import { isUuid } from '../core/ids.ts';
import type { EventMetadata, RecordedEvent } from '../core/message.ts';
import { builder } from './builder.ts';
import { decodePosition, type LogPosition } from '../eventStore/log/position.ts';
import { handedOutPosition, subscribeAfter } from './cursors.ts';
import {
  type AsOf,
  type HistoryFilter,
  type LogFilter,
  matchesHistoryFilter,
  readEvent,
  readEventAt,
  readHistory,
  readStreamHead,
  readStreamPage,
  type StreamHead,
} from '../eventStore/log/read.ts';

/**
 * The `Event` interface every domain event type implements. By convention an event's GraphQL
 * object type has the name of its event type (e.g. CartItemAdded), which is how the interface resolves.
 */
export const EventInterface = builder.interfaceRef<RecordedEvent>('Event').implement({
  description: 'Something that happened, as committed to the log. Each event type is its own object type with typed payload fields.',
  resolveType: (event, _ctx, info) => {
    const type = info.schema.getType(event.type);
    return isObjectType(type) && type.getInterfaces().some((candidate) => candidate.name === 'Event') ? event.type : 'UntypedEvent';
  },
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

builder.objectRef<RecordedEvent>('UntypedEvent').implement({
  description:
    'An event whose type has no GraphQL type of its own (written by another service or an older version of this one). ' +
    'Its payload is in `data`.',
  interfaces: [EventInterface],
  fields: () => ({}),
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
});

type EventFilterArgs = {
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
 * The live feed filters on stream and type itself; correlation id and actor are checked here, on
 * what it delivers. `return` goes straight to the feed subscription so an unsubscribe is immediate.
 */
function onlyMatching(source: AsyncIterableIterator<RecordedEvent>, filter: HistoryFilter): AsyncIterableIterator<RecordedEvent> {
  return {
    async next() {
      for (;;) {
        const result = await source.next();
        if (result.done || matchesHistoryFilter(filter, result.value)) return result;
      }
    },
    return: () => source.return?.() ?? Promise.resolve({ done: true, value: undefined }),
    throw: (error?: unknown) => source.throw?.(error) ?? Promise.reject(error),
    [Symbol.asyncIterator]() {
      return this;
    },
  };
}

builder.subscriptionField('events', (t) =>
  t.field({
    type: EventInterface,
    description:
      'Every committed event matching `filter`, once each, in commit order, pushed as it commits. With `after` ' +
      '(a position from an event), first replays everything after it, then continues live without gap or repeat: ' +
      'resubscribe with your last position after a dropped connection. Without `after`, starts at the live head. ' +
      'The filter may not use `from`/`to`: browse a time window with Query.events.',
    args: {
      after: t.arg.string({ required: false, description: 'Resume after this position.' }),
      filter: t.arg({ type: EventFilterInput, required: false, description: 'Which events to receive.' }),
    },
    subscribe: async (_root, args, ctx) => {
      if (args.filter?.from != null || args.filter?.to != null) {
        throw new ValidationError('A live feed has no time window: filter by time in Query.events', [
          { path: args.filter.from != null ? 'filter.from' : 'filter.to', message: 'is for history only' },
        ]);
      }
      const filter = toHistoryFilter(args.filter);
      const subscription = await subscribeAfter(ctx, args.after ?? undefined, toLogFilter(args.filter));
      return filter.correlationId === undefined && filter.actor === undefined ? subscription : onlyMatching(subscription, filter);
    },
    resolve: (event) => event,
  }),
);

// ---- History ------------------------------------------------------------------------------

/** Page sizes of the history connections; documented in docs/history.md. */
export const HISTORY_PAGE = { defaultSize: 50, maxSize: 500 } as const;
/** History reads each listed event type's index range separately; this keeps that bounded. */
const MAX_HISTORY_TYPES = 50;

const optionalPosition = async (em: EntityManager, cursor: string | null | undefined, argument: string): Promise<LogPosition | undefined> =>
  cursor == null ? undefined : handedOutPosition(em, cursor, argument);

builder.queryField('events', (t) =>
  t.connection(
    {
      type: EventInterface,
      description:
        'The whole event log in commit order, oldest first: the order subscriptions deliver in. Cursors are event positions, ' +
        'the same strings Subscription.events takes as `after`, so history and live continue from one another. Page forward ' +
        `with first/after, backward with last/before; ${HISTORY_PAGE.defaultSize} events a page by default, at most ${HISTORY_PAGE.maxSize} ` +
        '(larger requests are cut to that). Events of transactions still running appear once every older transaction has finished.',
      args: { filter: t.arg({ type: EventFilterInput, required: false, description: 'Which events to list; all when omitted.' }) },
      resolve: (_root, args, ctx) => {
        const filter = toHistoryFilter(args.filter);
        if ((filter.types?.length ?? 0) > MAX_HISTORY_TYPES) {
          throw new ValidationError(`filter.types lists at most ${MAX_HISTORY_TYPES} event types`, [
            { path: 'filter.types', message: `must list at most ${MAX_HISTORY_TYPES} types` },
          ]);
        }
        return resolveCursorConnection<Promise<RecordedEvent[]>>({ args, toCursor: (event: RecordedEvent) => event.position, ...HISTORY_PAGE }, async ({ before, after, limit, inverted }) => {
          const bounds = { after: await optionalPosition(ctx.em, after, 'after'), before: await optionalPosition(ctx.em, before, 'before') };
          return readHistory(ctx.em, {
            direction: inverted ? 'backward' : 'forward',
            limit,
            filter,
            ...(bounds.after ? { after: bounds.after } : {}),
            ...(bounds.before ? { before: bounds.before } : {}),
          });
        });
      },
    },
    { name: 'EventConnection', description: 'A page of the event log, in commit order.' },
    { name: 'EventEdge', description: 'One event of the log and its cursor (its position).' },
  ),
);

builder.queryField('event', (t) =>
  t.field({
    type: EventInterface,
    nullable: true,
    description: 'One event by its id; null when there is no such event.',
    args: { id: t.arg.id({ description: 'The event id (a UUID), as Event.id gives it.' }) },
    resolve: async (_root, args, ctx) => {
      const id = String(args.id);
      return isUuid(id) ? ((await readEvent(ctx.em, id)) ?? null) : null;
    },
  }),
);

const StreamRef = builder.objectRef<StreamHead>('Stream').implement({
  description: "One aggregate's stream of events: its type, how far it has got, and its events in version order.",
  fields: (t) => ({
    id: t.exposeID('streamId', { description: 'The stream id, which is the aggregate id.' }),
    type: t.exposeString('streamType', { description: 'The aggregate type, e.g. "Cart".' }),
    version: t.exposeInt('version', { description: 'The current version: how many events the stream holds.' }),
    events: t.connection(
      {
        type: EventInterface,
        description:
          'The stream\'s events in version order. Cursors are event positions, as everywhere; `fromVersion`/`toVersion` ' +
          `narrow the range (inclusive). ${HISTORY_PAGE.defaultSize} events a page by default, at most ${HISTORY_PAGE.maxSize}.`,
        args: {
          fromVersion: t.arg.int({ required: false, description: 'Start at this version (inclusive, 1-based).' }),
          toVersion: t.arg.int({ required: false, description: 'End at this version (inclusive).' }),
        },
        resolve: (stream, args, ctx) =>
          resolveCursorConnection<Promise<RecordedEvent[]>>({ args, toCursor: (event: RecordedEvent) => event.position, ...HISTORY_PAGE }, async ({ before, after, limit, inverted }) => {
            const afterVersion = await versionAt(ctx.em, stream.streamId, after, 'after');
            const beforeVersion = await versionAt(ctx.em, stream.streamId, before, 'before');
            return readStreamPage(ctx.em, stream.streamId, {
              direction: inverted ? 'backward' : 'forward',
              limit,
              ...(afterVersion !== undefined ? { afterVersion } : {}),
              ...(beforeVersion !== undefined ? { beforeVersion } : {}),
              ...(args.fromVersion != null ? { fromVersion: args.fromVersion } : {}),
              ...(args.toVersion != null ? { toVersion: args.toVersion } : {}),
            });
          }),
      },
      { name: 'StreamEventConnection', description: "A page of one stream's events, in version order." },
      { name: 'StreamEventEdge', description: 'One event of the stream and its cursor (its position).' },
    ),
  }),
});

/** The stream version of the event at a cursor, which must belong to the stream. */
async function versionAt(em: EntityManager, streamId: string, cursor: string | undefined, argument: string): Promise<number | undefined> {
  if (cursor === undefined) return undefined;
  const event = await readEventAt(em, decodePosition(cursor, argument));
  if (!event || event.streamId !== streamId) {
    throw new ValidationError(`${argument} is not the position of an event in stream ${streamId}`, [
      { path: argument, message: 'expected a cursor from this stream' },
    ]);
  }
  return event.version;
}

builder.queryField('stream', (t) =>
  t.field({
    type: StreamRef,
    nullable: true,
    description: 'One stream (aggregate) by id, read from the log; null when it has no events.',
    args: { id: t.arg.id({ description: 'The stream id, e.g. a cart id.' }) },
    resolve: async (_root, args, ctx) => (await readStreamHead(ctx.em, String(args.id))) ?? null,
  }),
);

// ---- Commands: idempotency and time travel, shared by every module -------------------------

/** The optional `commandId` field every command input has. */
export const COMMAND_ID_FIELD = {
  required: false,
  description:
    'Your id for this command (up to 100 URL-safe characters, e.g. a UUID), making it safe to send again: a command id that ' +
    'already ran returns that first result and appends nothing. Reusing it for a different command is a CommandIdReusedError. ' +
    "Also stored as each event's causationId; generated when omitted.",
} as const;

/** `asOf` for a module's single-aggregate query: exactly one of a version or an instant. */
export const AsOfInput = builder.inputType('AsOf', {
  description: 'A point in an aggregate\'s past: give exactly one of `version` or `time`.',
  isOneOf: true,
  fields: (t) => ({
    version: t.int({ required: false, description: 'The state right after this stream version (0 is before the first event).' }),
    time: t.field({ type: 'DateTime', required: false, description: 'The state as it stood at this instant: every event recorded at or before it.' }),
  }),
});

/** Checks an `asOf` argument (GraphQL already enforced exactly one field). */
export function toAsOf(asOf: { version?: number | null; time?: Date | null }): AsOf {
  if (asOf.version != null) {
    if (asOf.version < 0) throw new ValidationError('asOf.version must not be negative', [{ path: 'asOf.version', message: 'must be 0 or more' }]);
    return { version: asOf.version };
  }
  if (asOf.time != null) return { time: asOf.time };
  throw new ValidationError('asOf needs exactly one of version or time', [{ path: 'asOf', message: 'give version or time' }]);
}
