import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RecordedEvent } from '../src/core/message.ts';
import { query } from '../src/db/sql.ts';
import { handleCommand } from '../src/eventStore/commands/commandHandler.ts';
import { replayView } from '../src/eventStore/projections/projection.ts';
import { readStream } from '../src/eventStore/log/read.ts';
import { UserRecord, userView } from '../src/modules/user/projection.ts';
import { EmailAlreadyRegisteredError, type UserCommand, userDecider, type UserEvent } from '../src/modules/user/user.ts';
import { apiInstance, appUpcasters } from './support/commands.ts';
import { openTestOrm } from './support/database.ts';


let db: Awaited<ReturnType<typeof openTestOrm>>;
beforeAll(async () => {
  db = await openTestOrm(20);
});
afterAll(async () => db?.close());

// One API instance for the spec file, made once the database is open.
let environment: ReturnType<typeof apiInstance>;
beforeAll(() => {
  environment = apiInstance(db.orm);
});
const run = (userId: string, command: UserCommand) => handleCommand(environment(), userDecider, userId, command);
const register = (userId: string, email: string, name = 'Ada'): UserCommand => ({ type: 'RegisterUser', data: { userId, email, name }, now: new Date() });

const userStreamsWithEmail = async (email: string) =>
  query<{ stream_id: string }>(db.orm.em.fork(), `select distinct stream_id from events where event_type = 'UserRegistered' and data->>'email' = $1`, [email]);

describe('unique email', () => {
  it('of ten concurrent registrations of one email exactly one wins; the others get EmailAlreadyRegisteredError and leave no events', async () => {
    const email = 'race@example.com';
    const contenders = Array.from({ length: 10 }, (_, i) => `racer-${i}`);
    const outcomes = await Promise.allSettled(contenders.map((userId) => run(userId, register(userId, email))));

    const winners = contenders.filter((_, i) => outcomes[i]!.status === 'fulfilled');
    expect(winners).toHaveLength(1);
    for (const outcome of outcomes) {
      if (outcome.status === 'rejected') expect(outcome.reason).toBeInstanceOf(EmailAlreadyRegisteredError);
    }
    expect((await userStreamsWithEmail(email)).map((row) => row.stream_id)).toEqual(winners);
    const users = await db.orm.em.fork().find(UserRecord, { email });
    expect(users.map((user) => user.id)).toEqual(winners);
    for (const loser of contenders.filter((id) => !winners.includes(id))) {
      expect(await readStream(db.orm.em.fork(), appUpcasters, loser)).toEqual([]);
    }
  });

  it('an email differing only in case is the same email', async () => {
    await run('grace', register('grace', 'grace@example.com'));
    await expect(run('grace-2', register('grace-2', '  GRACE@Example.com'))).rejects.toMatchObject({
      constructor: EmailAlreadyRegisteredError,
      email: 'grace@example.com',
    });
    expect(await readStream(db.orm.em.fork(), appUpcasters, 'grace-2')).toEqual([]);
  });

  it('a deactivated user keeps its email reserved', async () => {
    await run('alan', register('alan', 'alan@example.com'));
    await run('alan', { type: 'DeactivateUser', data: { userId: 'alan' }, now: new Date() });
    await expect(run('alan-2', register('alan-2', 'alan@example.com'))).rejects.toBeInstanceOf(EmailAlreadyRegisteredError);
  });

  it('a registration that fails for another reason does not keep the email', async () => {
    await run('edsger', register('edsger', 'edsger@example.com'));
    // Same id again: refused by the decider before anything is appended or claimed.
    await expect(run('edsger', register('edsger', 'dijkstra@example.com'))).rejects.toMatchObject({ code: 'USER_ALREADY_REGISTERED' });
    await run('dijkstra', register('dijkstra', 'dijkstra@example.com'));
    expect((await userStreamsWithEmail('dijkstra@example.com')).map((row) => row.stream_id)).toEqual(['dijkstra']);
  });
});

describe('users projection', () => {
  it('equals a fold of its stream after registering, renaming and deactivating', async () => {
    const userId = 'folded-user';
    await run(userId, register(userId, 'folded@example.com', 'First'));
    for (const name of ['Second', 'Third', 'Fourth']) await run(userId, { type: 'RenameUser', data: { userId, name }, now: new Date() });
    const beforeDeactivation = await db.orm.em.fork().findOneOrFail(UserRecord, userId);
    expect({ ...beforeDeactivation }).toEqual(replayView(userView, (await readStream(db.orm.em.fork(), appUpcasters, userId)) as RecordedEvent<UserEvent>[]));

    await run(userId, { type: 'DeactivateUser', data: { userId }, now: new Date() });
    const stream = (await readStream(db.orm.em.fork(), appUpcasters, userId)) as RecordedEvent<UserEvent>[];
    const row = await db.orm.em.fork().findOneOrFail(UserRecord, userId);
    expect({ ...row }).toEqual(replayView(userView, stream));
    expect(row).toMatchObject({ name: 'Fourth', status: 'DEACTIVATED', version: 5 });
  });
});
