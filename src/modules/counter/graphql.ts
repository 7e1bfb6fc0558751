import { resolveCursorConnection } from '@pothos/plugin-relay';
import type { RecordedEvent } from '../../core/message.ts';
import { AsOfInput, COMMAND_ID_FIELD, eventObjectType, toAsOf } from '../../graphql/events.ts';
import { idFromCommandId } from '../../eventStore/commands/idempotency.ts';
import { viewAsOf } from '../../eventStore/projections/timeTravel.ts';
import { builder } from '../../graphql/builder.ts';
import { runViewCommand, viewCommandSuccessType } from '../../graphql/viewCommand.ts';
import { commandErrors, ruleErrorType } from '../../graphql/errors.ts';
import { encodeTimeIdCursor, timeIdPageConditions } from '../../graphql/keysetCursor.ts';
import { ID_HINT, ID_PATTERN, InputCheck } from '../../graphql/validation.ts';
import { counterDecider, CounterOutOfRangeError, MAX_COUNTER_VALUE, MAX_STEP } from './counter.ts';
import { CounterRecord, type CounterView, counterView } from './projection.ts';

// ---- Read model types ---------------------------------------------------------------------

export const CounterRef = builder.objectRef<CounterView>('Counter').implement({
  description: 'A counter as its projection holds it. It exists from its first increment; it never goes below zero.',
  fields: (t) => ({
    id: t.exposeID('id', { description: 'The counter id, which is also its stream id.' }),
    value: t.field({ type: 'SafeInt', description: `The current value, 0 to ${MAX_COUNTER_VALUE}.`, resolve: (counter) => Number(counter.value) }),
    resetCount: t.exposeInt('resetCount', { description: 'How many times the counter was reset.' }),
    version: t.exposeInt('version', { description: 'The stream version this state reflects; pass it as expectedVersion to guard a change.' }),
    createdAt: t.field({ type: 'DateTime', description: 'When the first increment was recorded.', resolve: (counter) => counter.createdAt }),
    updatedAt: t.field({ type: 'DateTime', description: 'When the latest event was recorded.', resolve: (counter) => counter.updatedAt }),
  }),
});

// ---- Events -------------------------------------------------------------------------------

type Data<T> = RecordedEvent & { data: T };

eventObjectType('CounterIncremented', {
  description: 'A counter went up (the first increment also brings the counter into being).',
  fields: (t) => ({
    amount: t.int({ description: 'How much it went up by.', resolve: (e: Data<{ amount: number }>) => e.data.amount }),
    value: t.field({ type: 'SafeInt', description: 'The value after this event.', resolve: (e: Data<{ value: number }>) => e.data.value }),
  }),
});
eventObjectType('CounterDecremented', {
  description: 'A counter went down.',
  fields: (t) => ({
    amount: t.int({ description: 'How much it went down by.', resolve: (e: Data<{ amount: number }>) => e.data.amount }),
    value: t.field({ type: 'SafeInt', description: 'The value after this event.', resolve: (e: Data<{ value: number }>) => e.data.value }),
  }),
});
eventObjectType('CounterReset', {
  description: 'A counter was set back to zero.',
  fields: (t) => ({
    previousValue: t.field({ type: 'SafeInt', description: 'The value just before the reset.', resolve: (e: Data<{ previousValue: number }>) => e.data.previousValue }),
  }),
});

// ---- Rule errors --------------------------------------------------------------------------

ruleErrorType(CounterOutOfRangeError, {
  name: 'CounterOutOfRangeError',
  description: `The change would take the counter below 0 (code COUNTER_BELOW_ZERO) or above ${MAX_COUNTER_VALUE} (code COUNTER_ABOVE_MAXIMUM). Nothing was changed.`,
  fields: (t) => ({
    counterId: t.exposeString('counterId', { description: 'The counter that was asked to change.' }),
    value: t.field({ type: 'SafeInt', description: 'Its value when the change was refused.', resolve: (e: CounterOutOfRangeError) => e.value }),
    change: t.exposeInt('change', { description: 'The refused change: positive for an increment, negative for a decrement.' }),
    minimum: t.exposeInt('minimum', { description: 'The lowest value a counter may have (0).' }),
    maximum: t.field({ type: 'SafeInt', description: 'The highest value a counter may have.', resolve: (e: CounterOutOfRangeError) => e.maximum }),
  }),
});

// ---- Commands -----------------------------------------------------------------------------

const successType = (name: string, verb: string) => viewCommandSuccessType(name, { field: 'counter', noun: 'counter', verb, type: CounterRef });
const aggregate = { decider: counterDecider, view: counterView };

const EXPECTED_VERSION = {
  required: false,
  description: 'Refuse with ConcurrencyError unless the counter is at this version (0 for one that does not exist yet). Omit to let the server retry on conflicts.',
} as const;
const AMOUNT = { required: false, defaultValue: 1, description: `How much to change the value by, 1 to ${MAX_STEP}; 1 when omitted.` } as const;
const checkedCounterId = (check: InputCheck, id: string) => check.text('counterId', id, { max: 100, pattern: ID_PATTERN, patternHint: ID_HINT });
const checkedAmount = (check: InputCheck, amount: number | null | undefined) => check.integer('amount', amount ?? 1, 1, MAX_STEP);

const IncrementCounterInput = builder.inputType('IncrementCounterInput', {
  description: 'Which counter to increment, and by how much.',
  fields: (t) => ({
    counterId: t.id({
      required: false,
      description: 'The counter (URL-safe, up to 100 characters). A counter needs no creation: an unknown id starts at 0. Generated when omitted, which starts a new counter.',
    }),
    amount: t.int(AMOUNT),
    expectedVersion: t.int(EXPECTED_VERSION),
    commandId: t.id(COMMAND_ID_FIELD),
  }),
});
builder.mutationField('incrementCounter', (t) =>
  t.field({
    type: successType('IncrementCounterSuccess', 'incremented'),
    description: 'Adds to a counter, creating it at 0 first when it does not exist yet.',
    args: { input: t.arg({ type: IncrementCounterInput, description: 'Which counter, and by how much.' }) },
    errors: { types: [...commandErrors, CounterOutOfRangeError], directResult: true, union: { name: 'IncrementCounterResult' } },
    resolve: async (_root, { input }, ctx) => {
      const check = new InputCheck();
      const commandId = check.optionalCommandId('commandId', input.commandId);
      // A replayed command id must address the counter its first run started, so the id derives from it.
      const generatedId = commandId === undefined ? ctx.ids.uuid() : idFromCommandId(counterDecider.streamType, commandId);
      const counterId = input.counterId == null ? generatedId : checkedCounterId(check, String(input.counterId));
      const amount = checkedAmount(check, input.amount);
      const expectedVersion = check.optionalVersion('expectedVersion', input.expectedVersion);
      check.done();
      return runViewCommand(ctx, aggregate, counterId, { type: 'IncrementCounter', data: { counterId, amount }, now: ctx.clock.now() }, { expectedVersion, commandId });
    },
  }),
);

const DecrementCounterInput = builder.inputType('DecrementCounterInput', {
  description: 'Which counter to decrement, and by how much.',
  fields: (t) => ({
    counterId: t.id({ description: 'The counter; it must have been incremented before.' }),
    amount: t.int(AMOUNT),
    expectedVersion: t.int(EXPECTED_VERSION),
    commandId: t.id(COMMAND_ID_FIELD),
  }),
});
builder.mutationField('decrementCounter', (t) =>
  t.field({
    type: successType('DecrementCounterSuccess', 'decremented'),
    description: 'Subtracts from a counter. A counter never goes below 0: a larger decrement is a CounterOutOfRangeError.',
    args: { input: t.arg({ type: DecrementCounterInput, description: 'Which counter, and by how much.' }) },
    errors: { types: [...commandErrors, CounterOutOfRangeError], directResult: true, union: { name: 'DecrementCounterResult' } },
    resolve: async (_root, { input }, ctx) => {
      const check = new InputCheck();
      const counterId = checkedCounterId(check, String(input.counterId));
      const commandId = check.optionalCommandId('commandId', input.commandId);
      const amount = checkedAmount(check, input.amount);
      const expectedVersion = check.optionalVersion('expectedVersion', input.expectedVersion);
      check.done();
      return runViewCommand(ctx, aggregate, counterId, { type: 'DecrementCounter', data: { counterId, amount }, now: ctx.clock.now() }, { expectedVersion, commandId });
    },
  }),
);

const ResetCounterInput = builder.inputType('ResetCounterInput', {
  description: 'Which counter to reset.',
  fields: (t) => ({
    counterId: t.id({ description: 'The counter; it must have been incremented before.' }),
    expectedVersion: t.int(EXPECTED_VERSION),
    commandId: t.id(COMMAND_ID_FIELD),
  }),
});
builder.mutationField('resetCounter', (t) =>
  t.field({
    type: successType('ResetCounterSuccess', 'reset'),
    description: 'Sets a counter back to 0. The reset is recorded even when the value is 0 already.',
    args: { input: t.arg({ type: ResetCounterInput, description: 'Which counter.' }) },
    errors: { types: commandErrors, directResult: true, union: { name: 'ResetCounterResult' } },
    resolve: async (_root, { input }, ctx) => {
      const check = new InputCheck();
      const counterId = checkedCounterId(check, String(input.counterId));
      const commandId = check.optionalCommandId('commandId', input.commandId);
      const expectedVersion = check.optionalVersion('expectedVersion', input.expectedVersion);
      check.done();
      return runViewCommand(ctx, aggregate, counterId, { type: 'ResetCounter', data: { counterId }, now: ctx.clock.now() }, { expectedVersion, commandId });
    },
  }),
);

// ---- Queries ------------------------------------------------------------------------------

builder.queryField('counter', (t) =>
  t.field({
    type: CounterRef,
    nullable: true,
    description:
      'One counter from the projection; null when it was never incremented. With `asOf`, the counter as it was at that version or ' +
      'instant, rebuilt from its events by the same code that maintains the projection (null if it did not exist yet).',
    args: {
      id: t.arg.id({ description: 'The counter id.' }),
      asOf: t.arg({ type: AsOfInput, required: false, description: 'Travel back in time: the counter as it was at this version or instant.' }),
    },
    resolve: async (_root, args, ctx) => {
      const id = String(args.id);
      if (args.asOf != null) return viewAsOf(ctx.em, counterView, id, toAsOf(args.asOf));
      return (await ctx.em.findOne(CounterRecord, id)) as CounterView | null;
    },
  }),
);

builder.queryField('counters', (t) =>
  t.connection({
    type: CounterRef,
    description: 'Counters, newest first, from the projection. Page with first/after or last/before (at most 100 a page, 20 by default).',
    resolve: (_root, args, ctx) =>
      resolveCursorConnection<Promise<CounterView[]>>(
        { args, toCursor: (counter: CounterView) => encodeTimeIdCursor({ time: counter.createdAt, id: counter.id }), defaultSize: 20, maxSize: 100 },
        async ({ before, after, limit, inverted }): Promise<CounterView[]> => {
          const direction = inverted ? 'asc' : 'desc';
          const where = timeIdPageConditions('createdAt', { after, before });
          const rows = await ctx.em.find(CounterRecord, { $and: where } as never, { orderBy: { createdAt: direction, id: direction } as never, limit });
          return rows as CounterView[];
        },
      ),
  }),
);
