import type { Command, Event } from './message.ts';
import type { DomainError } from './errors.ts';

/**
 * An aggregate's whole behaviour as pure functions (the "decider" pattern):
 * fold past events into state with `evolve`, then `decide` what a command causes.
 * `decide` returns the new events, or a typed domain error; it never throws for a rule.
 */
export type Decider<C extends Command, E extends Event, S> = {
  /** The stream type this decider owns, e.g. "Cart". Stored with every event. */
  readonly streamType: string;
  readonly initialState: () => S;
  readonly evolve: (state: S, event: E) => S;
  readonly decide: (command: C, state: S) => readonly E[] | DomainError;
  /**
   * Every event type the decider writes, with the version of its payload schema (from 1), stored in
   * each event's metadata. A changed payload gets the next version and an upcaster from the one
   * before (see ModuleDefinition.upcasters), so events already in the log are read in the new shape.
   */
  readonly schemaVersions: { readonly [Type in E['type']]: number };
  /**
   * Whether an administrator may revert the aggregate from `current` to `target` (its state at an
   * earlier version): undefined allows it, a DomainError says why not (e.g. a checked-out cart's
   * order is placed). Without it every revert is allowed. Pure, like `decide`.
   */
  readonly canRevert?: (current: S, target: S) => DomainError | undefined;
};

export function fold<E extends Event, S>(decider: Pick<Decider<never, E, S>, 'initialState' | 'evolve'>, events: Iterable<E>, from?: S): S {
  let state = from ?? decider.initialState();
  for (const event of events) state = decider.evolve(state, event);
  return state;
}
