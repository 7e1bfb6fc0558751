import type { UpcasterRegistry } from '../log/upcasters.ts';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { Decider } from '../../core/decider.ts';
import { type DomainError, NotFoundError, RevertRefusedError, ValidationError } from '../../core/errors.ts';
import { readStream } from '../log/read.ts';
import { foldHistory, REVERTED, type Reverted, type RevertStream } from '../log/reverts.ts';

/** Longest reason a revert may give; it is stored on the event for good. */
export const MAX_REVERT_REASON_LENGTH = 500;

/**
 * What a revert of a stream at `version` (in `current`) appends: one Reverted event, and the state
 * it lands on, the fold of the stream up to `toVersion`. Refused when the stream does not exist, when
 * `toVersion` is not an earlier version of it, when no reason is given, or when the decider's
 * `canRevert` says no. The state before `toVersion` is read here (a revert is rare, and the
 * remembered state only knows the present).
 */
export async function decideRevert<S>(
  em: EntityManager, upcasters: UpcasterRegistry, decider: Decider<any, any, S>, streamId: string, version: number, current: S, command: RevertStream,
): Promise<{ readonly events: readonly Reverted[]; readonly state: S } | DomainError> {
  const { toVersion, reason } = command.data;
  if (version === 0) return new NotFoundError('Stream', streamId);
  if (!Number.isInteger(toVersion) || toVersion < 1 || toVersion >= version) {
    const message = version === 1 ? 'cannot be given: the stream has only version 1' : `must be a whole number from 1 to ${version - 1}, an earlier version (the stream is at ${version})`;
    return new ValidationError(`Stream ${streamId} has no earlier version ${toVersion}`, [{ path: 'toVersion', message }]);
  }
  if (reason.trim() === '' || reason.length > MAX_REVERT_REASON_LENGTH) {
    return new ValidationError('A revert needs a reason', [{ path: 'reason', message: `must be 1 to ${MAX_REVERT_REASON_LENGTH} characters` }]);
  }
  const target = foldHistory(decider, await readStream(em, upcasters, streamId, { toVersion }));
  const refusal = decider.canRevert?.(current, target);
  if (refusal) return new RevertRefusedError(streamId, toVersion, refusal);
  return { events: [{ type: REVERTED, data: { toVersion, reason } }], state: target };
}
