import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './support/server.ts';

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => server?.close());

const USER_FIELDS = 'id: userId email name status version registeredAt updatedAt deactivatedAt';

const REGISTER = `mutation Register($input: RegisterUserInput!) {
  registerUser(input: $input) {
    __typename
    ... on RegisterUserSuccess { user { ${USER_FIELDS} } events { __typename type version ... on UserRegistered { userId email name } } position }
    ... on Error { message code }
    ... on ValidationError { issues { path message } }
    ... on EmailAlreadyRegisteredError { email }
    ... on UserAlreadyRegisteredError { userId }
  }
}`;
const RENAME = `mutation Rename($input: RenameUserInput!) {
  renameUser(input: $input) {
    __typename
    ... on RenameUserSuccess { user { ${USER_FIELDS} } events { type ... on UserRenamed { name previousName } } position }
    ... on Error { message code }
    ... on NotFoundError { resource id }
    ... on UserDeactivatedError { userId }
    ... on ConcurrencyError { expectedVersion actualVersion }
  }
}`;
const DEACTIVATE = `mutation Deactivate($input: DeactivateUserInput!) {
  deactivateUser(input: $input) {
    __typename
    ... on DeactivateUserSuccess { user { ${USER_FIELDS} } events { __typename type version } position }
    ... on Error { message code }
    ... on UserDeactivatedError { userId }
  }
}`;

const register = async (input: Record<string, unknown>) => (await server.gql(REGISTER, { input })).data!.registerUser;

describe('registering over HTTP', () => {
  it('registers a user with a normalised email and returns the projection, the event and a position', async () => {
    const result = await register({ userId: 'ada', email: ' Ada@Example.com ', name: 'Ada Lovelace' });
    expect(result).toMatchObject({
      __typename: 'RegisterUserSuccess',
      user: { id: 'ada', email: 'ada@example.com', name: 'Ada Lovelace', status: 'ACTIVE', version: 1, deactivatedAt: null },
      events: [{ __typename: 'UserRegistered', type: 'UserRegistered', version: 1, userId: 'ada', email: 'ada@example.com', name: 'Ada Lovelace' }],
    });
    expect(result.position).toMatch(/^[0-9a-z]+_[0-9a-z]+$/);
  });

  it('generates an id when none is given', async () => {
    const result = await register({ email: 'anonymous@example.com', name: 'Someone' });
    expect(result.__typename).toBe('RegisterUserSuccess');
    expect(result.user.id).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('refuses a taken email, in any case, with EmailAlreadyRegisteredError', async () => {
    await register({ userId: 'taken-1', email: 'taken@example.com', name: 'First' });
    expect(await register({ userId: 'taken-2', email: 'TAKEN@example.com', name: 'Second' })).toMatchObject({
      __typename: 'EmailAlreadyRegisteredError',
      code: 'EMAIL_ALREADY_REGISTERED',
      email: 'taken@example.com',
    });
    expect((await server.gql('{ user(id: "taken-2") { id } }')).data).toEqual({ user: null });
  });

  it('of concurrent registrations of one email over HTTP exactly one succeeds', async () => {
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => register({ userId: `http-racer-${i}`, email: 'http-race@example.com', name: `Racer ${i}` })));
    const types = results.map((result) => result.__typename);
    expect(types.filter((type) => type === 'RegisterUserSuccess')).toHaveLength(1);
    expect(types.filter((type) => type === 'EmailAlreadyRegisteredError')).toHaveLength(7);
    const listed = await server.gql('{ users(filter: { email: "http-race@example.com" }) { edges { node { id: userId } } } }');
    expect(listed.data.users.edges).toHaveLength(1);
  });

  it('refuses re-registering an id with UserAlreadyRegisteredError', async () => {
    await register({ userId: 'twice', email: 'twice@example.com', name: 'Twice' });
    expect(await register({ userId: 'twice', email: 'twice-again@example.com', name: 'Twice' })).toMatchObject({
      __typename: 'UserAlreadyRegisteredError',
      code: 'USER_ALREADY_REGISTERED',
      userId: 'twice',
    });
  });

  it('reports a bad email and an empty name as one ValidationError', async () => {
    const result = await register({ email: 'not-an-email', name: '   ' });
    expect(result.__typename).toBe('ValidationError');
    expect(result.issues.map((issue: { path: string }) => issue.path).sort()).toEqual(['email', 'name']);
  });
});

describe('renaming and deactivating over HTTP', () => {
  it('renames an active user, guarded by expectedVersion', async () => {
    await register({ userId: 'grace', email: 'grace@example.com', name: 'Grace' });
    const renamed = (await server.gql(RENAME, { input: { userId: 'grace', name: 'Grace Hopper', expectedVersion: 1 } })).data!.renameUser;
    expect(renamed).toMatchObject({
      __typename: 'RenameUserSuccess',
      user: { name: 'Grace Hopper', version: 2 },
      events: [{ type: 'UserRenamed', name: 'Grace Hopper', previousName: 'Grace' }],
    });
    const stale = (await server.gql(RENAME, { input: { userId: 'grace', name: 'G. Hopper', expectedVersion: 1 } })).data!.renameUser;
    expect(stale).toMatchObject({ __typename: 'ConcurrencyError', expectedVersion: 1, actualVersion: 2 });
  });

  it('renaming an unknown user is NotFoundError', async () => {
    const result = (await server.gql(RENAME, { input: { userId: 'nobody', name: 'Nobody' } })).data!.renameUser;
    expect(result).toMatchObject({ __typename: 'NotFoundError', resource: 'User', id: 'nobody' });
  });

  it('deactivates a user, after which it can be neither renamed nor deactivated', async () => {
    await register({ userId: 'alan', email: 'alan@example.com', name: 'Alan' });
    const deactivatedAt = server.clock.advance(60_000).toISOString();
    const result = (await server.gql(DEACTIVATE, { input: { userId: 'alan' } })).data!.deactivateUser;
    expect(result).toMatchObject({ __typename: 'DeactivateUserSuccess', user: { status: 'DEACTIVATED', version: 2 }, events: [{ __typename: 'UserDeactivated', type: 'UserDeactivated', version: 2 }] });
    expect(result.user).toMatchObject({ deactivatedAt, updatedAt: deactivatedAt });
    expect(result.user.registeredAt).not.toBe(deactivatedAt);
    expect((await server.gql(RENAME, { input: { userId: 'alan', name: 'Turing' } })).data!.renameUser).toMatchObject({ __typename: 'UserDeactivatedError', code: 'USER_DEACTIVATED', userId: 'alan' });
    expect((await server.gql(DEACTIVATE, { input: { userId: 'alan' } })).data!.deactivateUser).toMatchObject({ __typename: 'UserDeactivatedError' });
    expect(await register({ email: 'alan@example.com', name: 'Another Alan' })).toMatchObject({ __typename: 'EmailAlreadyRegisteredError' });
  });
});

describe('idempotency and time travel for users', () => {
  it('a registration sent twice with one commandId registers once and answers the same both times', async () => {
    const input = { email: 'once@example.com', name: 'Once', commandId: 'register-once-1' };
    const first = await register(input);
    const again = await register(input);
    expect(first.__typename).toBe('RegisterUserSuccess');
    expect(again).toEqual(first);
    const stream = await server.gql(`query($id: ID!) { stream(id: $id) { version } }`, { id: first.user.id });
    expect(stream.data.stream.version).toBe(1);
  });

  it('a commandId reused for another command is refused with CommandIdReusedError', async () => {
    await register({ email: 'reuse@example.com', name: 'Reuse', commandId: 'register-reuse-1' });
    const result = await server.gql(`mutation($input: RegisterUserInput!) { registerUser(input: $input) { __typename ... on Error { code } } }`, {
      input: { email: 'other-reuse@example.com', name: 'Other', commandId: 'register-reuse-1' },
    });
    expect(result.data.registerUser).toEqual({ __typename: 'CommandIdReusedError', code: expect.any(String) });
  });

  it('user(asOf) shows the user as it was at an earlier version', async () => {
    await register({ userId: 'katherine', email: 'katherine@example.com', name: 'Katherine' });
    await server.gql(RENAME, { input: { userId: 'katherine', name: 'Katherine Johnson' } });
    await server.gql(DEACTIVATE, { input: { userId: 'katherine' } });
    const result = await server.gql(`{
      v1: user(id: "katherine", asOf: { version: 1 }) { name status version }
      v2: user(id: "katherine", asOf: { version: 2 }) { name status version }
      now: user(id: "katherine") { name status version }
      before: user(id: "katherine", asOf: { version: 0 }) { name }
    }`);
    expect(result.data).toEqual({
      v1: { name: 'Katherine', status: 'ACTIVE', version: 1 },
      v2: { name: 'Katherine Johnson', status: 'ACTIVE', version: 2 },
      now: { name: 'Katherine Johnson', status: 'DEACTIVATED', version: 3 },
      before: null,
    });
  });
});

describe('querying users over HTTP', () => {
  it('reads one user by id, and null for an unknown id', async () => {
    await register({ userId: 'barbara', email: 'barbara@example.com', name: 'Barbara Liskov' });
    expect((await server.gql(`{ user(id: "barbara") { id: userId email name status version } }`)).data).toEqual({
      user: { id: 'barbara', email: 'barbara@example.com', name: 'Barbara Liskov', status: 'ACTIVE', version: 1 },
    });
    expect((await server.gql(`{ user(id: "no-such-user") { id } }`)).data).toEqual({ user: null });
  });

  it('lists users newest first in pages, filtered by status and by email', async () => {
    // Registered a second apart, in an order their ids do not sort in, after every other user here.
    for (const name of ['p2', 'p3', 'p1']) {
      server.clock.advance(1000);
      await register({ userId: `page-${name}`, email: `${name}@paging.example.com`, name });
    }
    const LIST = `query Users($first: Int, $after: String, $filter: UserFilter) {
      users(first: $first, after: $after, filter: $filter) { edges { cursor node { id: userId status } } pageInfo { hasNextPage endCursor } }
    }`;
    const first = (await server.gql(LIST, { first: 2 })).data.users;
    expect(first.edges.map((edge: { node: { id: string } }) => edge.node.id)).toEqual(['page-p1', 'page-p3']);
    expect(first.pageInfo.hasNextPage).toBe(true);
    const second = (await server.gql(LIST, { first: 1, after: first.pageInfo.endCursor })).data.users;
    expect(second.edges.map((edge: { node: { id: string } }) => edge.node.id)).toEqual(['page-p2']);

    await server.gql(DEACTIVATE, { input: { userId: 'page-p3' } });
    const deactivated = (await server.gql(LIST, { first: 100, filter: { status: 'DEACTIVATED' } })).data.users;
    const deactivatedIds = deactivated.edges.map((edge: { node: { id: string } }) => edge.node.id);
    expect(deactivatedIds).toContain('page-p3');
    expect(deactivatedIds).not.toContain('page-p1');
    expect(deactivated.edges.every((edge: { node: { status: string } }) => edge.node.status === 'DEACTIVATED')).toBe(true);

    const byEmail = (await server.gql(LIST, { filter: { email: 'P2@Paging.Example.com' } })).data.users;
    expect(byEmail.edges.map((edge: { node: { id: string } }) => edge.node.id)).toEqual(['page-p2']);
  });

  it('refuses a cursor it did not hand out', async () => {
    const result = await server.gql(`{ users(after: "garbage") { edges { node { id: userId } } } }`);
    expect(result.errors?.[0]?.extensions?.code).toBe('VALIDATION');
  });
});
