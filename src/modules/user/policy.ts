import { ForbiddenError, UnauthenticatedError } from '../../core/errors.ts';
import { type Identity, isAdmin, principal } from '../../core/identity.ts';
import { assertNever } from '../../core/message.ts';
import type { Policy } from '../../core/policy.ts';
import type { UserCommand, UserState } from './user.ts';

/** A user record is its user's: they register, rename and deactivate themselves, and only they and administrators see it (it holds their email). */
export const userPolicy: Policy<UserCommand, UserState> = {
  streamType: 'User',
  authorize(identity, command, state) {
    if (identity.kind === 'anonymous') return new UnauthenticatedError();
    if (isAdmin(identity)) return undefined;
    switch (command.type) {
      case 'RegisterUser':
        return command.data.userId === identity.subject ? undefined : new ForbiddenError('User', command.data.userId, 'A user registers themselves only, under their own id');
      case 'RenameUser':
      case 'DeactivateUser':
        if (state.status === 'Unregistered' || state.id === identity.subject) return undefined;
        return new ForbiddenError('User', command.data.userId, 'Only the user themselves may change their record');
      default:
        return assertNever(command);
    }
  },
  readers: (state) => (state.status === 'Unregistered' ? [] : [principal.subject(state.id)]),
};

/** The users read model's rows a caller sees: their own, or all for administrators. */
export function userRowsVisibleTo(identity: Identity): Record<string, unknown> | null {
  if (identity.kind === 'anonymous') return null;
  return isAdmin(identity) ? {} : { id: identity.subject };
}
