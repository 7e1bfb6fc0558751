import type { Decider } from '../../core/decider.ts';
import type { Command, Event, RecordedEvent } from '../../core/message.ts';

/**
 * Rollback without rewriting history. A revert appends one `Reverted` event, whatever the stream's
 * type; every fold reads it as "from here on, the state is what it was right after `toVersion`".
 * Nothing before it changes, so the log still says what happened, and who reverted it, when and why.
 * The names are the store's: no module may use them for an event or command of its own.
 */
export const REVERTED = 'Reverted';
export type RevertedData = { readonly toVersion: number; readonly reason: string };
export type Reverted = Event<typeof REVERTED, RevertedData>;

/** The generic command that appends a Reverted event (admins only; see authorizeRevert in core/policy.ts). */
export const REVERT_STREAM = 'RevertStream';
export type RevertStream = Command<typeof REVERT_STREAM, RevertedData>;

export const isReverted = (event: Event): event is Reverted => event.type === REVERTED;
export const isRevertStream = (command: Command): command is RevertStream => command.type === REVERT_STREAM;

/** How one kind of state is folded: an aggregate's decider state, or a read-model row. */
export type StreamFold<S, E extends Event> = {
  readonly initial: S;
  /** The version `initial` is the state at, when the events start later than version 1 (after a snapshot, say); 0 by default. */
  readonly initialVersion?: number;
  readonly evolve: (state: S, event: RecordedEvent<E>) => S;
  /** The state a revert lands on, from the state at its target version (e.g. a row restamped with the revert's version). */
  readonly reverted?: (target: S, event: RecordedEvent<Reverted>) => S;
};

/**
 * The state after a stream's events, honouring reverts: a Reverted event sets the state to the one
 * after its `toVersion`, which may itself follow a revert (nested reverts resolve in order, since a
 * revert only points back). Without a revert in the events this is the plain fold and keeps nothing;
 * with one, only the states at the versions some revert targets are kept. The events follow
 * `initialVersion`; a revert to a version before it cannot be honoured and throws (fold from version 1).
 */
export function foldStream<S, E extends Event>(fold: StreamFold<S, E>, events: Iterable<RecordedEvent<E | Reverted>>): S {
  const list = Array.isArray(events) ? (events as readonly RecordedEvent<E | Reverted>[]) : [...events];
  const targets = new Set<number>();
  for (const event of list) if (isReverted(event)) targets.add(event.data.toVersion);
  let state = fold.initial;
  if (targets.size === 0) {
    for (const event of list) state = fold.evolve(state, event as RecordedEvent<E>);
    return state;
  }
  const kept = new Map<number, S>();
  const initialVersion = fold.initialVersion ?? 0;
  if (targets.has(initialVersion)) kept.set(initialVersion, state);
  for (const event of list) {
    if (isReverted(event)) {
      const { toVersion } = event.data;
      if (!kept.has(toVersion)) throw new Error(`Stream ${event.streamId} reverts to version ${toVersion}, which these events do not hold: fold it from version 1`);
      const target = kept.get(toVersion) as S;
      state = fold.reverted ? fold.reverted(target, event) : target;
    } else {
      state = fold.evolve(state, event as RecordedEvent<E>);
    }
    if (targets.has(event.version)) kept.set(event.version, state);
  }
  return state;
}

/** An aggregate's state after its stream's recorded events (from version 1), reverts included. */
export function foldHistory<E extends Event, S>(decider: Pick<Decider<never, E, S>, 'initialState' | 'evolve'>, events: Iterable<RecordedEvent>): S {
  return foldStream<S, E>({ initial: decider.initialState(), evolve: decider.evolve }, events as Iterable<RecordedEvent<E | Reverted>>);
}
