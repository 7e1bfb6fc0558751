import type { ForbiddenError, UnauthenticatedError } from './errors.ts';
import type { Identity } from './identity.ts';
import type { Command } from './message.ts';

/**
 * Who may do what to one aggregate type, and who may see it: pure, like its decider, and kept beside
 * it in its module. Every aggregate has one.
 */
export type Policy<C extends Command, S> = {
  readonly streamType: string;
  /** Undefined when `identity` may run `command` on `state`; else the refusal. Runs before `decide`. */
  readonly authorize: (identity: Identity, command: C, state: S) => UnauthenticatedError | ForbiddenError | undefined;
  /**
   * Who may read the stream once it is in `state`, as principals (see `principal` in identity.ts).
   * The append records them beside the stream (for history) and on each event (for live feeds).
   * Administrators read everything without being listed.
   */
  readonly readers: (state: S) => readonly string[];
};
