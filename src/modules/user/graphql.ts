import type { Builder } from '../../graphql/builder.ts';
import { type AggregateGraphQL, commandIdField, commandMutation, expectedVersionField } from '../../graphql/commandMutation.ts';
import { ruleErrorType } from '../../graphql/errors.ts';
import { userRowsVisibleTo } from './policy.ts';
import { eventTypes } from '../../graphql/events.ts';
import { idShape } from '../../graphql/inputShapes.ts';
import { keysetListing, readModelNode, readModelQuery } from '../../graphql/readModel.ts';
import {
  EmailAlreadyRegisteredError,
  MAX_EMAIL_LENGTH,
  MAX_NAME_LENGTH,
  normaliseEmail,
  UserAlreadyRegisteredError,
  type UserCommand,
  userDecider,
  UserDeactivatedError,
  type UserEvent,
  type UserState,
} from './user.ts';
import { UserRecord, type UserView, userView } from './projection.ts';

/**
 * The user's GraphQL. Only ids are checked here: the decider owns the email and name rules and
 * reports every broken one in one ValidationError.
 */
export function userGraphQL(builder: Builder): void {
  const UserStatusEnum = builder.enumType('UserStatus', {
    description: 'Where a user is in its life.',
    values: {
      ACTIVE: { description: 'Registered; can be renamed and deactivated.' },
      DEACTIVATED: { description: 'Final: nothing changes any more, and the email stays reserved.' },
    } as const,
  });

  const UserRef = readModelNode<UserView>(builder, {
    name: 'User',
    noun: 'user',
    entity: UserRecord as never,
    visibleTo: userRowsVisibleTo,
    description: 'A registered user as its projection holds it (updated in the same transaction as its events).',
    fields: (t) => ({
      email: t.exposeString('email', { description: 'The email address, trimmed and in lower case; unique among all users.' }),
      name: t.exposeString('name', { description: 'The display name.' }),
      status: t.field({ type: UserStatusEnum, description: 'ACTIVE or DEACTIVATED.', resolve: (user) => user.status }),
      registeredAt: t.field({ type: 'DateTime', description: 'When the user registered.', resolve: (user) => user.registeredAt }),
      updatedAt: t.field({ type: 'DateTime', description: 'When the latest event was recorded.', resolve: (user) => user.updatedAt }),
      deactivatedAt: t.field({ type: 'DateTime', nullable: true, description: 'When the user was deactivated; null while active.', resolve: (user) => user.deactivatedAt }),
    }),
  });
  const user: AggregateGraphQL<UserCommand, UserEvent, UserState, UserView> = { decider: userDecider, view: userView, ref: UserRef, noun: 'user', visibleTo: userRowsVisibleTo };

  eventTypes<UserEvent>(builder, {
    UserRegistered: {
      description: 'A user registered with an email and a name.',
      fields: (t) => ({
        userId: t.string({ description: 'The new user.', resolve: (e) => e.data.userId }),
        email: t.string({ description: 'The email, normalised to lower case.', resolve: (e) => e.data.email }),
        name: t.string({ description: 'The display name.', resolve: (e) => e.data.name }),
      }),
    },
    UserRenamed: {
      description: "A user's display name changed.",
      fields: (t) => ({
        name: t.string({ description: 'The new name.', resolve: (e) => e.data.name }),
        previousName: t.string({ description: 'The name before.', resolve: (e) => e.data.previousName }),
      }),
    },
    UserDeactivated: { description: 'A user was deactivated; it is final from here on and keeps its email reserved.', fields: () => ({}) },
  });

  const userIdField = { description: 'The user the command addressed.' };
  ruleErrorType(builder, UserAlreadyRegisteredError, { name: 'UserAlreadyRegisteredError', description: 'A user with this id is registered already.', fields: (t) => ({ userId: t.exposeString('userId', userIdField) }) });
  ruleErrorType(builder, UserDeactivatedError, { name: 'UserDeactivatedError', description: 'The user is deactivated; it cannot change.', fields: (t) => ({ userId: t.exposeString('userId', userIdField) }) });
  ruleErrorType(builder, EmailAlreadyRegisteredError, {
    name: 'EmailAlreadyRegisteredError',
    description: 'Another user (active or deactivated) holds this email. Nothing was changed.',
    fields: (t) => ({ email: t.exposeString('email', { description: 'The email, normalised, that is taken.' }) }),
  });

  commandMutation(builder, user, {
    name: 'registerUser',
    description: 'Registers a new user. Of concurrent registrations of one email exactly one succeeds; the others get EmailAlreadyRegisteredError.',
    verb: 'registered',
    input: builder.inputType('RegisterUserInput', {
      description: 'Who registers.',
      fields: (t) => ({
        userId: t.id({ required: false, validate: idShape, description: 'Choose the id (URL-safe, up to 100 characters); generated when omitted.' }),
        email: t.string({ description: `An email address, up to ${MAX_EMAIL_LENGTH} characters; stored in lower case. Unique among all users.` }),
        name: t.string({ description: `The display name, 1 to ${MAX_NAME_LENGTH} characters.` }),
        commandId: commandIdField(t),
      }),
    }),
    errors: [UserAlreadyRegisteredError, EmailAlreadyRegisteredError],
    streamId: (input) => input.userId,
    command: ({ email, name }, userId) => ({ type: 'RegisterUser', data: { userId, email, name } }),
  });

  commandMutation(builder, user, {
    name: 'renameUser',
    description: 'Changes the display name of an active user.',
    verb: 'renamed',
    input: builder.inputType('RenameUserInput', {
      description: 'Which user gets which new name.',
      fields: (t) => ({
        userId: t.id({ validate: idShape, description: 'The user to rename.' }),
        name: t.string({ description: `The new display name, 1 to ${MAX_NAME_LENGTH} characters.` }),
        expectedVersion: expectedVersionField(t, 'user'),
        commandId: commandIdField(t),
      }),
    }),
    errors: [UserDeactivatedError],
    streamId: (input) => input.userId,
    command: ({ name }, userId) => ({ type: 'RenameUser', data: { userId, name } }),
  });

  commandMutation(builder, user, {
    name: 'deactivateUser',
    description: 'Deactivates an active user for good. Its email stays reserved, so no one else can register with it.',
    verb: 'deactivated',
    input: builder.inputType('DeactivateUserInput', {
      description: 'Which user to deactivate.',
      fields: (t) => ({
        userId: t.id({ validate: idShape, description: 'The user to deactivate.' }),
        expectedVersion: expectedVersionField(t, 'user'),
        commandId: commandIdField(t),
      }),
    }),
    errors: [UserDeactivatedError],
    streamId: (input) => input.userId,
    command: (_input, userId) => ({ type: 'DeactivateUser', data: { userId } }),
  });

  readModelQuery(builder, user, { description: 'One user from the projection; null when there is no such user.' });

  const UserFilterInput = builder.inputType('UserFilter', {
    description: 'Narrows the user listing. All given conditions must hold.',
    fields: (t) => ({
      status: t.field({ type: UserStatusEnum, required: false, description: 'Only users in this status.' }),
      email: t.string({ required: false, description: 'Only the user with this email (matched in any case).' }),
    }),
  });
  keysetListing(builder, {
    field: 'users',
    ref: UserRef,
    typeName: 'User',
    entity: UserRecord as never,
    timeField: 'registeredAt',
    visibleTo: userRowsVisibleTo,
    description: 'Users, newest first, from the projection.',
    filter: {
      input: UserFilterInput,
      description: 'Which users to list.',
      where: (filter) => [
        ...(filter.status != null ? [{ status: filter.status }] : []),
        ...(filter.email != null ? [{ email: normaliseEmail(filter.email) }] : []),
      ],
    },
  });
}
