import type { Builder } from '../../graphql/builder.ts';
import { type AggregateGraphQL, commandIdField, commandMutation, expectedVersionField } from '../../graphql/commandMutation.ts';
import { ruleErrorType } from '../../graphql/errors.ts';
import { counterRowsVisibleTo } from './policy.ts';
import { eventTypes } from '../../graphql/events.ts';
import { idShape } from '../../graphql/inputShapes.ts';
import { keysetListing, readModelNode, readModelQuery } from '../../graphql/readModel.ts';
import { type CounterCommand, counterDecider, type CounterEvent, CounterOutOfRangeError, type CounterState, MAX_COUNTER_VALUE, MAX_STEP } from './counter.ts';
import { CounterRecord, type CounterView, counterView } from './projection.ts';

/** The counter's GraphQL: its read model, events, rule error, commands and queries. */
export function counterGraphQL(builder: Builder): void {
  const CounterRef = readModelNode<CounterView>(builder, {
    name: 'Counter',
    noun: 'counter',
    entity: CounterRecord as never,
    visibleTo: counterRowsVisibleTo,
    description: 'A counter as its projection holds it. It exists from its first increment; it never goes below zero.',
    fields: (t) => ({
      value: t.field({ type: 'SafeInt', description: `The current value, 0 to ${MAX_COUNTER_VALUE}.`, resolve: (counter) => Number(counter.value) }),
      resetCount: t.exposeInt('resetCount', { description: 'How many times the counter was reset.' }),
      createdAt: t.field({ type: 'DateTime', description: 'When the first increment was recorded.', resolve: (counter) => counter.createdAt }),
      updatedAt: t.field({ type: 'DateTime', description: 'When the latest event was recorded.', resolve: (counter) => counter.updatedAt }),
    }),
  });
  const counter: AggregateGraphQL<CounterCommand, CounterEvent, CounterState, CounterView> = { decider: counterDecider, view: counterView, ref: CounterRef, noun: 'counter', visibleTo: counterRowsVisibleTo };

  eventTypes<CounterEvent>(builder, {
    CounterIncremented: {
      description: 'A counter went up (the first increment also brings the counter into being).',
      fields: (t) => ({
        amount: t.int({ description: 'How much it went up by.', resolve: (e) => e.data.amount }),
        value: t.field({ type: 'SafeInt', description: 'The value after this event.', resolve: (e) => e.data.value }),
      }),
    },
    CounterDecremented: {
      description: 'A counter went down.',
      fields: (t) => ({
        amount: t.int({ description: 'How much it went down by.', resolve: (e) => e.data.amount }),
        value: t.field({ type: 'SafeInt', description: 'The value after this event.', resolve: (e) => e.data.value }),
      }),
    },
    CounterReset: {
      description: 'A counter was set back to zero.',
      fields: (t) => ({
        previousValue: t.field({ type: 'SafeInt', description: 'The value just before the reset.', resolve: (e) => e.data.previousValue }),
      }),
    },
  });

  ruleErrorType(builder, CounterOutOfRangeError, {
    name: 'CounterOutOfRangeError',
    description: `The change would take the counter below 0 (code COUNTER_BELOW_ZERO) or above ${MAX_COUNTER_VALUE} (code COUNTER_ABOVE_MAXIMUM). Nothing was changed.`,
    fields: (t) => ({
      counterId: t.exposeString('counterId', { description: 'The counter that was asked to change.' }),
      value: t.field({ type: 'SafeInt', description: 'Its value when the change was refused.', resolve: (e) => e.value }),
      change: t.exposeInt('change', { description: 'The refused change: positive for an increment, negative for a decrement.' }),
      minimum: t.exposeInt('minimum', { description: 'The lowest value a counter may have (0).' }),
      maximum: t.field({ type: 'SafeInt', description: 'The highest value a counter may have.', resolve: (e) => e.maximum }),
    }),
  });

  const amountField = { required: false, defaultValue: 1, description: `How much to change the value by, 1 to ${MAX_STEP}; 1 when omitted.` } as const;
  const existingCounterId = { validate: idShape, description: 'The counter; it must have been incremented before.' };

  commandMutation(builder, counter, {
    name: 'incrementCounter',
    description: 'Adds to a counter, creating it at 0 first when it does not exist yet.',
    verb: 'incremented',
    input: builder.inputType('IncrementCounterInput', {
      description: 'Which counter to increment, and by how much.',
      fields: (t) => ({
        counterId: t.id({
          required: false,
          validate: idShape,
          description: 'The counter (URL-safe, up to 100 characters). A counter needs no creation: an unknown id starts at 0. Generated when omitted, which starts a new counter.',
        }),
        amount: t.int(amountField),
        expectedVersion: expectedVersionField(t, 'counter'),
        commandId: commandIdField(t),
      }),
    }),
    errors: [CounterOutOfRangeError],
    streamId: (input) => input.counterId,
    command: (input, counterId) => ({ type: 'IncrementCounter', data: { counterId, amount: input.amount ?? 1 } }),
  });

  commandMutation(builder, counter, {
    name: 'decrementCounter',
    description: 'Subtracts from a counter. A counter never goes below 0: a larger decrement is a CounterOutOfRangeError.',
    verb: 'decremented',
    input: builder.inputType('DecrementCounterInput', {
      description: 'Which counter to decrement, and by how much.',
      fields: (t) => ({
        counterId: t.id(existingCounterId),
        amount: t.int(amountField),
        expectedVersion: expectedVersionField(t, 'counter'),
        commandId: commandIdField(t),
      }),
    }),
    errors: [CounterOutOfRangeError],
    streamId: (input) => input.counterId,
    command: (input, counterId) => ({ type: 'DecrementCounter', data: { counterId, amount: input.amount ?? 1 } }),
  });

  commandMutation(builder, counter, {
    name: 'resetCounter',
    description: 'Sets a counter back to 0. The reset is recorded even when the value is 0 already.',
    verb: 'reset',
    input: builder.inputType('ResetCounterInput', {
      description: 'Which counter to reset.',
      fields: (t) => ({
        counterId: t.id(existingCounterId),
        expectedVersion: expectedVersionField(t, 'counter'),
        commandId: commandIdField(t),
      }),
    }),
    errors: [],
    streamId: (input) => input.counterId,
    command: (_input, counterId) => ({ type: 'ResetCounter', data: { counterId } }),
  });

  readModelQuery(builder, counter, { description: 'One counter from the projection; null when it was never incremented.' });
  keysetListing(builder, { field: 'counters', ref: CounterRef, typeName: 'Counter', entity: CounterRecord as never, timeField: 'createdAt', visibleTo: counterRowsVisibleTo, description: 'Counters, newest first, from the projection.' });
}
