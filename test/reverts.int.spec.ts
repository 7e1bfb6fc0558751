import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConcurrencyError, ForbiddenError, NotFoundError, RevertRefusedError, UnauthenticatedError, ValidationError } from '../src/core/errors.ts';
import type { RecordedEvent } from '../src/core/message.ts';
import { type CommandEnvironment, handleCommand } from '../src/eventStore/commands/commandHandler.ts';
import { readStream, readStreamHead } from '../src/eventStore/log/read.ts';
import { foldHistory, REVERT_STREAM, type RevertStream } from '../src/eventStore/log/reverts.ts';
import { replayView } from '../src/eventStore/projections/projection.ts';
import { viewAsOf } from '../src/eventStore/projections/timeTravel.ts';
import { type CartCommand, cartDecider, type CartEvent } from '../src/modules/cart/cart.ts';
import { CartRecord, type CartView, cartView } from '../src/modules/cart/projection.ts';
import { type UserCommand, userDecider } from '../src/modules/user/user.ts';
import { UserRecord, userView } from '../src/modules/user/projection.ts';
import { apiInstance, appUpcasters } from './support/commands.ts';
import { openTestOrm } from './support/database.ts';

let db: Awaited<ReturnType<typeof openTestOrm>>;
beforeAll(async () => {
  db = await openTestOrm();
});
afterAll(async () => db?.close());

const base = Date.parse('2026-12-02T09:00:00Z');
let tick = 0;
/** Every command a second after the one before, so versions have distinct times. */
const now = () => new Date(base + ++tick * 1000);

const item = (cartId: string, sku: string, quantity: number): Omit<CartCommand, 'now'> => ({
  type: 'AddItemToCart',
  data: { cartId, sku, name: sku.toLowerCase(), unitPrice: { amount: 100, currency: 'EUR' }, quantity },
});
const revert = (toVersion: number, reason = 'the wrong items were added'): RevertStream => ({ type: REVERT_STREAM, data: { toVersion, reason }, now: now() });

/** One API process (its own remembered states and per-stream queue), started on first use. */
function apiProcess(): () => CommandEnvironment {
  let environment: (() => CommandEnvironment) | undefined;
  return () => (environment ??= apiInstance(db.orm, { metadata: { correlationId: 'revert-spec', actor: 'test-admin' } }))();
}

async function cartCommands(environment: () => CommandEnvironment, cartId: string, commands: Omit<CartCommand, 'now'>[]) {
  for (const command of commands) await handleCommand(environment(), cartDecider, cartId, { ...command, now: now() } as CartCommand);
}

async function liveRow(cartId: string): Promise<CartView | null> {
  const row = await db.orm.em.fork().findOne(CartRecord, cartId);
  return row ? ({ ...row } as CartView) : null;
}

const streamOf = async (streamId: string) => (await readStream(db.orm.em.fork(), appUpcasters, streamId)) as RecordedEvent<CartEvent>[];

describe('reverting a cart through the command handler', () => {
  const cartId = 'revert-cart-1';
  const api = apiProcess();

  beforeAll(async () => {
    await cartCommands(api, cartId, [{ type: 'OpenCart', data: { cartId, customerId: 'carol' } }, item(cartId, 'COFFEE', 2), item(cartId, 'TEA', 1), item(cartId, 'MUG', 4)]);
  });

  it('appends one Reverted event with the actor and correlation, and the cart is as it was at that version', async () => {
    const atTwo = await viewAsOf(db.orm.em.fork(), appUpcasters, cartView, cartId, { version: 2 });
    const result = await handleCommand(api(), cartDecider, cartId, revert(2), { expectedVersion: 4 });
    expect(result).toMatchObject({ version: 5, replayed: false, state: foldHistory(cartDecider, (await streamOf(cartId)).slice(0, 2)) });
    expect(result.events).toHaveLength(1);
    expect(result.events[0]).toMatchObject({
      type: 'Reverted',
      version: 5,
      data: { toVersion: 2, reason: 'the wrong items were added' },
      metadata: { actor: 'test-admin', correlationId: 'revert-spec', commandName: 'RevertStream', readers: ['sub:carol', 'role:support'] },
    });
    expect(await liveRow(cartId)).toEqual({ ...atTwo, version: 5, updatedAt: result.events[0]!.recordedAt });
    // History keeps everything: the events the revert undid are still there, before it.
    expect((await streamOf(cartId)).map((event) => event.type)).toEqual(['CartOpened', 'CartItemAdded', 'CartItemAdded', 'CartItemAdded', 'Reverted']);
  });

  it('later commands decide on the reverted state, in this process (remembered) and in a fresh one (read)', async () => {
    // TEA was added at version 3, which the revert undid: removing it is refused everywhere.
    await expect(handleCommand(api(), cartDecider, cartId, { type: 'RemoveItemFromCart', data: { cartId, sku: 'TEA', quantity: 1 }, now: now() })).rejects.toMatchObject({
      code: 'ITEM_NOT_IN_CART',
    });
    const fresh = apiProcess();
    await expect(handleCommand(fresh(), cartDecider, cartId, { type: 'RemoveItemFromCart', data: { cartId, sku: 'TEA', quantity: 1 }, now: now() })).rejects.toMatchObject({
      code: 'ITEM_NOT_IN_CART',
    });
    await cartCommands(fresh, cartId, [item(cartId, 'BEANS', 1)]);
    expect(await liveRow(cartId)).toMatchObject({ version: 6, itemCount: 3, lines: [{ sku: 'COFFEE', quantity: 2 }, { sku: 'BEANS', quantity: 1 }] });
  });

  it('a nested revert (to the version of the revert) lands where that revert did', async () => {
    const atFive = await viewAsOf(db.orm.em.fork(), appUpcasters, cartView, cartId, { version: 5 });
    const result = await handleCommand(apiProcess()(), cartDecider, cartId, revert(5, 'BEANS were a mistake too'), { expectedVersion: 6 });
    expect(result.version).toBe(7);
    expect(await liveRow(cartId)).toEqual({ ...atFive, version: 7, updatedAt: result.events[0]!.recordedAt });
    expect(await liveRow(cartId)).toMatchObject({ itemCount: 2, lines: [{ sku: 'COFFEE', quantity: 2 }] });
  });

  it('time travel at every version and a rebuild from the log agree with what the projection wrote', async () => {
    const events = await streamOf(cartId);
    expect(replayView(cartView, events)).toEqual(await liveRow(cartId));
    for (let version = 1; version <= events.length; version++) {
      expect(await viewAsOf(db.orm.em.fork(), appUpcasters, cartView, cartId, { version }), `version ${version}`).toEqual(replayView(cartView, events.slice(0, version)));
    }
    expect(await viewAsOf(db.orm.em.fork(), appUpcasters, cartView, cartId, { version: 4 })).toMatchObject({ itemCount: 7 });
  });
});

describe('a revert that is refused appends nothing', () => {
  const cartId = 'revert-cart-2';
  const api = apiProcess();

  beforeAll(async () => {
    await cartCommands(api, cartId, [{ type: 'OpenCart', data: { cartId, customerId: 'dave' } }, item(cartId, 'COFFEE', 1), item(cartId, 'TEA', 1)]);
  });

  const versionOf = async (streamId: string) => (await readStreamHead(db.orm.em.fork(), streamId))?.version;

  it('a version that is not an earlier one (0, the current one, beyond it) is a ValidationError on toVersion', async () => {
    for (const toVersion of [0, -1, 3, 4, 1.5]) {
      const refused = handleCommand(api(), cartDecider, cartId, revert(toVersion), { expectedVersion: 3 });
      await expect(refused, `toVersion ${toVersion}`).rejects.toBeInstanceOf(ValidationError);
      await expect(refused).rejects.toMatchObject({ issues: [{ path: 'toVersion' }] });
    }
    expect(await versionOf(cartId)).toBe(3);
  });

  it('a stream that does not exist is a NotFoundError', async () => {
    await expect(handleCommand(api(), cartDecider, 'revert-nobody', revert(1), { expectedVersion: 0 })).rejects.toBeInstanceOf(NotFoundError);
    expect(await versionOf('revert-nobody')).toBeUndefined();
  });

  it('a blank reason is a ValidationError on reason', async () => {
    await expect(handleCommand(api(), cartDecider, cartId, revert(1, '  '), { expectedVersion: 3 })).rejects.toMatchObject({ issues: [{ path: 'reason' }] });
  });

  it('only administrators revert: the cart’s own customer is forbidden, an anonymous caller unauthenticated', async () => {
    const customer = apiInstance(db.orm, { identity: { kind: 'subject', subject: 'dave', roles: ['customer'] } });
    await expect(handleCommand(customer(), cartDecider, cartId, revert(2), { expectedVersion: 3 })).rejects.toBeInstanceOf(ForbiddenError);
    const anonymous = apiInstance(db.orm, { identity: { kind: 'anonymous' } });
    await expect(handleCommand(anonymous(), cartDecider, cartId, revert(2), { expectedVersion: 3 })).rejects.toBeInstanceOf(UnauthenticatedError);
    expect(await versionOf(cartId)).toBe(3);
  });

  it('a change since the version the admin saw is a ConcurrencyError, also when this process remembers the old state', async () => {
    const remembering = apiProcess();
    await cartCommands(remembering, cartId, [item(cartId, 'MUG', 1)]);
    // Another process adds an item; `remembering` still holds version 4.
    await cartCommands(apiProcess(), cartId, [item(cartId, 'BEANS', 1)]);
    const refused = handleCommand(remembering(), cartDecider, cartId, revert(2), { expectedVersion: 4 });
    await expect(refused).rejects.toBeInstanceOf(ConcurrencyError);
    await expect(refused).rejects.toMatchObject({ expectedVersion: 4, actualVersion: 5 });
    expect(await versionOf(cartId)).toBe(5);
    expect(await liveRow(cartId)).toMatchObject({ version: 5, itemCount: 4 });
  });

  it('a checked-out cart refuses with RevertRefusedError naming its rule', async () => {
    await cartCommands(api, cartId, [{ type: 'CheckoutCart', data: { cartId } }]);
    const refused = handleCommand(api(), cartDecider, cartId, revert(2), { expectedVersion: 6 });
    await expect(refused).rejects.toBeInstanceOf(RevertRefusedError);
    await expect(refused).rejects.toMatchObject({ code: 'REVERT_REFUSED', rule: 'CART_ALREADY_CHECKED_OUT', streamId: cartId, toVersion: 2 });
    expect(await versionOf(cartId)).toBe(6);
    expect(await liveRow(cartId)).toMatchObject({ status: 'CHECKED_OUT', version: 6 });
  });
});

describe('a revert with a command id', () => {
  it('sent twice appends once and answers the first result again', async () => {
    const cartId = 'revert-cart-3';
    const api = apiProcess();
    await cartCommands(api, cartId, [{ type: 'OpenCart', data: { cartId, customerId: 'erin' } }, item(cartId, 'COFFEE', 1)]);
    const first = await handleCommand(api(), cartDecider, cartId, revert(1), { expectedVersion: 2, commandId: 'revert-once' });
    const again = await handleCommand(apiProcess()(), cartDecider, cartId, revert(1), { expectedVersion: 2, commandId: 'revert-once' });
    expect(again).toMatchObject({ replayed: true, version: 3, state: first.state });
    expect(again.events.map((event) => event.id)).toEqual(first.events.map((event) => event.id));
    expect(await streamOf(cartId)).toHaveLength(3);
  });
});

describe('reverting a user', () => {
  it('takes back a rename; the email stays reserved to the user, and the row matches a replay', async () => {
    const userId = 'revert-user-1';
    const api = apiProcess();
    const run = (command: Omit<UserCommand, 'now'>) => handleCommand(api(), userDecider, userId, { ...command, now: now() } as UserCommand);
    await run({ type: 'RegisterUser', data: { userId, email: 'ada@example.com', name: 'Ada' } });
    await run({ type: 'RenameUser', data: { userId, name: 'Ada L.' } });
    await run({ type: 'RenameUser', data: { userId, name: 'Not Ada' } });
    const result = await handleCommand(api(), userDecider, userId, revert(2, 'renamed by mistake'), { expectedVersion: 3 });
    expect(result.state).toMatchObject({ status: 'Active', name: 'Ada L.' });
    const row = await db.orm.em.fork().findOne(UserRecord, userId);
    expect(row).toMatchObject({ name: 'Ada L.', version: 4 });
    expect({ ...row }).toEqual(replayView(userView, (await readStream(db.orm.em.fork(), appUpcasters, userId)) as never));
    const copy: UserCommand = { type: 'RegisterUser', data: { userId: 'revert-user-2', email: 'ada@example.com', name: 'Copy' }, now: now() };
    await expect(handleCommand(api(), userDecider, 'revert-user-2', copy)).rejects.toMatchObject({ code: 'EMAIL_ALREADY_REGISTERED' });
  });
});
