import { describe, expect, it } from 'vitest';
import { NotFoundError, ValidationError } from '../../core/errors.ts';
import { fold } from '../../core/decider.ts';
import { deciderSpec } from '../../../test/support/deciderSpec.ts';
import { counterDecider, type CounterEvent, CounterOutOfRangeError, MAX_COUNTER_VALUE, MAX_STEP } from './counter.ts';

const now = new Date('2026-11-23T10:00:00Z');
const spec = deciderSpec(counterDecider);

const incremented = (amount: number, value: number): CounterEvent => ({ type: 'CounterIncremented', data: { amount, value } });
const decremented = (amount: number, value: number): CounterEvent => ({ type: 'CounterDecremented', data: { amount, value } });
const reset = (previousValue: number): CounterEvent => ({ type: 'CounterReset', data: { previousValue } });

const increment = (amount: number) => ({ type: 'IncrementCounter', data: { counterId: 'counter-1', amount }, now }) as const;
const decrement = (amount: number) => ({ type: 'DecrementCounter', data: { counterId: 'counter-1', amount }, now }) as const;
const resetCommand = { type: 'ResetCounter', data: { counterId: 'counter-1' }, now } as const;

describe('incrementing', () => {
  it('the first increment brings a counter into being, counting from zero', () => {
    spec.given().when(increment(5)).then(incremented(5, 5));
  });

  it('later increments add to the value, as in the design document (5 then 10 is 15)', () => {
    spec.given(incremented(5, 5)).when(increment(10)).then(incremented(10, 15));
  });

  it.each([0, -1, 2.5, MAX_STEP + 1])('an amount of %s is refused', (amount) => {
    const error = spec.given(incremented(1, 1)).when(increment(amount)).thenFails(ValidationError);
    expect(error.issues[0]?.path).toBe('amount');
  });

  it('the largest step is accepted', () => {
    spec.given().when(increment(MAX_STEP)).then(incremented(MAX_STEP, MAX_STEP));
  });

  it('an increment past the maximum value is refused and says so', () => {
    spec
      .given(incremented(MAX_COUNTER_VALUE - 3, MAX_COUNTER_VALUE - 3))
      .when(increment(4))
      .thenFails(CounterOutOfRangeError, { code: 'COUNTER_ABOVE_MAXIMUM', counterId: 'counter-1', value: MAX_COUNTER_VALUE - 3, change: 4 });
  });

  it('an increment up to exactly the maximum value is accepted', () => {
    spec.given(incremented(MAX_COUNTER_VALUE - 3, MAX_COUNTER_VALUE - 3)).when(increment(3)).then(incremented(3, MAX_COUNTER_VALUE));
  });
});

describe('decrementing', () => {
  it('a decrement subtracts from the value', () => {
    spec.given(incremented(5, 5)).when(decrement(2)).then(decremented(2, 3));
  });

  it('a counter may be decremented down to exactly zero', () => {
    spec.given(incremented(5, 5)).when(decrement(5)).then(decremented(5, 0));
  });

  it('a counter never goes below zero', () => {
    spec
      .given(incremented(5, 5), decremented(2, 3))
      .when(decrement(4))
      .thenFails(CounterOutOfRangeError, { code: 'COUNTER_BELOW_ZERO', value: 3, change: -4, minimum: 0 });
  });

  it('a counter that was never incremented is not found', () => {
    spec.given().when(decrement(1)).thenFails(NotFoundError, { resource: 'Counter', id: 'counter-1' });
  });

  it.each([0, -3, 0.5, MAX_STEP + 1])('an amount of %s is refused', (amount) => {
    spec.given(incremented(5, 5)).when(decrement(amount)).thenFails(ValidationError);
  });
});

describe('resetting', () => {
  it('a reset sets the value back to zero and records what it was', () => {
    spec.given(incremented(5, 5), incremented(10, 15)).when(resetCommand).then(reset(15));
    expect(fold(counterDecider, [incremented(5, 5), reset(5)])).toEqual({ status: 'Counting', value: 0 });
  });

  it('a reset of a counter already at zero is still recorded', () => {
    spec.given(incremented(5, 5), decremented(5, 0)).when(resetCommand).then(reset(0));
  });

  it('a counter that was never incremented cannot be reset', () => {
    spec.given().when(resetCommand).thenFails(NotFoundError, { resource: 'Counter' });
  });

  it('counting goes on from zero after a reset', () => {
    spec.given(incremented(5, 5), reset(5)).when(increment(2)).then(incremented(2, 2));
  });
});
