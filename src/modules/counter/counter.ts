import type { Command, Event } from '../../core/message.ts';
import { assertNever } from '../../core/message.ts';
import type { Decider } from '../../core/decider.ts';
import { DomainError, invalidInput, wholeNumberIssue, IllegalStateError, NotFoundError } from '../../core/errors.ts';

/**
 * A counter, the design documents' first example, with the rules a real one needs:
 * - it needs no creation step: a counter exists from its first increment on;
 * - it never goes below zero (a decrement larger than the value is refused), nor above
 *   MAX_COUNTER_VALUE, so its value always fits the SafeInt scalar;
 * - every step is a whole number from 1 to MAX_STEP;
 * - a reset is recorded even when the value is already zero: it is an explicit intent, worth keeping in the history.
 */

// ---- Events -------------------------------------------------------------------------------

/** `value` is the counter's value after the event, so a history reads without folding. */
export type CounterIncremented = Event<'CounterIncremented', { readonly amount: number; readonly value: number }>;
export type CounterDecremented = Event<'CounterDecremented', { readonly amount: number; readonly value: number }>;
export type CounterReset = Event<'CounterReset', { readonly previousValue: number }>;
export type CounterEvent = CounterIncremented | CounterDecremented | CounterReset;

export const counterEventTypes = ['CounterIncremented', 'CounterDecremented', 'CounterReset'] as const satisfies readonly CounterEvent['type'][];

// ---- State --------------------------------------------------------------------------------

export type CounterState = { readonly status: 'New' } | { readonly status: 'Counting'; readonly value: number };

export const initialState = (): CounterState => ({ status: 'New' });

export function evolve(_state: CounterState, event: CounterEvent): CounterState {
  switch (event.type) {
    case 'CounterIncremented':
    case 'CounterDecremented':
      return { status: 'Counting', value: event.data.value };
    case 'CounterReset':
      return { status: 'Counting', value: 0 };
    default:
      return assertNever(event);
  }
}

// ---- Commands -----------------------------------------------------------------------------

export type IncrementCounter = Command<'IncrementCounter', { readonly counterId: string; readonly amount: number }>;
export type DecrementCounter = Command<'DecrementCounter', { readonly counterId: string; readonly amount: number }>;
export type ResetCounter = Command<'ResetCounter', { readonly counterId: string }>;
export type CounterCommand = IncrementCounter | DecrementCounter | ResetCounter;

// ---- Rule errors --------------------------------------------------------------------------

/** The change would take the counter below zero or above MAX_COUNTER_VALUE. */
export class CounterOutOfRangeError extends IllegalStateError {
  readonly counterId: string;
  readonly value: number;
  /** The signed change that was refused: positive for an increment, negative for a decrement. */
  readonly change: number;
  readonly minimum: number;
  readonly maximum: number;
  constructor(counterId: string, value: number, change: number) {
    const below = value + change < 0;
    super(
      below ? 'COUNTER_BELOW_ZERO' : 'COUNTER_ABOVE_MAXIMUM',
      below
        ? `Counter ${counterId} is at ${value}; decrementing by ${-change} would take it below 0`
        : `Counter ${counterId} is at ${value}; incrementing by ${change} would take it above ${MAX_COUNTER_VALUE}`,
    );
    this.counterId = counterId;
    this.value = value;
    this.change = change;
    this.minimum = 0;
    this.maximum = MAX_COUNTER_VALUE;
  }
}

// ---- Decisions ----------------------------------------------------------------------------

/** Largest single increment or decrement. */
export const MAX_STEP = 1_000_000;
/** Largest value: 2^53 - 1, the largest integer JSON and the SafeInt scalar carry exactly. */
export const MAX_COUNTER_VALUE = Number.MAX_SAFE_INTEGER;

const checkAmount = (amount: number) => invalidInput([wholeNumberIssue('amount', amount, 1, MAX_STEP)]);

export function decide(command: CounterCommand, state: CounterState): readonly CounterEvent[] | DomainError {
  switch (command.type) {
    case 'IncrementCounter': {
      const { counterId, amount } = command.data;
      const invalid = checkAmount(amount);
      if (invalid) return invalid;
      const value = state.status === 'New' ? 0 : state.value;
      if (value > MAX_COUNTER_VALUE - amount) return new CounterOutOfRangeError(counterId, value, amount);
      return [{ type: 'CounterIncremented', data: { amount, value: value + amount } }];
    }
    case 'DecrementCounter': {
      const { counterId, amount } = command.data;
      if (state.status === 'New') return new NotFoundError('Counter', counterId);
      const invalid = checkAmount(amount);
      if (invalid) return invalid;
      if (state.value < amount) return new CounterOutOfRangeError(counterId, state.value, -amount);
      return [{ type: 'CounterDecremented', data: { amount, value: state.value - amount } }];
    }
    case 'ResetCounter': {
      if (state.status === 'New') return new NotFoundError('Counter', command.data.counterId);
      return [{ type: 'CounterReset', data: { previousValue: state.value } }];
    }
    default:
      return assertNever(command);
  }
}

export const counterDecider: Decider<CounterCommand, CounterEvent, CounterState> = {
  streamType: 'Counter',
  initialState,
  evolve,
  decide,
  schemaVersions: { CounterIncremented: 1, CounterDecremented: 1, CounterReset: 1 },
};
