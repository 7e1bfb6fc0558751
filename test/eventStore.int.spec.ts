import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConcurrencyError } from '../src/core/errors.ts';
import { uuidv7Generator } from '../src/core/ids.ts';
import type { RecordedEvent } from '../src/core/message.ts';
import { appendToStream } from '../src/eventStore/log/append.ts';
import { handleCommand } from '../src/eventStore/commands/commandHandler.ts';
import { replayView, type InlineProjection } from '../src/eventStore/projections/projection.ts';
import { readLog, readStream } from '../src/eventStore/log/read.ts';
import { CartAlreadyOpenedError, type CartCommand, cartDecider, type CartEvent, ItemNotInCartError } from '../src/modules/cart/cart.ts';
import { CartRecord, cartView } from '../src/modules/cart/projection.ts';
import { compose } from '../src/app/composition.ts';
import { modules } from '../src/app/modules.ts';

const inlineProjections = compose(modules).projections;
import { apiInstance, appUpcasters } from './support/commands.ts';
import { openTestOrm } from './support/database.ts';

let db: Awaited<ReturnType<typeof openTestOrm>>;
beforeAll(async () => {
  db = await openTestOrm(40);
});
afterAll(async () => db?.close());

const now = () => new Date();
/** Runs a cart command on `instance`: the environment an API process would give it. */
const run = (instance: ReturnType<typeof apiInstance>, cartId: string, command: CartCommand, options: { expectedVersion?: number } = {}) =>
  handleCommand(instance(), cartDecider, cartId, command, options);
const openCart = (cartId: string): CartCommand => ({ type: 'OpenCart', data: { cartId, customerId: 'customer-1' }, now: now() });
const addItem = (cartId: string, sku: string, quantity = 1): CartCommand => ({
  type: 'AddItemToCart',
  data: { cartId, sku, name: sku, unitPrice: { amount: 100, currency: 'EUR' }, quantity },
  now: now(),
});

const countEvents = async (streamId: string) => (await readStream(db.orm.em.fork(), appUpcasters, streamId)).length;

describe('appending', () => {
  it('many concurrent appends to one stream leave versions 1..N with no gap or duplicate, and losers get ConcurrencyError', async () => {
    const streamId = 'race-1';
    const writers = 40;
    const outcomes = await Promise.allSettled(
      Array.from({ length: writers }, (_, i) =>
        db.orm.em.fork().transactional((tx) =>
          appendToStream(tx, {
            streamId,
            streamType: 'Race',
            expectedVersion: 0,
            recordedAt: now(),
            events: [{ id: uuidv7Generator.uuid(), type: 'Raced', data: { writer: i }, metadata: {} }],
          }),
        ),
      ),
    );
    const won = outcomes.filter((o) => o.status === 'fulfilled');
    const lost = outcomes.filter((o): o is PromiseRejectedResult => o.status === 'rejected');
    expect(won).toHaveLength(1);
    expect(lost).toHaveLength(writers - 1);
    for (const loss of lost) {
      expect(loss.reason).toBeInstanceOf(ConcurrencyError);
      expect(loss.reason).toMatchObject({ streamId, expectedVersion: 0, actualVersion: 1 });
    }
    expect((await readStream(db.orm.em.fork(), appUpcasters, streamId)).map((e) => e.version)).toEqual([1]);
  });

  it('concurrent commands without expectedVersion, from several processes, land on versions 1..N or give up with ConcurrencyError', async () => {
    const cartId = 'busy-cart';
    await run(apiInstance(db.orm), cartId, openCart(cartId));
    // Every writer another API instance, with no stream queue or remembered state in common: only the version guard and retries decide.
    const writers = 25;
    const outcomes = await Promise.allSettled(Array.from({ length: writers }, (_, i) => run(apiInstance(db.orm), cartId, addItem(cartId, `SKU-${i}`))));
    const events = await readStream(db.orm.em.fork(), appUpcasters, cartId);
    expect(events.map((e) => e.version)).toEqual(Array.from({ length: events.length }, (_, i) => i + 1));
    const landed = outcomes.filter((o) => o.status === 'fulfilled').length;
    const added = events.filter((e) => e.type === 'CartItemAdded').map((e) => (e.data as { sku: string }).sku);
    expect(new Set(added).size).toBe(added.length);
    expect(added.length).toBe(landed);
    expect(landed).toBeGreaterThan(0);
    for (const outcome of outcomes) if (outcome.status === 'rejected') expect(outcome.reason).toBeInstanceOf(ConcurrencyError);
  });

  it('concurrent commands to one stream within one process take turns, so every one lands', async () => {
    const cartId = 'queued-cart';
    const instance = apiInstance(db.orm);
    await run(instance, cartId, openCart(cartId));
    const writers = 25;
    await Promise.all(Array.from({ length: writers }, (_, i) => run(instance, cartId, addItem(cartId, `SKU-${i}`))));
    const events = await readStream(db.orm.em.fork(), appUpcasters, cartId);
    expect(events.map((e) => e.version)).toEqual(Array.from({ length: writers + 1 }, (_, i) => i + 1));
    // The queue lets go of a stream once its last command is done.
    expect(instance().streamLocks!.size).toBe(0);
  });

  it('a command pinned to a stale expectedVersion appends nothing and reports both versions', async () => {
    const cartId = 'stale-cart';
    const instance = apiInstance(db.orm);
    await run(instance, cartId, openCart(cartId));
    await run(instance, cartId, addItem(cartId, 'A'));
    await expect(run(instance, cartId, addItem(cartId, 'B'), { expectedVersion: 1 })).rejects.toMatchObject({
      constructor: ConcurrencyError,
      expectedVersion: 1,
      actualVersion: 2,
    });
    expect(await countEvents(cartId)).toBe(2);
  });

  it('all events of one command commit together, with consecutive versions', async () => {
    const events = await db.orm.em.fork().transactional((tx) =>
      appendToStream(tx, {
        streamId: 'batch-1',
        streamType: 'Batch',
        expectedVersion: 0,
        recordedAt: now(),
        events: [1, 2, 3].map((n) => ({ id: uuidv7Generator.uuid(), type: 'Numbered', data: { n }, metadata: {} })),
      }),
    );
    expect(events.map((e) => e.version)).toEqual([1, 2, 3]);
    expect(new Set(events.map((e) => e.transactionId)).size).toBe(1);
    expect((await readStream(db.orm.em.fork(), appUpcasters, 'batch-1')).map((e) => e.data)).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }]);
  });
});

describe('remembered aggregate states (one cache per API instance)', () => {
  const instance = () => apiInstance(db.orm);
  const runOn = run;

  it('a state gone stale because another instance wrote is caught by the version guard, and the command still lands', async () => {
    const [a, b] = [instance(), instance()];
    const cartId = 'two-instances';
    await runOn(a, cartId, openCart(cartId));
    await runOn(a, cartId, addItem(cartId, 'A'));
    await runOn(b, cartId, addItem(cartId, 'B')); // a's remembered state is now one version behind
    const result = await runOn(a, cartId, addItem(cartId, 'C'));
    expect(result.version).toBe(4);
    expect((await readStream(db.orm.em.fork(), appUpcasters, cartId)).map((e) => e.version)).toEqual([1, 2, 3, 4]);
    const row = await db.orm.em.fork().findOneOrFail(CartRecord, cartId);
    expect(row.lines.map((l) => l.sku)).toEqual(['A', 'B', 'C']);
  });

  it('a process that knows nothing of a stream assumes it is new, and an existing stream corrects it', async () => {
    const [a, b] = [instance(), instance()];
    const cartId = 'assumed-new';
    await runOn(a, cartId, openCart(cartId));
    // b assumes a new stream, so its append at version 0 is refused; it reads, and the decider answers.
    await expect(runOn(b, cartId, openCart(cartId))).rejects.toBeInstanceOf(CartAlreadyOpenedError);
    const fresh = instance();
    expect((await runOn(fresh, cartId, addItem(cartId, 'A'))).version).toBe(2);
    expect((await readStream(db.orm.em.fork(), appUpcasters, cartId)).map((e) => e.type)).toEqual(['CartOpened', 'CartItemAdded']);
  });

  it('a refusal based on a stale state is checked against the database before it is reported', async () => {
    const [a, b] = [instance(), instance()];
    const cartId = 'stale-refusal';
    await runOn(a, cartId, openCart(cartId));
    await runOn(b, cartId, addItem(cartId, 'TEA', 2)); // a still remembers an empty cart
    const removed = await runOn(a, cartId, { type: 'RemoveItemFromCart', data: { cartId, sku: 'TEA', quantity: 1 }, now: now() });
    expect(removed.version).toBe(3);
    await runOn(b, cartId, addItem(cartId, 'MUG', 1)); // a remembers version 3; the stream is at 4
    const pinned = await runOn(a, cartId, addItem(cartId, 'SPOON', 1), { expectedVersion: 4 });
    expect(pinned.version).toBe(5);
  });
});

describe('inline projections', () => {
  it('a failing projection rolls the events back too', async () => {
    const cartId = 'doomed-cart';
    const failing: InlineProjection = {
      name: 'explodes',
      streamTypes: ['Cart'],
      apply: async () => {
        throw new Error('projection failed on purpose');
      },
    };
    const instance = apiInstance(db.orm, { projections: [...inlineProjections, failing] });
    await expect(run(instance, cartId, openCart(cartId))).rejects.toThrow('projection failed on purpose');
    expect(await countEvents(cartId)).toBe(0);
    expect(await db.orm.em.fork().findOne(CartRecord, cartId)).toBeNull();
  });

  it('the cart projection equals a fold of its stream after a long series of commands', async () => {
    const cartId = 'folded-cart';
    const instance = apiInstance(db.orm);
    await run(instance, cartId, openCart(cartId));
    const skus = ['A', 'B', 'C', 'D'];
    let seed = 7;
    const random = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
    for (let i = 0; i < 60; i++) {
      const sku = skus[Math.floor(random() * skus.length)]!;
      const command: CartCommand =
        random() < 0.6 ? addItem(cartId, sku, 1 + Math.floor(random() * 3)) : { type: 'RemoveItemFromCart', data: { cartId, sku, quantity: 1 }, now: now() };
      await run(instance, cartId, command).catch((error: unknown) => {
        if (!(error instanceof ItemNotInCartError)) throw error; // removing what is not in the cart is part of the game
      });
    }
    const stream = (await readStream(db.orm.em.fork(), appUpcasters, cartId)) as RecordedEvent<CartEvent>[];
    const row = await db.orm.em.fork().findOneOrFail(CartRecord, cartId);
    expect({ ...row }).toEqual(replayView(cartView, stream));
    expect(row.version).toBe(stream.length);
  });
});

describe('reading', () => {
  const appendNumbered = (streamId: string, expectedVersion: number, count: number) =>
    db.orm.em.fork().transactional((tx) =>
      appendToStream(tx, {
        streamId,
        streamType: 'Reading',
        expectedVersion,
        recordedAt: now(),
        events: Array.from({ length: count }, (_, n) => ({ id: uuidv7Generator.uuid(), type: 'Numbered', data: { n: expectedVersion + n + 1 }, metadata: {} })),
      }),
    );

  it('the global log returns committed events in commit order, after a position', async () => {
    const em = db.orm.em.fork();
    const start = (await readLog(em, appUpcasters, { limit: 1_000_000 })).next;
    const written = [
      ...(await appendNumbered('reading-a', 0, 2)),
      ...(await appendNumbered('reading-b', 0, 3)),
      ...(await appendNumbered('reading-a', 2, 1)),
      ...(await appendNumbered('reading-c', 0, 2)),
    ];
    const log = await readLog(em, appUpcasters, { after: start, limit: 10_000 });
    expect(log.events.map((e) => e.id)).toEqual(written.map((e) => e.id));
    const keys = log.events.map((e) => [e.transactionId, e.globalPosition] as const);
    const sorted = [...keys].sort((a, b) => (a[0] === b[0] ? Number(a[1] - b[1]) : Number(a[0] - b[0])));
    expect(keys).toEqual(sorted);
    const middle = log.events[3]!;
    const rest = await readLog(em, appUpcasters, { after: { transactionId: middle.transactionId, globalPosition: middle.globalPosition }, limit: 10_000 });
    expect(rest.events.map((e) => e.id)).toEqual(written.slice(4).map((e) => e.id));
  });

  it('a stream can be read as a slice of versions', async () => {
    await appendNumbered('sliced', 0, 4);
    const slice = await readStream(db.orm.em.fork(), appUpcasters, 'sliced', { fromVersion: 2, toVersion: 3 });
    expect(slice.map((e) => [e.version, e.data])).toEqual([[2, { n: 2 }], [3, { n: 3 }]]);
  });
});
