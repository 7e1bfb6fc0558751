import type { Command, Event } from '../../core/message.ts';
import { assertNever } from '../../core/message.ts';
import type { Decider } from '../../core/decider.ts';
import { DomainError, IllegalStateError, invalidInput, NotFoundError, type ValidationIssue } from '../../core/errors.ts';

/**
 * User registration, the design documents' second example.
 * - A user registers once under an id, with an email and a name; the email is stored normalised
 *   (trimmed, lower case) so "Ada@Example.com" and "ada@example.com" are the same address.
 * - An email belongs to at most one user. One stream cannot see the others, so this decider does
 *   not check it: the users' email reservation (see projection.ts) does, in the append transaction.
 * - A deactivated user can no longer be renamed or deactivated again, and keeps its email
 *   reserved, so an address never silently passes to someone else.
 * - Renaming records the new name even when it equals the old one: the command asked for it, and
 *   a success that appended nothing would have no position to hand back.
 */

// ---- Events -------------------------------------------------------------------------------

export type UserRegistered = Event<'UserRegistered', { readonly userId: string; readonly email: string; readonly name: string }>;
export type UserRenamed = Event<'UserRenamed', { readonly name: string; readonly previousName: string }>;
export type UserDeactivated = Event<'UserDeactivated', Record<string, never>>;
export type UserEvent = UserRegistered | UserRenamed | UserDeactivated;

export const userEventTypes = ['UserRegistered', 'UserRenamed', 'UserDeactivated'] as const satisfies readonly UserEvent['type'][];

// ---- State --------------------------------------------------------------------------------

type UserDetails = { readonly id: string; readonly email: string; readonly name: string };
export type UserState =
  | { readonly status: 'Unregistered' }
  | ({ readonly status: 'Active' } & UserDetails)
  | ({ readonly status: 'Deactivated' } & UserDetails);

export const initialState = (): UserState => ({ status: 'Unregistered' });

export function evolve(state: UserState, event: UserEvent): UserState {
  switch (event.type) {
    case 'UserRegistered':
      return { status: 'Active', id: event.data.userId, email: event.data.email, name: event.data.name };
    case 'UserRenamed':
      return state.status === 'Unregistered' ? state : { ...state, name: event.data.name };
    case 'UserDeactivated':
      return state.status === 'Unregistered' ? state : { ...state, status: 'Deactivated' };
    default:
      return assertNever(event);
  }
}

// ---- Commands -----------------------------------------------------------------------------

export type RegisterUser = Command<'RegisterUser', { readonly userId: string; readonly email: string; readonly name: string }>;
export type RenameUser = Command<'RenameUser', { readonly userId: string; readonly name: string }>;
export type DeactivateUser = Command<'DeactivateUser', { readonly userId: string }>;
export type UserCommand = RegisterUser | RenameUser | DeactivateUser;

// ---- Rule errors --------------------------------------------------------------------------

export class UserAlreadyRegisteredError extends IllegalStateError {
  readonly userId: string;
  constructor(userId: string) {
    super('USER_ALREADY_REGISTERED', `User ${userId} is already registered`);
    this.userId = userId;
  }
}

export class UserDeactivatedError extends IllegalStateError {
  readonly userId: string;
  constructor(userId: string) {
    super('USER_DEACTIVATED', `User ${userId} is deactivated and can no longer change`);
    this.userId = userId;
  }
}

/** Another user holds this email (an active or a deactivated one: deactivation keeps it reserved). */
export class EmailAlreadyRegisteredError extends IllegalStateError {
  readonly email: string;
  constructor(email: string) {
    super('EMAIL_ALREADY_REGISTERED', `The email ${email} is already registered to another user`);
    this.email = email;
  }
}

// ---- Decisions ----------------------------------------------------------------------------

export const MAX_NAME_LENGTH = 200;
/** RFC 5321's limit on a whole address. */
export const MAX_EMAIL_LENGTH = 254;

/**
 * A deliberately plain check: one @, a non-empty local part, a dotted domain, no spaces. Whether
 * the address really receives mail only a confirmation message can tell.
 */
const EMAIL = /^[^\s@]+@[^\s@.]+(\.[^\s@.]+)+$/;

export function normaliseEmail(email: string): string {
  return email.trim().toLowerCase();
}

export function emailIssue(email: string): ValidationIssue | undefined {
  if (email.length === 0) return { path: 'email', message: 'must not be empty' };
  if (email.length > MAX_EMAIL_LENGTH) return { path: 'email', message: `must be at most ${MAX_EMAIL_LENGTH} characters` };
  if (!EMAIL.test(email)) return { path: 'email', message: 'must be an email address like name@example.com' };
  return undefined;
}

export function nameIssue(name: string): ValidationIssue | undefined {
  if (name.length === 0) return { path: 'name', message: 'must not be empty' };
  if (name.length > MAX_NAME_LENGTH) return { path: 'name', message: `must be at most ${MAX_NAME_LENGTH} characters` };
  return undefined;
}

export function decide(command: UserCommand, state: UserState): readonly UserEvent[] | DomainError {
  switch (command.type) {
    case 'RegisterUser': {
      const { userId } = command.data;
      if (state.status !== 'Unregistered') return new UserAlreadyRegisteredError(userId);
      const email = normaliseEmail(command.data.email);
      const name = command.data.name.trim();
      const error = invalidInput([emailIssue(email), nameIssue(name)]);
      if (error) return error;
      return [{ type: 'UserRegistered', data: { userId, email, name } }];
    }
    case 'RenameUser': {
      const { userId } = command.data;
      if (state.status === 'Unregistered') return new NotFoundError('User', userId);
      if (state.status === 'Deactivated') return new UserDeactivatedError(userId);
      const name = command.data.name.trim();
      const error = invalidInput([nameIssue(name)]);
      if (error) return error;
      return [{ type: 'UserRenamed', data: { name, previousName: state.name } }];
    }
    case 'DeactivateUser': {
      const { userId } = command.data;
      if (state.status === 'Unregistered') return new NotFoundError('User', userId);
      if (state.status === 'Deactivated') return new UserDeactivatedError(userId);
      return [{ type: 'UserDeactivated', data: {} }];
    }
    default:
      return assertNever(command);
  }
}

export const userDecider: Decider<UserCommand, UserEvent, UserState> = {
  streamType: 'User',
  initialState,
  evolve,
  decide,
  schemaVersions: { UserRegistered: 1, UserRenamed: 1, UserDeactivated: 1 },
};
