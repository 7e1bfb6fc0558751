import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DomainError } from '../src/core/errors.ts';
import type { Logger } from '../src/core/logger.ts';
import { silentLogger } from '../src/core/logger.ts';
import { query } from '../src/db/sql.ts';
import { handleCommand } from '../src/eventStore/commands/commandHandler.ts';
import { readStreamState } from '../src/eventStore/commands/streamState.ts';
import { type SnapshotPolicy, snapshotPolicies, SnapshotStore } from '../src/eventStore/snapshots/snapshots.ts';
import { type CartCommand, cartDecider } from '../src/modules/cart/cart.ts';
import { type CounterCommand, counterDecider } from '../src/modules/counter/counter.ts';
import { apiInstance, appUpcasters } from './support/commands.ts';
import { openTestOrm } from './support/database.ts';
import { until } from './support/until.ts';
import { random } from './support/random.ts';

let db: Awaited<ReturnType<typeof openTestOrm>>;
beforeAll(async () => {
  db = await openTestOrm();
});
afterAll(async () => db?.close());

const storeOf = (policies: SnapshotPolicy[], logger: Logger = silentLogger) =>
  new SnapshotStore({ policies: snapshotPolicies(policies, new Set(['Cart', 'Counter'])), logger });

/** Commands that remember nothing between them (no state cache), as after a restart or on another instance. */
const coldInstance = (snapshots?: SnapshotStore) => apiInstance(db.orm, { stateCacheMaxBytes: 0, ...(snapshots ? { snapshots } : {}) });


const now = new Date('2026-12-02T09:00:00Z');
const skus = ['COFFEE', 'TEA', 'MUG', 'BEANS'];

/** A random cart history: mostly adds and removes, some of them refused (too many removed, a changed price), a checkout near the end. */
function randomCartCommands(cartId: string, seed: number, length: number): CartCommand[] {
  const next = random(seed);
  const pick = <T>(items: readonly T[]) => items[Math.floor(next() * items.length)]!;
  const commands: CartCommand[] = [{ type: 'OpenCart', data: { cartId, customerId: 'shopper' }, now }];
  for (let i = 0; i < length; i++) {
    const sku = pick(skus);
    const roll = next();
    if (roll < 0.55) {
      // A price that is sometimes not the line's: the decider refuses it only if the line is in its state.
      const amount = next() < 0.9 ? 100 * (skus.indexOf(sku) + 1) : 999;
      commands.push({ type: 'AddItemToCart', data: { cartId, sku, name: `The ${sku.toLowerCase()}`, unitPrice: { amount, currency: 'EUR' }, quantity: 1 + Math.floor(next() * 3) }, now });
    } else if (roll < 0.97 || i < length - 5) {
      commands.push({ type: 'RemoveItemFromCart', data: { cartId, sku, quantity: 1 + Math.floor(next() * 3) }, now });
    } else {
      commands.push({ type: 'CheckoutCart', data: { cartId }, now });
    }
  }
  return commands;
}

/** Runs each command and says how it ended: what a snapshot that drifted would change first. */
async function outcomes(environment: ReturnType<typeof coldInstance>, streamId: string, commands: CartCommand[], settle?: SnapshotStore): Promise<string[]> {
  const ended: string[] = [];
  for (const command of commands) {
    try {
      const result = await handleCommand(environment(), cartDecider, streamId, command);
      ended.push(`${result.version}`);
    } catch (error) {
      if (!(error instanceof DomainError)) throw error;
      ended.push(error.code);
    }
    // Each command then starts from the newest snapshot there is, which is what this spec checks.
    await settle?.settled();
  }
  return ended;
}

describe('snapshots', () => {
  it('fold to the same state as the whole stream, and lead to the same decisions, over random histories', async () => {
    for (let seed = 1; seed <= 12; seed++) {
      const every = 2 + (seed % 6);
      const snapshots = storeOf([{ streamType: 'Cart', every, version: 1 }]);
      const commands = randomCartCommands('property', seed, 40 + seed * 3);
      const withSnapshots = await outcomes(coldInstance(snapshots), `snap-${seed}`, commands.map((c) => ({ ...c, data: { ...c.data, cartId: `snap-${seed}` } }) as CartCommand), snapshots);
      const without = await outcomes(coldInstance(), `full-${seed}`, commands.map((c) => ({ ...c, data: { ...c.data, cartId: `full-${seed}` } }) as CartCommand));
      expect(withSnapshots, `seed ${seed}`).toEqual(without);

      const em = db.orm.em.fork();
      const fromSnapshot = await readStreamState({ em, upcasters: appUpcasters, snapshots }, cartDecider, `snap-${seed}`);
      const fromStart = await readStreamState({ em, upcasters: appUpcasters }, cartDecider, `snap-${seed}`);
      expect(fromSnapshot.state, `seed ${seed}`).toEqual(fromStart.state);
      expect(fromSnapshot.version).toBe(fromStart.version);
      expect(fromSnapshot.eventsRead, `seed ${seed}: only the tail after the newest snapshot`).toBeLessThan(every);
      // Every version of the history, not only its end: a snapshot at or below it, then the tail up to it.
      for (let version = 1; version <= fromStart.version; version++) {
        const partial = await readStreamState({ em, upcasters: appUpcasters, snapshots }, cartDecider, `snap-${seed}`, version);
        expect(partial.state, `seed ${seed} at version ${version}`).toEqual((await readStreamState({ em, upcasters: appUpcasters }, cartDecider, `snap-${seed}`, version)).state);
      }
    }
  });

  it('are taken every N events after the commit, and a cold command reads only the events after the newest one', async () => {
    const snapshots = storeOf([{ streamType: 'Counter', every: 100, version: 1 }]);
    const environment = coldInstance(snapshots);
    const increment: CounterCommand = { type: 'IncrementCounter', data: { counterId: 'long', amount: 1 }, now };
    for (let i = 0; i < 250; i++) await handleCommand(environment(), counterDecider, 'long', increment);
    await snapshots.settled();

    const stored = await query<{ stream_version: number; snapshot_version: number }>(db.orm.em.fork(), `select stream_version, snapshot_version from snapshots where stream_id = 'long'`);
    // The older one is dropped once a newer one is written: nothing reads it any more.
    expect(stored).toEqual([{ stream_version: 200, snapshot_version: 1 }]);
    const cold = await readStreamState({ em: db.orm.em.fork(), upcasters: appUpcasters, snapshots }, counterDecider, 'long');
    expect(cold).toEqual({ version: 250, state: { status: 'Counting', value: 250 }, eventsRead: 50 });
    const result = await handleCommand(environment(), counterDecider, 'long', increment);
    expect(result.state).toEqual({ status: 'Counting', value: 251 });
  });

  it('of another snapshot version are ignored, so a changed state shape never reads an old one', async () => {
    const before = storeOf([{ streamType: 'Counter', every: 10, version: 1 }]);
    const increment: CounterCommand = { type: 'IncrementCounter', data: { counterId: 'reshaped', amount: 2 }, now };
    for (let i = 0; i < 25; i++) await handleCommand(coldInstance(before)(), counterDecider, 'reshaped', increment);
    await before.settled();

    // The next release stores its state differently, and says so with version 2.
    const reshaped = storeOf([{ streamType: 'Counter', every: 10, version: 2, serialise: (state) => ({ v2: state }), deserialise: (stored) => (stored as { v2: never }).v2 }]);
    const ignoringOld = await readStreamState({ em: db.orm.em.fork(), upcasters: appUpcasters, snapshots: reshaped }, counterDecider, 'reshaped');
    expect(ignoringOld).toEqual({ version: 25, state: { status: 'Counting', value: 50 }, eventsRead: 25 });

    for (let i = 0; i < 5; i++) await handleCommand(coldInstance(reshaped)(), counterDecider, 'reshaped', increment);
    await reshaped.settled();
    const stored = await query<{ stream_version: number; snapshot_version: number; state: unknown }>(db.orm.em.fork(), `select stream_version, snapshot_version, state from snapshots where stream_id = 'reshaped'`);
    expect(stored).toEqual([{ stream_version: 30, snapshot_version: 2, state: { v2: { status: 'Counting', value: 60 } } }]);
    expect(await readStreamState({ em: db.orm.em.fork(), upcasters: appUpcasters, snapshots: reshaped }, counterDecider, 'reshaped')).toEqual({ version: 30, state: { status: 'Counting', value: 60 }, eventsRead: 0 });
  });

  it('that cannot be written are logged, and the command succeeds all the same', async () => {
    const warnings: string[] = [];
    const logger: Logger = { ...silentLogger, warn: (message) => void warnings.push(message), child: () => logger };
    const failing = storeOf([{ streamType: 'Counter', every: 1, version: 1, serialise: () => { throw new Error('state cannot be stored'); }, deserialise: (stored) => stored as never }], logger);
    const result = await handleCommand(coldInstance(failing)(), counterDecider, 'unsnapshotted', { type: 'IncrementCounter', data: { counterId: 'unsnapshotted', amount: 1 }, now });
    expect(result.version).toBe(1);
    await until(async () => warnings.length > 0, 'the failed snapshot write to be logged');
    expect(warnings).toEqual(['snapshot not written']);
  });

  it('that cannot be read are logged and passed over: the whole stream is folded instead', async () => {
    const writer = storeOf([{ streamType: 'Counter', every: 5, version: 1 }]);
    for (let i = 0; i < 7; i++) await handleCommand(coldInstance(writer)(), counterDecider, 'unreadable', { type: 'IncrementCounter', data: { counterId: 'unreadable', amount: 1 }, now });
    await writer.settled();
    const warnings: string[] = [];
    const logger: Logger = { ...silentLogger, warn: (message) => void warnings.push(message), child: () => logger };
    const reader = storeOf([{ streamType: 'Counter', every: 5, version: 1, serialise: (state) => state, deserialise: () => { throw new Error('not a state'); } }], logger);
    expect(await readStreamState({ em: db.orm.em.fork(), upcasters: appUpcasters, snapshots: reader }, counterDecider, 'unreadable')).toEqual({ version: 7, state: { status: 'Counting', value: 7 }, eventsRead: 7 });
    expect(warnings).toEqual(['snapshot unreadable, folding the whole stream']);
  });

  it('are never written for a version whose event is not the one the state was folded from', async () => {
    const snapshots = storeOf([{ streamType: 'Counter', every: 1, version: 1 }]);
    await handleCommand(coldInstance()(), counterDecider, 'guarded', { type: 'IncrementCounter', data: { counterId: 'guarded', amount: 1 }, now });
    // As if a caller's transaction had appended version 1 and then rolled back: another event holds it.
    snapshots.afterCommit(db.orm.em, 'Counter', 'guarded', 0, { version: 1, state: { status: 'Counting', value: 99 } }, '00000000-0000-4000-8000-000000000000');
    await snapshots.settled();
    expect(await query(db.orm.em.fork(), `select 1 from snapshots where stream_id = 'guarded'`)).toEqual([]);
  });
});
