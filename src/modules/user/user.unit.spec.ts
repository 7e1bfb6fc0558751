import { describe, expect, it } from 'vitest';
import { NotFoundError, ValidationError } from '../../core/errors.ts';
import { fold } from '../../core/decider.ts';
import { deciderSpec } from '../../../test/support/deciderSpec.ts';
import { MAX_EMAIL_LENGTH, MAX_NAME_LENGTH, UserAlreadyRegisteredError, userDecider, UserDeactivatedError, type UserEvent } from './user.ts';

const now = new Date('2026-11-23T10:00:00Z');
const spec = deciderSpec(userDecider);

const registered: UserEvent = { type: 'UserRegistered', data: { userId: 'user-1', email: 'ada@example.com', name: 'Ada Lovelace' } };
const renamed = (name: string, previousName: string): UserEvent => ({ type: 'UserRenamed', data: { name, previousName } });
const deactivated: UserEvent = { type: 'UserDeactivated', data: {} };

const register = (email = 'ada@example.com', name = 'Ada Lovelace') => ({ type: 'RegisterUser', data: { userId: 'user-1', email, name }, now }) as const;
const rename = (name: string) => ({ type: 'RenameUser', data: { userId: 'user-1', name }, now }) as const;
const deactivate = { type: 'DeactivateUser', data: { userId: 'user-1' }, now } as const;

describe('registering', () => {
  it('a new user registers with an email and a name', () => {
    spec.given().when(register()).then(registered);
  });

  it('the email is stored trimmed and in lower case, the name trimmed', () => {
    spec.given().when(register('  Ada@Example.COM ', '  Ada Lovelace ')).then(registered);
  });

  it.each(['', 'ada', 'ada@', '@example.com', 'ada@example', 'ada lovelace@example.com', 'ada@@example.com', `${'a'.repeat(MAX_EMAIL_LENGTH)}@example.com`])(
    'the email %j is refused',
    (email) => {
      const error = spec.given().when(register(email)).thenFails(ValidationError);
      expect(error.issues.map((issue) => issue.path)).toEqual(['email']);
    },
  );

  it.each(['', '   ', 'x'.repeat(MAX_NAME_LENGTH + 1)])('the name %j is refused', (name) => {
    const error = spec.given().when(register('ada@example.com', name)).thenFails(ValidationError);
    expect(error.issues.map((issue) => issue.path)).toEqual(['name']);
  });

  it('a bad email and a bad name are reported together', () => {
    const error = spec.given().when(register('nope', '')).thenFails(ValidationError);
    expect(error.issues.map((issue) => issue.path)).toEqual(['email', 'name']);
  });

  it('an id that is already registered cannot register again', () => {
    spec.given(registered).when(register('other@example.com')).thenFails(UserAlreadyRegisteredError, { code: 'USER_ALREADY_REGISTERED', userId: 'user-1' });
  });

  it('a deactivated user id cannot register again either', () => {
    spec.given(registered, deactivated).when(register()).thenFails(UserAlreadyRegisteredError);
  });
});

describe('renaming', () => {
  it('an active user takes a new name, and the event keeps the old one', () => {
    spec.given(registered).when(rename('Augusta Ada King')).then(renamed('Augusta Ada King', 'Ada Lovelace'));
    const state = fold(userDecider, [registered, renamed('Augusta Ada King', 'Ada Lovelace')]);
    expect(state.status === 'Active' && state.name).toBe('Augusta Ada King');
  });

  it('the new name is trimmed', () => {
    spec.given(registered).when(rename('  Ada  ')).then(renamed('Ada', 'Ada Lovelace'));
  });

  it('an empty name is refused', () => {
    spec.given(registered).when(rename('  ')).thenFails(ValidationError);
  });

  it('an unknown user is not found', () => {
    spec.given().when(rename('Ada')).thenFails(NotFoundError, { resource: 'User', id: 'user-1' });
  });

  it('a deactivated user cannot be renamed', () => {
    spec.given(registered, deactivated).when(rename('Ada')).thenFails(UserDeactivatedError, { code: 'USER_DEACTIVATED', userId: 'user-1' });
  });
});

describe('deactivating', () => {
  it('an active user is deactivated', () => {
    spec.given(registered, renamed('Ada', 'Ada Lovelace')).when(deactivate).then(deactivated);
    expect(fold(userDecider, [registered, deactivated])).toMatchObject({ status: 'Deactivated', email: 'ada@example.com' });
  });

  it('an unknown user is not found', () => {
    spec.given().when(deactivate).thenFails(NotFoundError, { resource: 'User' });
  });

  it('a deactivated user cannot be deactivated again', () => {
    spec.given(registered, deactivated).when(deactivate).thenFails(UserDeactivatedError);
  });
});
