import { ForbiddenError, UnauthenticatedError } from '../../core/errors.ts';
import { type Identity, isAdmin, principal } from '../../core/identity.ts';
import { assertNever } from '../../core/message.ts';
import type { Policy } from '../../core/policy.ts';
import type { CounterCommand, CounterState } from './counter.ts';

/** Counters are shared: every signed-in caller sees them and counts up and down; only administrators reset one. */
export const counterPolicy: Policy<CounterCommand, CounterState> = {
  streamType: 'Counter',
  authorize(identity, command) {
    if (identity.kind === 'anonymous') return new UnauthenticatedError();
    switch (command.type) {
      case 'IncrementCounter':
      case 'DecrementCounter':
        return undefined;
      case 'ResetCounter':
        return isAdmin(identity) ? undefined : new ForbiddenError('Counter', command.data.counterId, 'Only administrators reset counters');
      default:
        return assertNever(command);
    }
  },
  readers: () => [principal.authenticated],
};

/** Every counter, to every signed-in caller. */
export const counterRowsVisibleTo = (identity: Identity): Record<string, unknown> | null => (identity.kind === 'anonymous' ? null : {});
