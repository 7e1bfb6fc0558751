import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Logger } from '../src/core/logger.ts';
import { silentLogger } from '../src/core/logger.ts';
import type { RecordedEvent } from '../src/core/message.ts';
import { query } from '../src/db/sql.ts';
import { handleCommand } from '../src/eventStore/commands/commandHandler.ts';
import { readLog } from '../src/eventStore/log/read.ts';
import { LOG_START, type LogPosition } from '../src/eventStore/log/position.ts';
import { inlineStreamView, type InlineProjection, replayView } from '../src/eventStore/projections/projection.ts';
import { ReadModels } from '../src/eventStore/projections/readModels.ts';
import { RebuildInProgressError, RebuildLock, type RebuildProgress, rebuildWithLock } from '../src/eventStore/projections/rebuild.ts';
import { type CartCommand, cartDecider, type CartEvent } from '../src/modules/cart/cart.ts';
import { cartProjection, type CartView, cartView, evolveCartView } from '../src/modules/cart/projection.ts';
import { counterDecider } from '../src/modules/counter/counter.ts';
import { counterProjection } from '../src/modules/counter/projection.ts';
import { userDecider } from '../src/modules/user/user.ts';
import { userEmailReservation, userProjection } from '../src/modules/user/projection.ts';
import { apiInstance, appUpcasters } from './support/commands.ts';
import { openTestOrm } from './support/database.ts';
import { until } from './support/until.ts';

let db: Awaited<ReturnType<typeof openTestOrm>>;
let environment: ReturnType<typeof apiInstance>;
beforeAll(async () => {
  db = await openTestOrm(20);
  environment = apiInstance(db.orm);
});
afterAll(async () => db?.close());

const now = () => new Date();
const runCart = (command: CartCommand, commandId?: string) =>
  handleCommand(environment(), cartDecider, command.data.cartId, command, commandId ? { commandId } : {});
const open = (cartId: string): CartCommand => ({ type: 'OpenCart', data: { cartId, customerId: `customer-${cartId}` }, now: now() });
const add = (cartId: string, sku: string, quantity: number): CartCommand => ({
  type: 'AddItemToCart',
  data: { cartId, sku, name: `Item ${sku}`, unitPrice: { amount: 250, currency: 'EUR' }, quantity },
  now: now(),
});
const remove = (cartId: string, sku: string): CartCommand => ({ type: 'RemoveItemFromCart', data: { cartId, sku, quantity: 1 }, now: now() });

type CartRow = Record<string, unknown>;
const normalise = (row: object): CartRow => JSON.parse(JSON.stringify(row)) as CartRow;

async function cartRows(): Promise<Map<string, CartRow>> {
  const rows = await query<Record<string, unknown>>(db.orm.em.fork(), 'select * from carts order by id');
  const em = db.orm.em.fork();
  // Through the ORM's mapping, so rows compare with views as the projection writes them.
  const mapped = rows.map((row) => em.map(cartView.entity, row) as CartView);
  return new Map(mapped.map((row) => [row.id, normalise({ ...row })]));
}

/** Every cart as a fold of its stream from the whole log, with the view's own evolve. */
async function foldedCarts(evolve = evolveCartView): Promise<Map<string, CartRow>> {
  const byStream = new Map<string, RecordedEvent<CartEvent>[]>();
  let after: LogPosition = LOG_START;
  for (;;) {
    const page = await readLog(db.orm.em.fork(), appUpcasters, { after, limit: 5_000, filter: { streamType: 'Cart' } });
    for (const event of page.events) byStream.set(event.streamId, [...(byStream.get(event.streamId) ?? []), event as RecordedEvent<CartEvent>]);
    if (page.events.length < 5_000) break;
    after = page.next;
  }
  const folded = new Map<string, CartRow>();
  for (const [id, events] of byStream) {
    const view = replayView({ evolve }, events);
    if (view) folded.set(id, normalise(view));
  }
  return folded;
}

const rebuildOf = (projection: InlineProjection, extra: { batchSize?: number; tailSize?: number; onProgress?: (progress: RebuildProgress) => void } = {}) =>
  rebuildWithLock({ orm: db.orm, databaseUrl: db.database.url, projection, upcasters: appUpcasters, logger: silentLogger, ...extra });

describe('rebuilding an inline projection beside the live one', () => {
  it('rebuilding the carts while commands keep coming ends with the rows a fold of the log gives, and queries only ever see a whole read model', async () => {
    const seeded = 120;
    for (let i = 0; i < seeded; i++) {
      await runCart(open(`seed-${i}`));
      await runCart(add(`seed-${i}`, 'A', 1 + (i % 3)));
      if (i % 4 === 0) await runCart(add(`seed-${i}`, 'B', 2));
    }
    const before = await cartRows();
    expect(before).toEqual(await foldedCarts());

    // Writers: four loops through the real command path, half of their commands with a command id
    // (which takes the two-statement path), the rest on the one-statement path with projection rows riding along.
    let writing = true;
    let written = 0;
    const opened: string[] = [];
    const writer = async (w: number) => {
      for (let n = 0; writing; n++) {
        const cartId = `live-${w}-${Math.floor(n / 4)}`;
        const step = n % 4;
        const command = step === 0 ? open(cartId) : step === 3 ? remove(cartId, 'A') : add(cartId, step === 1 ? 'A' : 'C', 1);
        await runCart(command, n % 2 === 0 ? `cmd-${w}-${n}` : undefined);
        if (step === 0) opened.push(cartId);
        // Existing carts change too, so rows the build has already copied move on meanwhile.
        await runCart(add(`seed-${(w * 31 + n) % seeded}`, 'D', 1), n % 3 === 0 ? `seed-cmd-${w}-${n}` : undefined);
        written++;
      }
    };
    // Readers: the number of carts and one cart's row may only ever grow, never fall back to a half-built table.
    let reading = true;
    const counts: number[] = [];
    const reader = async () => {
      while (reading) {
        const known = opened.length;
        const [row] = await query<{ n: string }>(db.orm.em.fork(), 'select count(*) as n from carts');
        const count = Number(row!.n);
        counts.push(count);
        expect(count).toBeGreaterThanOrEqual(seeded + known);
        // One cart through the ORM, as cart(id) reads it: there, and at least as new as before the rebuild.
        const id = `seed-${counts.length % seeded}`;
        const cart = await db.orm.em.fork().findOne(cartView.entity, id as never);
        expect(cart?.version).toBeGreaterThanOrEqual(before.get(id)!.version as number);
      }
    };
    const writers = [0, 1, 2, 3].map(writer);
    const readers = [reader(), reader()];
    await until(async () => written >= 40, 'writers under way');
    const progress: RebuildProgress[] = [];
    const result = await rebuildOf(cartProjection, { batchSize: 100, tailSize: 10, onProgress: (p) => progress.push(p) });
    // Events appended after the build's starting point were caught up with, not only the log as it was.
    expect(result.done).toBeGreaterThan(progress[0]!.total);
    expect(progress.map((p) => p.phase)).toEqual(expect.arrayContaining(['building', 'catching_up', 'switching', 'done']));
    await until(async () => written >= result.done / 4 + 80, 'writers going on after the switch');
    writing = false;
    await Promise.all(writers);
    reading = false;
    await Promise.all(readers);

    expect(result.phase).toBe('done');
    expect(counts.length).toBeGreaterThan(10);
    const after = await cartRows();
    const folded = await foldedCarts();
    expect(after.size).toBe(folded.size);
    expect(after).toEqual(folded);
    // Untouched since the rebuild began, a row is exactly what the live projection had.
    for (const [id, row] of before) if (after.get(id)!.version === row.version) expect(after.get(id)).toEqual(row);
    // The rebuilt table is the migrations' table: same indexes, keys and checks (the ORM's diff is empty).
    expect(await db.orm.schema.getUpdateSchemaSQL({ wrap: false })).toBe('');
    const [{ schemas }] = (await query<{ schemas: string }>(db.orm.em.fork(), `select count(*) as schemas from pg_namespace where nspname like 'rebuild_%'`)) as [{ schemas: string }];
    expect(Number(schemas)).toBe(0);
    expect(result.writePauseMs).toBeLessThan(2_000);
  });

  it('a second rebuild of a read model while one holds its lock is refused with REBUILD_IN_PROGRESS, and nothing is touched', async () => {
    const lock = await RebuildLock.acquire(db.database.url, 'carts');
    try {
      await expect(rebuildOf(cartProjection)).rejects.toBeInstanceOf(RebuildInProgressError);
      const models = new ReadModels({ orm: db.orm, databaseUrl: db.database.url, projections: [cartProjection], upcasters: appUpcasters, logger: silentLogger });
      await expect(models.start('carts')).rejects.toMatchObject({ code: 'REBUILD_IN_PROGRESS' });
      expect((await models.statuses()).find((s) => s.name === 'carts')?.state).toBe('rebuilding');
    } finally {
      await lock.release();
    }
    await rebuildOf(cartProjection);
  });

  it('a projection whose declared version changed is stale until a rebuild runs the new code over the whole log, while the new code keeps taking commands', async () => {
    await runCart(open('versioned'));
    await runCart(add('versioned', 'A', 2));
    const models = new ReadModels({ orm: db.orm, databaseUrl: db.database.url, projections: [cartProjection], upcasters: appUpcasters, logger: silentLogger });
    await models.recordUnversioned();
    expect((await models.statuses()).find((s) => s.name === 'carts')).toMatchObject({ version: 1, builtVersion: 1, state: 'current' });

    // Version 2 of the view opens carts with the customer id in capitals. Rows it grows from a
    // version-1 row keep the old spelling: only a rebuild makes every row version 2.
    const capitals = (view: CartView | null, event: RecordedEvent<CartEvent>) => {
      const next = evolveCartView(view, event);
      return next && event.type === 'CartOpened' ? { ...next, customerId: next.customerId.toUpperCase() } : next;
    };
    const version2 = inlineStreamView({ ...cartView, version: 2, evolve: capitals });
    const upgraded = new ReadModels({ orm: db.orm, databaseUrl: db.database.url, projections: [version2], upcasters: appUpcasters, logger: silentLogger });
    await upgraded.recordUnversioned();
    expect((await upgraded.statuses()).find((s) => s.name === 'carts')).toMatchObject({ version: 2, builtVersion: 1, state: 'stale' });

    // The new code takes commands before and during the rebuild.
    const deployed = apiInstance(db.orm, { projections: [version2] });
    const runDeployed = (command: CartCommand, commandId?: string) => handleCommand(deployed(), cartDecider, command.data.cartId, command, commandId ? { commandId } : {});
    for (let i = 0; i < 20; i++) await runDeployed(add(`seed-${i}`, 'E', 1));
    expect((await cartRows()).get('seed-0')?.customerId).toBe('customer-seed-0');
    let writing = true;
    const writer = async (w: number) => {
      for (let n = 0; writing; n++) await runDeployed(add(`seed-${(n * 7 + w) % 40}`, 'F', 1), n % 2 === 0 ? `v2-${w}-${n}` : undefined);
    };
    const writers = [writer(0), writer(1), writer(2)];

    const progress: string[] = [];
    const result = await upgraded.run('carts', (p) => progress.push(p.phase));
    await runDeployed(add('seed-3', 'G', 1));
    writing = false;
    await Promise.all(writers);
    expect(result.phase).toBe('done');
    expect(progress).toContain('building');
    expect(progress.at(-1)).toBe('done');
    expect((await upgraded.statuses()).find((s) => s.name === 'carts')).toMatchObject({ version: 2, builtVersion: 2, state: 'current' });
    const rows = await cartRows();
    expect(rows.get('versioned')?.customerId).toBe('CUSTOMER-VERSIONED');
    expect(rows.get('seed-3')?.customerId).toBe('CUSTOMER-SEED-3');
    expect(rows).toEqual(await foldedCarts(capitals));
    // Back to version 1 for the specs after this one.
    await rebuildOf(cartProjection);
  });

  it('of two rebuilds of one read model started at once, one runs and the other is refused', async () => {
    const models = [0, 1].map(() => new ReadModels({ orm: db.orm, databaseUrl: db.database.url, projections: [cartProjection], upcasters: appUpcasters, logger: silentLogger }));
    // A transaction writing the live table keeps the first rebuild from switching (so from ending and
    // letting go of its lock) before the second has asked: on a fast machine it could otherwise be done first.
    const blocker = new pg.Client({ connectionString: db.database.url });
    await blocker.connect();
    let started: PromiseSettledResult<unknown>[];
    try {
      await blocker.query('begin');
      await blocker.query(`update carts set version = version where id = 'seed-0'`);
      started = await Promise.allSettled(models.map((m) => m.start('carts')));
      await blocker.query('rollback');
    } finally {
      await blocker.end();
    }
    expect(started.map((s) => s.status).sort()).toEqual(['fulfilled', 'rejected']);
    const refused = started.find((s): s is PromiseRejectedResult => s.status === 'rejected')!;
    expect(refused.reason).toBeInstanceOf(RebuildInProgressError);
    const runner = models[started.findIndex((s) => s.status === 'fulfilled')]!;
    const phases: string[] = [];
    for await (const progress of runner.follow('carts')) phases.push(progress.phase);
    expect(phases.at(-1)).toBe('done');
    expect(await cartRows()).toEqual(await foldedCarts());
  });

  it('a switch that cannot lock the live table in time (a long transaction writes it) lets go, catches up and switches once the table is free', async () => {
    const warnings: string[] = [];
    const logger: Logger = { ...silentLogger, warn: (message) => void warnings.push(message), child: () => logger };
    const blocker = new pg.Client({ connectionString: db.database.url });
    await blocker.connect();
    try {
      await blocker.query('begin');
      await blocker.query(`update carts set version = version where id = 'seed-0'`);
      const rebuilding = rebuildWithLock({ orm: db.orm, databaseUrl: db.database.url, projection: cartProjection, upcasters: appUpcasters, logger, switchLockTimeoutMs: 300 });
      rebuilding.catch(() => undefined); // awaited below; a failure must not count as unhandled meanwhile
      await until(async () => warnings.some((w) => w.includes('could not lock')), 'the switch to give up its lock once');
      // Writes went on meanwhile: the switch did not sit in the lock queue in front of them.
      await runCart(add('seed-1', 'H', 1));
      await blocker.query('rollback');
      const result = await rebuilding;
      expect(result.phase).toBe('done');
      expect(await cartRows()).toEqual(await foldedCarts());
    } finally {
      await blocker.end();
    }
  });

  it('users, their email reservations and counters rebuild to the rows they had', async () => {
    const users = environment();
    for (let i = 0; i < 30; i++) {
      const userId = `user-${i}`;
      await handleCommand(users, userDecider, userId, { type: 'RegisterUser', data: { userId, email: `user${i}@example.com`, name: `User ${i}` }, now: now() });
      if (i % 3 === 0) await handleCommand(environment(), userDecider, userId, { type: 'RenameUser', data: { userId, name: `Renamed ${i}` }, now: now() });
      await handleCommand(environment(), counterDecider, `counter-${i % 5}`, { type: 'IncrementCounter', data: { counterId: `counter-${i % 5}`, amount: i + 1 }, now: now() });
    }
    const table = async (sql: string) => query<Record<string, unknown>>(db.orm.em.fork(), sql);
    const snapshot = async () => ({
      users: await table('select * from users order by id'),
      emails: await table('select * from user_emails order by email'),
      counters: await table('select * from counters order by id'),
    });
    const before = await snapshot();
    expect(before.users).toHaveLength(30);
    for (const projection of [userEmailReservation, userProjection, counterProjection]) {
      const result = await rebuildOf(projection, { batchSize: 7 });
      expect(result.phase).toBe('done');
    }
    expect(await snapshot()).toEqual(before);
    expect(await db.orm.schema.getUpdateSchemaSQL({ wrap: false })).toBe('');
    // The email rule still holds on the rebuilt reservations.
    await expect(
      handleCommand(environment(), userDecider, 'user-dup', { type: 'RegisterUser', data: { userId: 'user-dup', email: 'user1@example.com', name: 'Dup' }, now: now() }),
    ).rejects.toMatchObject({ code: 'EMAIL_ALREADY_REGISTERED' });
  });
});

describe('shutting down', () => {
  it('stop waits for the look at the read models under way, so the pool may close once it resolves', async () => {
    const models = new ReadModels({ orm: db.orm, databaseUrl: db.database.url, projections: [cartProjection], upcasters: appUpcasters, logger: silentLogger });
    const blocker = new pg.Client({ connectionString: db.database.url });
    await blocker.connect();
    try {
      await blocker.query('begin');
      await blocker.query('lock table projection_versions in access exclusive mode');
      models.watch();
      await until(
        async () =>
          (await query(db.orm.em.fork(), `select 1 from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock' and query like '%from projection_versions%'`)).length === 1,
        'the look to wait on the locked table',
      );
      let stopped = false;
      const stopping = models.stop().then(() => (stopped = true));
      // A round trip to the database later, the look still holds its pooled connection: stop is still waiting for it.
      await blocker.query('select 1');
      expect(stopped).toBe(false);
      await blocker.query('rollback');
      await stopping;
      expect(stopped).toBe(true);
    } finally {
      await blocker.end();
    }
  });
});
