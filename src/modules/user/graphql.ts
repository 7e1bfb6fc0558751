import { resolveCursorConnection } from '@pothos/plugin-relay';
import type { RecordedEvent } from '../../core/message.ts';
import { AsOfInput, COMMAND_ID_FIELD, eventObjectType, toAsOf } from '../../graphql/events.ts';
import { idFromCommandId } from '../../eventStore/commands/idempotency.ts';
import { viewAsOf } from '../../eventStore/projections/timeTravel.ts';
import { builder } from '../../graphql/builder.ts';
import { runViewCommand, viewCommandSuccessType } from '../../graphql/viewCommand.ts';
import { commandErrors, ruleErrorType } from '../../graphql/errors.ts';
import { encodeTimeIdCursor, timeIdPageConditions } from '../../graphql/keysetCursor.ts';
import { ID_HINT, ID_PATTERN, InputCheck } from '../../graphql/validation.ts';
import {
  EmailAlreadyRegisteredError,
  MAX_EMAIL_LENGTH,
  MAX_NAME_LENGTH,
  normaliseEmail,
  UserAlreadyRegisteredError,
  userDecider,
  UserDeactivatedError,
} from './user.ts';
import { UserRecord, type UserView, userView } from './projection.ts';

// ---- Read model types ---------------------------------------------------------------------

const UserStatusEnum = builder.enumType('UserStatus', {
  description: 'Where a user is in its life.',
  values: {
    ACTIVE: { description: 'Registered; can be renamed and deactivated.' },
    DEACTIVATED: { description: 'Final: nothing changes any more, and the email stays reserved.' },
  } as const,
});

export const UserRef = builder.objectRef<UserView>('User').implement({
  description: 'A registered user as its projection holds it (updated in the same transaction as its events).',
  fields: (t) => ({
    id: t.exposeID('id', { description: 'The user id, which is also its stream id.' }),
    email: t.exposeString('email', { description: 'The email address, trimmed and in lower case; unique among all users.' }),
    name: t.exposeString('name', { description: 'The display name.' }),
    status: t.field({ type: UserStatusEnum, description: 'ACTIVE or DEACTIVATED.', resolve: (user) => user.status }),
    version: t.exposeInt('version', { description: 'The stream version this state reflects; pass it as expectedVersion to guard a change.' }),
    registeredAt: t.field({ type: 'DateTime', description: 'When the user registered.', resolve: (user) => user.registeredAt }),
    updatedAt: t.field({ type: 'DateTime', description: 'When the latest event was recorded.', resolve: (user) => user.updatedAt }),
    deactivatedAt: t.field({ type: 'DateTime', nullable: true, description: 'When the user was deactivated; null while active.', resolve: (user) => user.deactivatedAt }),
  }),
});

// ---- Events -------------------------------------------------------------------------------

type Data<T> = RecordedEvent & { data: T };

eventObjectType('UserRegistered', {
  description: 'A user registered with an email and a name.',
  fields: (t) => ({
    userId: t.string({ description: 'The new user.', resolve: (e: Data<{ userId: string }>) => e.data.userId }),
    email: t.string({ description: 'The email, normalised to lower case.', resolve: (e: Data<{ email: string }>) => e.data.email }),
    name: t.string({ description: 'The display name.', resolve: (e: Data<{ name: string }>) => e.data.name }),
  }),
});
eventObjectType('UserRenamed', {
  description: "A user's display name changed.",
  fields: (t) => ({
    name: t.string({ description: 'The new name.', resolve: (e: Data<{ name: string }>) => e.data.name }),
    previousName: t.string({ description: 'The name before.', resolve: (e: Data<{ previousName: string }>) => e.data.previousName }),
  }),
});
eventObjectType('UserDeactivated', {
  description: 'A user was deactivated; it is final from here on and keeps its email reserved.',
  fields: () => ({}),
});

// ---- Rule errors --------------------------------------------------------------------------

const userIdField = (t: any) => ({ userId: t.exposeString('userId', { description: 'The user the command addressed.' }) });
ruleErrorType(UserAlreadyRegisteredError, { name: 'UserAlreadyRegisteredError', description: 'A user with this id is registered already.', fields: userIdField });
ruleErrorType(UserDeactivatedError, { name: 'UserDeactivatedError', description: 'The user is deactivated; it cannot change.', fields: userIdField });
ruleErrorType(EmailAlreadyRegisteredError, {
  name: 'EmailAlreadyRegisteredError',
  description: 'Another user (active or deactivated) holds this email. Nothing was changed.',
  fields: (t) => ({ email: t.exposeString('email', { description: 'The email, normalised, that is taken.' }) }),
});

// ---- Commands -----------------------------------------------------------------------------

const successType = (name: string, verb: string) => viewCommandSuccessType(name, { field: 'user', noun: 'user', verb, type: UserRef });
const aggregate = { decider: userDecider, view: userView };

const EXPECTED_VERSION = {
  required: false,
  description: 'Refuse with ConcurrencyError unless the user is at this version. Omit to let the server retry on conflicts.',
} as const;
// Only the id is checked here: the decider owns the email and name rules and reports every broken one in one ValidationError.
const checkedUserId = (check: InputCheck, id: string) => check.text('userId', id, { max: 100, pattern: ID_PATTERN, patternHint: ID_HINT });

const RegisterUserInput = builder.inputType('RegisterUserInput', {
  description: 'Who registers.',
  fields: (t) => ({
    userId: t.id({ required: false, description: 'Choose the id (URL-safe, up to 100 characters); generated when omitted.' }),
    email: t.string({ description: `An email address, up to ${MAX_EMAIL_LENGTH} characters; stored in lower case. Unique among all users.` }),
    name: t.string({ description: `The display name, 1 to ${MAX_NAME_LENGTH} characters.` }),
    commandId: t.id(COMMAND_ID_FIELD),
  }),
});
builder.mutationField('registerUser', (t) =>
  t.field({
    type: successType('RegisterUserSuccess', 'registered'),
    description: 'Registers a new user. Of concurrent registrations of one email exactly one succeeds; the others get EmailAlreadyRegisteredError.',
    args: { input: t.arg({ type: RegisterUserInput, description: 'The new user.' }) },
    errors: { types: [...commandErrors, UserAlreadyRegisteredError, EmailAlreadyRegisteredError], directResult: true, union: { name: 'RegisterUserResult' } },
    resolve: async (_root, { input }, ctx) => {
      const check = new InputCheck();
      const commandId = check.optionalCommandId('commandId', input.commandId);
      // A replayed command id must address the user its first run registered, so the id derives from it.
      const generatedId = commandId === undefined ? ctx.ids.uuid() : idFromCommandId(userDecider.streamType, commandId);
      const userId = input.userId == null ? generatedId : checkedUserId(check, String(input.userId));
      check.done();
      // No expectedVersion: on an id that is taken, the decider answers UserAlreadyRegisteredError.
      const data = { userId, email: input.email, name: input.name };
      return runViewCommand(ctx, aggregate, userId, { type: 'RegisterUser', data, now: ctx.clock.now() }, { expectedVersion: undefined, commandId });
    },
  }),
);

const RenameUserInput = builder.inputType('RenameUserInput', {
  description: 'Which user gets which new name.',
  fields: (t) => ({
    userId: t.id({ description: 'The user to rename.' }),
    name: t.string({ description: `The new display name, 1 to ${MAX_NAME_LENGTH} characters.` }),
    expectedVersion: t.int(EXPECTED_VERSION),
    commandId: t.id(COMMAND_ID_FIELD),
  }),
});
builder.mutationField('renameUser', (t) =>
  t.field({
    type: successType('RenameUserSuccess', 'renamed'),
    description: 'Changes the display name of an active user.',
    args: { input: t.arg({ type: RenameUserInput, description: 'The user and the new name.' }) },
    errors: { types: [...commandErrors, UserDeactivatedError], directResult: true, union: { name: 'RenameUserResult' } },
    resolve: async (_root, { input }, ctx) => {
      const check = new InputCheck();
      const userId = checkedUserId(check, String(input.userId));
      const commandId = check.optionalCommandId('commandId', input.commandId);
      const expectedVersion = check.optionalVersion('expectedVersion', input.expectedVersion);
      check.done();
      return runViewCommand(ctx, aggregate, userId, { type: 'RenameUser', data: { userId, name: input.name }, now: ctx.clock.now() }, { expectedVersion, commandId });
    },
  }),
);

const DeactivateUserInput = builder.inputType('DeactivateUserInput', {
  description: 'Which user to deactivate.',
  fields: (t) => ({
    userId: t.id({ description: 'The user to deactivate.' }),
    expectedVersion: t.int(EXPECTED_VERSION),
    commandId: t.id(COMMAND_ID_FIELD),
  }),
});
builder.mutationField('deactivateUser', (t) =>
  t.field({
    type: successType('DeactivateUserSuccess', 'deactivated'),
    description: 'Deactivates an active user for good. Its email stays reserved, so no one else can register with it.',
    args: { input: t.arg({ type: DeactivateUserInput, description: 'The user.' }) },
    errors: { types: [...commandErrors, UserDeactivatedError], directResult: true, union: { name: 'DeactivateUserResult' } },
    resolve: async (_root, { input }, ctx) => {
      const check = new InputCheck();
      const userId = checkedUserId(check, String(input.userId));
      const commandId = check.optionalCommandId('commandId', input.commandId);
      const expectedVersion = check.optionalVersion('expectedVersion', input.expectedVersion);
      check.done();
      return runViewCommand(ctx, aggregate, userId, { type: 'DeactivateUser', data: { userId }, now: ctx.clock.now() }, { expectedVersion, commandId });
    },
  }),
);

// ---- Queries ------------------------------------------------------------------------------

builder.queryField('user', (t) =>
  t.field({
    type: UserRef,
    nullable: true,
    description:
      'One user from the projection; null when there is no such user. With `asOf`, the user as it was at that version or ' +
      'instant, rebuilt from its events by the same code that maintains the projection (null if it did not exist yet).',
    args: {
      id: t.arg.id({ description: 'The user id.' }),
      asOf: t.arg({ type: AsOfInput, required: false, description: 'Travel back in time: the user as it was at this version or instant.' }),
    },
    resolve: async (_root, args, ctx) => {
      const id = String(args.id);
      if (args.asOf != null) return viewAsOf(ctx.em, userView, id, toAsOf(args.asOf));
      return (await ctx.em.findOne(UserRecord, id)) as UserView | null;
    },
  }),
);

const UserFilterInput = builder.inputType('UserFilter', {
  description: 'Narrows the user listing. All given conditions must hold.',
  fields: (t) => ({
    status: t.field({ type: UserStatusEnum, required: false, description: 'Only users in this status.' }),
    email: t.string({ required: false, description: 'Only the user with this email (matched in any case).' }),
  }),
});

builder.queryField('users', (t) =>
  t.connection({
    type: UserRef,
    description: 'Users, newest first, from the projection. Page with first/after or last/before (at most 100 a page, 20 by default).',
    args: { filter: t.arg({ type: UserFilterInput, required: false, description: 'Which users to list.' }) },
    resolve: (_root, args, ctx) =>
      resolveCursorConnection<Promise<UserView[]>>(
        { args, toCursor: (user: UserView) => encodeTimeIdCursor({ time: user.registeredAt, id: user.id }), defaultSize: 20, maxSize: 100 },
        async ({ before, after, limit, inverted }): Promise<UserView[]> => {
          const where = timeIdPageConditions('registeredAt', { after, before });
          if (args.filter?.status != null) where.push({ status: args.filter.status });
          if (args.filter?.email != null) where.push({ email: normaliseEmail(args.filter.email) });
          const direction = inverted ? 'asc' : 'desc';
          const rows = await ctx.em.find(UserRecord, { $and: where } as never, { orderBy: { registeredAt: direction, id: direction } as never, limit });
          return rows as UserView[];
        },
      ),
  }),
);
