import { ForbiddenError, UnauthenticatedError } from './errors.ts';
import { type Identity, isAdmin } from './identity.ts';
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

/**
 * Who may revert a stream to an earlier version: administrators only, whatever the aggregate. A revert
 * overrides what the aggregate's own rules let happen, so no aggregate policy is asked; its decider
 * may still refuse (see Decider.canRevert).
 */
export function authorizeRevert(identity: Identity, streamId: string): UnauthenticatedError | ForbiddenError | undefined {
  if (identity.kind === 'anonymous') return new UnauthenticatedError();
  return isAdmin(identity) ? undefined : new ForbiddenError('Stream', streamId, 'Only administrators revert a stream');
}
