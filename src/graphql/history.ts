import type { EntityManager } from '@mikro-orm/postgresql';
import { resolveCursorConnection } from '@pothos/plugin-relay';
import { ValidationError } from '../core/errors.ts';
import { isUuid } from '../core/ids.ts';
import type { RecordedEvent } from '../core/message.ts';
import { decodePosition, type LogPosition } from '../eventStore/log/position.ts';
import type { UpcasterRegistry } from '../eventStore/log/upcasters.ts';
import {
  matchesHistoryFilter,
  readEvent,
  readEventAt,
  readHistory,
  readStreamHead,
  readStreamPage,
  type StreamHead,
} from '../eventStore/log/read.ts';
import { isAdmin, mayRead } from '../core/identity.ts';
import { mayReadStream, readersFilterFor } from '../eventStore/access/streamAccess.ts';
import type { Builder } from './builder.ts';
import type { GraphQLContext } from './context.ts';
import { type EventFilterArgs, eventFilterInput, toHistoryFilter, toLogFilter } from './events.ts';
import { eventColumnsOfConnection } from './eventSelection.ts';
import { handedOutPosition, rebasedRefusal, subscribeAfter } from './cursors.ts';
import type { ReadySource } from './sharedResults.ts';

/** Events per message of Subscription.eventBatches. */
export const EVENT_BATCH = { defaultSize: 100, maxSize: 1000 } as const;
/** Page sizes of the history connections; documented in docs/history.md. */
export const HISTORY_PAGE = { defaultSize: 50, maxSize: 1_000 } as const;
/** History reads each listed event type's index range separately; this keeps that bounded. */
const MAX_HISTORY_TYPES = 50;

const optionalPosition = async (em: EntityManager, cursor: string | null | undefined, argument: string): Promise<LogPosition | undefined> =>
  cursor == null ? undefined : handedOutPosition(em, cursor, argument);


export function registerHistory(builder: Builder): void {
  const liveArgs = (t: Parameters<Parameters<typeof builder.subscriptionField>[1]>[0]) => ({
    after: t.arg.string({ required: false, description: 'Resume after this position.' }),
    filter: t.arg({ type: eventFilterInput(builder), required: false, description: 'Which events to receive.' }),
  });

  builder.subscriptionField('events', (t) =>
    t.field({
      type: 'Event',
      description:
        'Every committed event matching `filter`, once each, in commit order, pushed as it commits. With `after` ' +
        '(a position from an event), first replays everything after it, then continues live without gap or repeat: ' +
        'resubscribe with your last position after a dropped connection. Without `after`, starts at the live head. ' +
        'The filter may not use `from`/`to`: browse a time window with Query.events.',
      args: liveArgs(t),
      subscribe: (_root, args, ctx) => liveEvents(ctx, args),
      resolve: (event) => event,
    }),
  );

  builder.subscriptionField('eventBatches', (t) =>
    t.field({
      type: ['Event'],
      description:
        'The events of Subscription.events (the same filter, `after`, order and guarantees), several to a message, for ' +
        'clients that follow many events (the whole log, a busy type). Each message carries every matching event that ' +
        `has arrived since the previous one, in commit order, at most \`size\` of them and never none. Resume after the ` +
        'position of the last event of the last message you received.',
      args: {
        ...liveArgs(t),
        size: t.arg.int({ required: false, defaultValue: EVENT_BATCH.defaultSize, description: `The most events one message carries (1 to ${EVENT_BATCH.maxSize}; ${EVENT_BATCH.defaultSize} by default).` }),
      },
      subscribe: async (_root, args, ctx) => {
        const size = args.size ?? EVENT_BATCH.defaultSize;
        if (size < 1 || size > EVENT_BATCH.maxSize) {
          throw new ValidationError(`size is 1 to ${EVENT_BATCH.maxSize}`, [{ path: 'size', message: `must be 1 to ${EVENT_BATCH.maxSize}` }]);
        }
        return batchesOf(await liveEvents(ctx, args), size);
      },
      resolve: (batch) => batch,
    }),
  );

  builder.queryField('events', (t) =>
    t.connection(
      {
        type: 'Event',
        description:
          'The whole event log in commit order, oldest first: the order subscriptions deliver in. Cursors are event positions, ' +
          'the same strings Subscription.events takes as `after`, so history and live continue from one another. Page forward ' +
          `with first/after, backward with last/before; ${HISTORY_PAGE.defaultSize} events a page by default, at most ${HISTORY_PAGE.maxSize} ` +
          '(larger requests are cut to that). Events of transactions still running appear once every older transaction has finished.',
        args: { filter: t.arg({ type: eventFilterInput(builder), required: false, description: 'Which events to list; all when omitted.' }) },
        resolve: (_root, args, ctx, info) => {
          const filter = toHistoryFilter(args.filter);
          if ((filter.types?.length ?? 0) > MAX_HISTORY_TYPES) {
            throw new ValidationError(`filter.types lists at most ${MAX_HISTORY_TYPES} event types`, [
              { path: 'filter.types', message: `must list at most ${MAX_HISTORY_TYPES} types` },
            ]);
          }
          return resolveCursorConnection<Promise<RecordedEvent[]>>({ args, toCursor: (event: RecordedEvent) => event.position, ...HISTORY_PAGE }, async ({ before, after, limit, inverted }) => {
            const bounds = { after: await optionalPosition(ctx.em, after, 'after'), before: await optionalPosition(ctx.em, before, 'before') };
            const readers = readersFilterFor(ctx.identity);
            return readHistory(ctx.em, ctx.upcasters, {
              ...(readers !== undefined ? { readers } : {}),
              columns: eventColumnsOfConnection(info),
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
      type: 'Event',
      nullable: true,
      description: 'One event by its id; null when there is no such event.',
      args: { id: t.arg.id({ description: 'The event id (a UUID), as Event.id gives it.' }) },
      resolve: async (_root, args, ctx) => {
        const id = String(args.id);
        const event = isUuid(id) ? await readEvent(ctx.em, ctx.upcasters, id) : undefined;
        return event && (await mayReadStream(ctx.em, ctx.identity, event.streamId)) ? event : null;
      },
    }),
  );

  const StreamRef = builder.node(builder.objectRef<StreamHead>('Stream'), {
    description: "One aggregate's stream of events: its type, how far it has got, and its events in version order.",
    id: { resolve: (stream) => stream.streamId },
    loadOne: (id, ctx) => readableStreamHead(ctx, id),
    fields: (t) => ({
      streamId: t.exposeString('streamId', { description: 'The stream id, which is the aggregate id.' }),
      type: t.exposeString('streamType', { description: 'The aggregate type, e.g. "Cart".' }),
      version: t.exposeInt('version', { description: 'The current version: how many events the stream holds.' }),
      events: t.connection(
        {
          type: 'Event',
          description:
            'The stream\'s events in version order. Cursors are event positions, as everywhere; `fromVersion`/`toVersion` ' +
            `narrow the range (inclusive). ${HISTORY_PAGE.defaultSize} events a page by default, at most ${HISTORY_PAGE.maxSize}.`,
          args: {
            fromVersion: t.arg.int({ required: false, description: 'Start at this version (inclusive, 1-based).' }),
            toVersion: t.arg.int({ required: false, description: 'End at this version (inclusive).' }),
          },
          resolve: (stream, args, ctx, info) =>
            resolveCursorConnection<Promise<RecordedEvent[]>>({ args, toCursor: (event: RecordedEvent) => event.position, ...HISTORY_PAGE }, async ({ before, after, limit, inverted }) => {
              const afterVersion = await versionAt(ctx.em, ctx.upcasters, stream.streamId, after, 'after');
              const beforeVersion = await versionAt(ctx.em, ctx.upcasters, stream.streamId, before, 'before');
              return readStreamPage(ctx.em, ctx.upcasters, stream.streamId, {
                direction: inverted ? 'backward' : 'forward',
                columns: eventColumnsOfConnection(info),
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


  builder.queryField('stream', (t) =>
    t.field({
      type: StreamRef,
      nullable: true,
      description: 'One stream (aggregate) by id, read from the log; null when it has no events.',
      args: { id: t.arg.id({ description: 'The stream id, e.g. a cart id.' }) },
      resolve: (_root, args, ctx) => readableStreamHead(ctx, String(args.id)),
    }),
  );
}

/** Subscription.events: the feed subscription, with what the feed cannot check itself checked on what it delivers. */
async function liveEvents(ctx: GraphQLContext, args: { after?: string | null; filter?: EventFilterArgs | null }): Promise<ReadySource<RecordedEvent>> {
  if (args.filter?.from != null || args.filter?.to != null) {
    throw new ValidationError('A live feed has no time window: filter by time in Query.events', [
      { path: args.filter.from != null ? 'filter.from' : 'filter.to', message: 'is for history only' },
    ]);
  }
  const filter = toHistoryFilter(args.filter);
  const subscription = await subscribeAfter(ctx, args.after ?? undefined, toLogFilter(args.filter));
  // What the caller may read is part of what each event is checked against: a customer never
  // receives another's events (shared executions are shared only among callers who see the same).
  const { identity } = ctx;
  const readable = (event: RecordedEvent) => mayRead(identity, event.metadata.readers) && matchesHistoryFilter(filter, event);
  return isAdmin(identity) && filter.correlationId === undefined && filter.actor === undefined ? subscription : onlyMatching(subscription, readable);
}

/**
 * Subscription.eventBatches: whatever waits, up to `size` events, as one value; waits for one event
 * when none does. A fan-out batch is thus one message, and catch-up pages go out `size` at a time.
 */
function batchesOf(source: ReadySource<RecordedEvent>, size: number): ReadySource<RecordedEvent[]> {
  const fill = (batch: RecordedEvent[]): RecordedEvent[] => {
    while (batch.length < size) {
      const event = source.takeReady();
      if (event === undefined) break;
      batch.push(event);
    }
    return batch;
  };
  return {
    takeReady() {
      const first = source.takeReady();
      return first === undefined ? undefined : fill([first]);
    },
    wakeWhenReady: (wake) => source.wakeWhenReady?.(wake) ?? false,
    async next() {
      const step = await source.next();
      return step.done ? { value: undefined, done: true } : { value: fill([step.value]), done: false };
    },
    return: async () => {
      await source.return?.();
      return { value: undefined, done: true };
    },
    throw: async (error?: unknown) => {
      await source.return?.();
      throw error;
    },
    [Symbol.asyncIterator]() {
      return this;
    },
  };
}

/**
 * The live feed filters on stream and type itself; correlation id and actor are checked here, on
 * what it delivers. `return` goes straight to the feed subscription so an unsubscribe is immediate.
 */
function onlyMatching(source: ReadySource<RecordedEvent>, matches: (event: RecordedEvent) => boolean): ReadySource<RecordedEvent> {
  return {
    takeReady() {
      for (;;) {
        const event = source.takeReady();
        if (event === undefined || matches(event)) return event;
      }
    },
    // Woken for an event it then refuses, the consumer finds nothing ready and waits again.
    wakeWhenReady: (wake) => source.wakeWhenReady?.(wake) ?? false,
    async next() {
      for (;;) {
        const result = await source.next();
        if (result.done || matches(result.value)) return result;
      }
    },
    return: () => source.return?.() ?? Promise.resolve({ done: true, value: undefined }),
    throw: (error?: unknown) => source.throw?.(error) ?? Promise.reject(error),
    [Symbol.asyncIterator]() {
      return this;
    },
  };
}


/** The stream version of the event at a cursor, which must belong to the stream. */
async function versionAt(em: EntityManager, upcasters: UpcasterRegistry, streamId: string, cursor: string | undefined, argument: string): Promise<number | undefined> {
  if (cursor === undefined) return undefined;
  const position = decodePosition(cursor, argument);
  const event = await readEventAt(em, upcasters, position);
  if (!event) {
    const refused = await rebasedRefusal(em, cursor, position, argument);
    if (refused) throw refused;
  }
  if (!event || event.streamId !== streamId) {
    throw new ValidationError(`${argument} is not the position of an event in stream ${streamId}`, [
      { path: argument, message: 'expected a cursor from this stream' },
    ]);
  }
  return event.version;
}

/** A stream the caller may read, or null (as for one that does not exist, so nothing leaks). */
async function readableStreamHead(ctx: GraphQLContext, streamId: string): Promise<StreamHead | null> {
  const head = await readStreamHead(ctx.em, streamId);
  return head && (await mayReadStream(ctx.em, ctx.identity, streamId)) ? head : null;
}
