import { describe, expect, it } from 'vitest';
import type { Event, RecordedEvent } from '../../core/message.ts';
import { counterDecider, type CounterEvent, type CounterState } from '../../modules/counter/counter.ts';
import { counterView } from '../../modules/counter/projection.ts';
import { replayView } from '../projections/projection.ts';
import { foldHistory, foldStream, REVERTED, type Reverted } from './reverts.ts';
import { random } from '../../../test/support/random.ts';

const base = Date.parse('2026-12-02T09:00:00Z');

/** The events as a stream holds them: version n is the n-th, recorded n seconds after `base`. */
function stream(...events: (CounterEvent | Reverted)[]): RecordedEvent<CounterEvent | Reverted>[] {
  return events.map((event, index) => ({
    ...event,
    id: `event-${index + 1}`,
    streamId: 'counter-1',
    streamType: 'Counter',
    version: index + 1,
    position: String(index + 1),
    globalPosition: BigInt(index + 1),
    transactionId: 1n,
    recordedAt: new Date(base + (index + 1) * 1000),
    metadata: {},
  }));
}

const set = (value: number): CounterEvent => ({ type: 'CounterIncremented', data: { amount: 1, value } });
const reset: CounterEvent = { type: 'CounterReset', data: { previousValue: 0 } };
const revert = (toVersion: number): Reverted => ({ type: REVERTED, data: { toVersion, reason: 'a mistake' } });

/** Given a stream's events, when the counter is folded, then this is its state. */
const given = (...events: (CounterEvent | Reverted)[]) => ({ thenState: (state: CounterState) => expect(foldHistory(counterDecider, stream(...events))).toEqual(state) });

describe('folding a stream that holds reverts', () => {
  it('without a revert, the fold is the decider’s plain fold', () => {
    given(set(1), set(2), reset, set(3)).thenState({ status: 'Counting', value: 3 });
  });

  it('a revert makes the state the one right after its target version', () => {
    given(set(5), set(8), set(13), revert(1)).thenState({ status: 'Counting', value: 5 });
  });

  it('events after a revert continue from the reverted state', () => {
    given(set(5), set(8), revert(1), set(6)).thenState({ status: 'Counting', value: 6 });
  });

  it('a revert to a version that is itself a revert lands where that one did (nested)', () => {
    // Version 3 went back to version 1 (5); version 5 goes back to version 3, so to 5 again.
    given(set(5), set(8), revert(1), set(6), revert(3)).thenState({ status: 'Counting', value: 5 });
  });

  it('a revert to a version after an earlier revert takes the state the earlier one led to', () => {
    given(set(5), set(8), revert(1), set(6), set(7), revert(4)).thenState({ status: 'Counting', value: 6 });
  });

  it('a revert to a reset keeps the reset, and a revert back past it undoes it', () => {
    given(set(5), reset, set(2), revert(2)).thenState({ status: 'Counting', value: 0 });
    given(set(5), reset, set(2), revert(2), revert(1)).thenState({ status: 'Counting', value: 5 });
  });

  it('events that start after a revert’s target cannot be folded: the fold says to start at version 1', () => {
    expect(() => foldHistory(counterDecider, stream(set(5), set(8), revert(1)).slice(1))).toThrow(/fold it from version 1/);
  });

  it('events that start from a known state (a snapshot) may revert to that state’s version', () => {
    const events = stream(set(5), set(8), set(13), revert(2));
    const atTwo = foldHistory(counterDecider, events.slice(0, 2));
    expect(foldStream({ initial: atTwo, initialVersion: 2, evolve: counterDecider.evolve }, events.slice(2))).toEqual({ status: 'Counting', value: 8 });
    expect(() => foldStream({ initial: atTwo, initialVersion: 3, evolve: counterDecider.evolve }, events.slice(3))).toThrow(/fold it from version 1/);
  });
});

describe('a read-model row replayed over reverts', () => {
  it('is the row at the target version, restamped with the revert’s version and time', () => {
    const events = stream(set(5), set(8), revert(1));
    const atOne = replayView(counterView, events.slice(0, 1))!;
    expect(replayView(counterView, events)).toEqual({ ...atOne, version: 3, updatedAt: events[2]!.recordedAt });
  });

  it('nested reverts give the same row whether replayed whole or up to each version', () => {
    const events = stream(set(5), set(8), revert(1), set(6), revert(3), set(9), revert(5));
    expect(replayView(counterView, events)).toMatchObject({ value: 5, version: 7 });
    expect(replayView(counterView, events.slice(0, 6))).toMatchObject({ value: 9, version: 6 });
  });
});


/** The definition, read literally: the state at version v, recomputed from scratch for every revert. */
function stateAt(events: readonly RecordedEvent<Event>[], version: number): CounterState {
  if (version === 0) return counterDecider.initialState();
  const event = events[version - 1]!;
  if (event.type === REVERTED) return stateAt(events, (event as RecordedEvent<Reverted>).data.toVersion);
  return counterDecider.evolve(stateAt(events, version - 1), event as RecordedEvent<CounterEvent>);
}

describe('random histories with reverts', () => {
  it('the fold agrees with the definition at every version of 200 random streams', () => {
    for (let seed = 1; seed <= 200; seed++) {
      const next = random(seed);
      const events: (CounterEvent | Reverted)[] = [];
      for (let length = 1 + Math.floor(next() * 40); events.length < length; ) {
        const roll = next();
        if (events.length > 1 && roll < 0.25) events.push(revert(1 + Math.floor(next() * (events.length - 1))));
        else if (roll < 0.35) events.push(reset);
        else events.push(set(Math.floor(next() * 100)));
      }
      const recorded = stream(...events);
      for (let version = 0; version <= recorded.length; version++) {
        expect(foldHistory(counterDecider, recorded.slice(0, version)), `seed ${seed}, version ${version}`).toEqual(stateAt(recorded, version));
      }
    }
  });
});
