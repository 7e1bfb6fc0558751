import { ForbiddenError, NotFoundError, UnauthenticatedError, ValidationError } from '../core/errors.ts';
import { type Identity, isAdmin } from '../core/identity.ts';
import { isUuid } from '../core/ids.ts';
import { decodePosition, encodePosition, LOG_START } from '../eventStore/log/position.ts';
import { readEvent } from '../eventStore/log/read.ts';
import type { ParkedEvent } from '../eventStore/processors/processorStore.ts';
import type { ProcessorState } from '../eventStore/processors/processors.ts';
import type { Builder } from './builder.ts';
import type { GraphQLContext } from './context.ts';

/** The admin API is for administrators only: undefined when `identity` is one, else the refusal. */
function adminRefusal(identity: Identity, id = 'all'): UnauthenticatedError | ForbiddenError | undefined {
  if (identity.kind === 'anonymous') return new UnauthenticatedError();
  if (isAdmin(identity)) return undefined;
  return new ForbiddenError('Processor', id, 'Only administrators see and change processors');
}

const adminErrors = [UnauthenticatedError, ForbiddenError];

async function processorState(ctx: GraphQLContext, name: string): Promise<ProcessorState> {
  const state = (await ctx.processors.list()).find((p) => p.name === name);
  if (!state) throw new NotFoundError('Processor', name);
  return state;
}

/** The processors' admin API: `processors` and the mutations that retry or skip a parked event and reset a processor. */
export function registerProcessors(builder: Builder): void {
  const StatusEnum = builder.enumType('ProcessorStatus', {
    description: 'Whether a processor is being run.',
    values: {
      RUNNING: { description: 'One process holds it and it reads on.' },
      STOPPED: { description: "It parked an event and waits (onParked: 'stop'): retry or skip that event." },
      UNCLAIMED: { description: 'No process holds it right now (none runs, or one is taking over).' },
    } as const,
  });
  const DeliveryEnum = builder.enumType('ProcessorDelivery', {
    description: 'How a processor\'s effects relate to its checkpoint.',
    values: {
      TRANSACTIONAL: { description: 'Its writes commit with its checkpoint: each event\'s effect happens exactly once.' },
      EXTERNAL: { description: 'It reaches another system; the checkpoint moves after: at least once, deduplicated by event id.' },
    } as const,
  });
  const ParkedStatusEnum = builder.enumType('ParkedEventStatus', {
    description: 'Where a parked event is.',
    values: {
      PARKED: { description: 'Given up after its attempts; waits for a retry or a skip.' },
      RETRYING: { description: 'An administrator asked for a retry; the processor takes it up.' },
      SKIPPED: { description: 'An administrator gave up on it.' },
      RESOLVED: { description: 'A retry handled it.' },
    } as const,
  });

  const LagRef = builder.objectRef<ProcessorState['lag']>('ProcessorLag').implement({
    description: 'How far a processor is behind the log.',
    fields: (t) => ({
      events: t.exposeInt('events', { description: 'Events matching its filter that it has yet to handle (capped at 100000).' }),
      seconds: t.exposeFloat('seconds', { description: 'Age of the oldest of them; 0 when caught up.' }),
    }),
  });

  const ParkedRef = builder.objectRef<ParkedEvent>('ParkedEvent').implement({
    description: 'An event a processor gave up on after its attempts.',
    fields: (t) => ({
      processor: t.exposeString('processor', { description: 'The processor that parked it.' }),
      eventId: t.exposeString('eventId', { description: 'The event\'s id.' }),
      position: t.string({ description: 'The event\'s log position.', resolve: (p) => encodePosition(p.position) }),
      event: t.field({ type: 'Event', nullable: true, description: 'The event itself.', resolve: (p, _args, ctx) => readEvent(ctx.em, ctx.upcasters, p.eventId).then((e) => e ?? null) }),
      error: t.exposeString('error', { description: 'The last attempt\'s error.' }),
      attempts: t.exposeInt('attempts', { description: 'Attempts so far, retries included.' }),
      firstFailedAt: t.field({ type: 'DateTime', description: 'When the first attempt failed.', resolve: (p) => p.firstFailedAt }),
      lastFailedAt: t.field({ type: 'DateTime', description: 'When the last attempt failed.', resolve: (p) => p.lastFailedAt }),
      status: t.field({ type: ParkedStatusEnum, description: 'Where it is.', resolve: (p) => p.status.toUpperCase() as never }),
      resolvedAt: t.field({ type: 'DateTime', nullable: true, description: 'When it was skipped or resolved.', resolve: (p) => p.resolvedAt }),
    }),
  });

  const ProcessorRef = builder.objectRef<ProcessorState>('Processor').implement({
    description: 'A checkpointed consumer of the log, run by exactly one API process at a time.',
    fields: (t) => ({
      name: t.exposeString('name', { description: 'Unique in the app.' }),
      status: t.field({ type: StatusEnum, description: 'Whether it is being run.', resolve: (p) => p.status }),
      delivery: t.field({ type: DeliveryEnum, description: 'Exactly once or at least once.', resolve: (p) => p.delivery.toUpperCase() as never }),
      readModel: t.exposeString('readModel', { nullable: true, description: 'The read model it keeps, which queries can wait for (`consistentWith`).' }),
      position: t.string({ description: 'Its checkpoint: it has handled every matching event up to here.', resolve: (p) => encodePosition(p.position) }),
      owner: t.exposeString('owner', { nullable: true, description: 'The process (host:pid) that claimed it last.' }),
      lag: t.field({ type: LagRef, description: 'How far behind the log it is.', resolve: (p) => p.lag }),
      parkedCount: t.exposeInt('parkedCount', { description: 'Parked events waiting for a retry or a skip.' }),
      parked: t.field({
        type: [ParkedRef],
        description: 'Its parked events in commit order: those waiting, or all with `includeResolved`.',
        args: {
          includeResolved: t.arg.boolean({ required: false, defaultValue: false, description: 'Also the skipped and resolved ones.' }),
          first: t.arg.int({ required: false, defaultValue: 50, description: 'At most this many (up to 500).' }),
        },
        resolve: (p, args, ctx) => ctx.processors.parked(p.name, { all: args.includeResolved ?? false, limit: Math.max(0, Math.min(args.first ?? 50, 500)) }),
      }),
    }),
  });

  const ProcessorsRef = builder.objectRef<{ items: ProcessorState[] }>('Processors').implement({
    description: 'Every processor of the app.',
    fields: (t) => ({ items: t.field({ type: [ProcessorRef], description: 'In the order the app declares them.', resolve: (page) => page.items }) }),
  });

  builder.queryField('processors', (t) =>
    t.field({
      type: ProcessorsRef,
      description: 'The processors, their checkpoints, lag and parked events. For administrators.',
      errors: { types: adminErrors, directResult: true, union: { name: 'ProcessorsResult' } },
      resolve: async (_root, _args, ctx) => {
        const refusal = adminRefusal(ctx.identity);
        if (refusal) throw refusal;
        return { items: await ctx.processors.list() };
      },
    }),
  );

  const ParkedEventInput = builder.inputType('ParkedEventInput', {
    description: 'A parked event, by its processor and event id.',
    fields: (t) => ({
      processor: t.string({ description: 'The processor\'s name.' }),
      eventId: t.string({ description: 'The event\'s id.' }),
    }),
  });
  const ParkedEventSuccess = (name: string, description: string) =>
    builder.objectRef<ParkedEvent>(name).implement({ description, fields: (t) => ({ parkedEvent: t.field({ type: ParkedRef, description: 'The parked event now.', resolve: (p) => p }) }) });
  const parkedMutation = (field: string, description: string, success: ReturnType<typeof ParkedEventSuccess>, act: (ctx: GraphQLContext, processor: string, eventId: string) => Promise<ParkedEvent>) =>
    builder.mutationField(field, (t) =>
      t.field({
        type: success,
        description,
        args: { input: t.arg({ type: ParkedEventInput, description: 'Which parked event.' }) },
        errors: { types: [...adminErrors, NotFoundError], directResult: true, union: { name: `${field[0]!.toUpperCase()}${field.slice(1)}Result` } },
        resolve: async (_root, { input }, ctx) => {
          const refusal = adminRefusal(ctx.identity, input.processor);
          if (refusal) throw refusal;
          if (!isUuid(input.eventId)) throw new NotFoundError('ParkedEvent', `${input.processor}/${input.eventId}`);
          return act(ctx, input.processor, input.eventId);
        },
      }),
    );
  parkedMutation(
    'retryParkedEvent',
    'Hands a parked event to its processor again, with its full attempts; a processor stopped on it goes on once it succeeds. For administrators.',
    ParkedEventSuccess('RetryParkedEventSuccess', 'The retry is asked for: the processor takes it up (status RETRYING, then RESOLVED, or PARKED again).'),
    (ctx, processor, eventId) => ctx.processors.retry(processor, eventId),
  );
  parkedMutation(
    'skipParkedEvent',
    'Gives up on a parked event for good (it stays listed, SKIPPED); a processor stopped on it goes on after it. For administrators.',
    ParkedEventSuccess('SkipParkedEventSuccess', 'The event is skipped.'),
    (ctx, processor, eventId) => ctx.processors.skip(processor, eventId),
  );

  const ResetInput = builder.inputType('ResetProcessorInput', {
    description: 'Which processor to move, and where to.',
    fields: (t) => ({
      processor: t.string({ description: 'The processor\'s name.' }),
      to: t.string({
        required: false,
        description: 'An event\'s position: every matching event after it is handled again, and nothing is emptied. Omitted: the start, and the processor first empties what it keeps (a read model is rebuilt).',
      }),
    }),
  });
  const ResetSuccess = builder.objectRef<ProcessorState>('ResetProcessorSuccess').implement({
    description: 'The processor was moved; it reads on from there.',
    fields: (t) => ({ processor: t.field({ type: ProcessorRef, description: 'The processor right after the reset.', resolve: (p) => p }) }),
  });
  builder.mutationField('resetProcessor', (t) =>
    t.field({
      type: ResetSuccess,
      description: 'Moves a processor\'s checkpoint back to the start (rebuilding what it keeps) or to a position. For administrators.',
      args: { input: t.arg({ type: ResetInput, description: 'Which processor, and where to.' }) },
      errors: { types: [...adminErrors, NotFoundError, ValidationError], directResult: true, union: { name: 'ResetProcessorResult' } },
      resolve: async (_root, { input }, ctx) => {
        const refusal = adminRefusal(ctx.identity, input.processor);
        if (refusal) throw refusal;
        const to = input.to != null ? decodePosition(input.to, 'to') : LOG_START;
        await ctx.processors.reset(input.processor, to);
        // Where the reset put it: the holder may already have read on by the time the state is read.
        return { ...(await processorState(ctx, input.processor)), position: to };
      },
    }),
  );
}
