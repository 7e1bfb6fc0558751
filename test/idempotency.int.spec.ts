import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CommandIdReusedError, NotFoundError } from '../src/core/errors.ts';
import { isUuid } from '../src/core/ids.ts';
import { type CommandOptions, handleCommand } from '../src/eventStore/commands/commandHandler.ts';
import { idFromCommandId } from '../src/eventStore/commands/idempotency.ts';
import { readStream } from '../src/eventStore/log/read.ts';
import { type CartCommand, cartDecider } from '../src/modules/cart/cart.ts';
import { CartRecord } from '../src/modules/cart/projection.ts';
import { apiInstance, appUpcasters } from './support/commands.ts';
import { openTestOrm } from './support/database.ts';

let db: Awaited<ReturnType<typeof openTestOrm>>;
beforeAll(async () => {
  db = await openTestOrm(30);
});
afterAll(async () => db?.close());

const metadata = { correlationId: 'idempotency', actor: 'anonymous' };
/**
 * Each run on an API instance of its own, as separate processes would run it: no stream queue or
 * remembered state in common, so only the database settles races.
 */
const run = (cartId: string, command: CartCommand, options: CommandOptions = {}, decider = cartDecider) =>
  handleCommand(apiInstance(db.orm, { retries: 10, metadata })(), decider, cartId, command, options);

const now = () => new Date();
const open = (cartId: string, customerId = 'customer-1'): CartCommand => ({ type: 'OpenCart', data: { cartId, customerId }, now: now() });
const add = (cartId: string, quantity = 2): CartCommand => ({
  type: 'AddItemToCart',
  data: { cartId, sku: 'COFFEE', name: 'Coffee', unitPrice: { amount: 1299, currency: 'EUR' }, quantity },
  now: now(),
});
const quantityInCart = async (cartId: string) => (await db.orm.em.fork().findOne(CartRecord, cartId))?.lines.find((line) => line.sku === 'COFFEE')?.quantity ?? 0;

describe('replaying a command with the same id', () => {
  it('returns the first result, the same events and version, and appends nothing', async () => {
    await run('idem-1', open('idem-1'));
    const first = await run('idem-1', add('idem-1'), { commandId: 'add-coffee-1' });
    const again = await run('idem-1', add('idem-1'), { commandId: 'add-coffee-1' });
    expect(first.replayed).toBe(false);
    expect(again.replayed).toBe(true);
    expect(again.events.map((e) => [e.id, e.position, e.version])).toEqual(first.events.map((e) => [e.id, e.position, e.version]));
    expect(again.version).toBe(first.version);
    expect(again.state).toEqual(first.state);
    expect(await readStream(db.orm.em.fork(), appUpcasters, 'idem-1')).toHaveLength(2);
    expect(await quantityInCart('idem-1')).toBe(2);
  });

  it('still returns the first result after the stream moved on, even with the expectedVersion the first run used', async () => {
    await run('idem-2', open('idem-2'));
    const first = await run('idem-2', add('idem-2'), { commandId: 'add-coffee-2', expectedVersion: 1 });
    await run('idem-2', add('idem-2', 3));
    const again = await run('idem-2', add('idem-2'), { commandId: 'add-coffee-2', expectedVersion: 1 });
    expect(again.events.map((e) => e.id)).toEqual(first.events.map((e) => e.id));
    expect(again.version).toBe(2);
    expect(again.state).toEqual(first.state);
    expect(await readStream(db.orm.em.fork(), appUpcasters, 'idem-2')).toHaveLength(3);
  });

  it('with different content is refused as a reused command id, and appends nothing', async () => {
    await run('idem-3', open('idem-3'));
    await run('idem-3', add('idem-3', 2), { commandId: 'add-coffee-3' });
    await expect(run('idem-3', add('idem-3', 5), { commandId: 'add-coffee-3' })).rejects.toMatchObject({
      code: 'COMMAND_ID_REUSED',
      commandId: 'add-coffee-3',
    });
    await run('idem-3b', open('idem-3b'));
    await expect(run('idem-3b', add('idem-3b', 2), { commandId: 'add-coffee-3' })).rejects.toBeInstanceOf(CommandIdReusedError);
    expect(await readStream(db.orm.em.fork(), appUpcasters, 'idem-3')).toHaveLength(2);
    expect(await readStream(db.orm.em.fork(), appUpcasters, 'idem-3b')).toHaveLength(1);
  });

  it('that failed the first time runs again: only commands that appended are remembered', async () => {
    await expect(run('idem-4', add('idem-4'), { commandId: 'add-coffee-4' })).rejects.toBeInstanceOf(NotFoundError);
    await run('idem-4', open('idem-4'));
    const retried = await run('idem-4', add('idem-4'), { commandId: 'add-coffee-4' });
    expect(retried.replayed).toBe(false);
    expect(await quantityInCart('idem-4')).toBe(2);
  });
});

describe('concurrent replays of one command id', () => {
  it('append once, and every run returns the same events', async () => {
    await run('race-1', open('race-1'));
    const results = await Promise.all(Array.from({ length: 12 }, () => run('race-1', add('race-1'), { commandId: 'race-add-1' })));
    expect(results.filter((result) => !result.replayed)).toHaveLength(1);
    const eventIds = results.map((result) => result.events.map((e) => e.id).join());
    expect(new Set(eventIds).size).toBe(1);
    expect(await readStream(db.orm.em.fork(), appUpcasters, 'race-1')).toHaveLength(2);
    expect(await quantityInCart('race-1')).toBe(2);
  });

  it('append once when every run pins the expectedVersion, so no run retries', async () => {
    await run('race-2', open('race-2'));
    const results = await Promise.all(Array.from({ length: 12 }, () => run('race-2', add('race-2'), { commandId: 'race-add-2', expectedVersion: 1 })));
    expect(new Set(results.map((result) => result.events[0]!.id)).size).toBe(1);
    expect(await readStream(db.orm.em.fork(), appUpcasters, 'race-2')).toHaveLength(2);
  });

  it('append once when they queue on the in-process stream lock', async () => {
    await run('race-3', open('race-3'));
    const instance = apiInstance(db.orm, { retries: 10, metadata });
    const results = await Promise.all(Array.from({ length: 8 }, () => handleCommand(instance(), cartDecider, 'race-3', add('race-3'), { commandId: 'race-add-3' })));
    expect(new Set(results.map((result) => result.events[0]!.id)).size).toBe(1);
    expect(await readStream(db.orm.em.fork(), appUpcasters, 'race-3')).toHaveLength(2);
  });

  it('with different content on different streams: one runs, the others are refused and append nothing', async () => {
    const carts = Array.from({ length: 8 }, (_, i) => `race-4-${i}`);
    const outcomes = await Promise.allSettled(carts.map((cartId) => run(cartId, open(cartId), { commandId: 'race-open-4' })));
    const succeeded = outcomes.filter((outcome) => outcome.status === 'fulfilled');
    const refused = outcomes.filter((outcome): outcome is PromiseRejectedResult => outcome.status === 'rejected');
    expect(succeeded).toHaveLength(1);
    expect(refused).toHaveLength(carts.length - 1);
    for (const outcome of refused) expect(outcome.reason).toBeInstanceOf(CommandIdReusedError);
    const opened = await Promise.all(carts.map(async (cartId) => (await readStream(db.orm.em.fork(), appUpcasters, cartId)).length));
    expect(opened.reduce((sum, count) => sum + count, 0)).toBe(1);
  });
});

describe('event metadata', () => {
  it('carries the command id as causation id, the command name, the context, the schema version and who may read the stream', async () => {
    const result = await run('meta-1', open('meta-1'), { commandId: 'open-meta-1' });
    expect(result.events[0]!.metadata).toEqual({
      correlationId: 'idempotency',
      actor: 'anonymous',
      causationId: 'open-meta-1',
      commandName: 'OpenCart',
      schemaVersion: 1,
      readers: [`sub:${result.state.status === 'Open' ? result.state.customerId : ''}`, 'role:support'],
    });
    const [stored] = await readStream(db.orm.em.fork(), appUpcasters, 'meta-1');
    expect(stored!.metadata).toEqual(result.events[0]!.metadata);
  });

  it('has a generated causation id when the client gives no command id, and the schema version the module declares', async () => {
    await run('meta-2', open('meta-2'));
    const added = await run('meta-2', add('meta-2'));
    const [opened] = await readStream(db.orm.em.fork(), appUpcasters, 'meta-2');
    expect(isUuid(String(opened!.metadata.causationId))).toBe(true);
    expect(opened!.metadata.schemaVersion).toBe(1);
    expect(added.events[0]!.metadata.schemaVersion).toBe(cartDecider.schemaVersions.CartItemAdded);
  });
});

describe('ids derived from a command id', () => {
  it('are stable UUIDs, different per namespace and per command id', () => {
    const id = idFromCommandId('Cart', 'cmd-1');
    expect(isUuid(id)).toBe(true);
    expect(idFromCommandId('Cart', 'cmd-1')).toBe(id);
    expect(idFromCommandId('User', 'cmd-1')).not.toBe(id);
    expect(idFromCommandId('Cart', 'cmd-2')).not.toBe(id);
  });
});
