import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { uuidv7Generator } from '../src/core/ids.ts';
import { silentLogger } from '../src/core/logger.ts';
import { commandEnvironments } from '../src/eventStore/commands/commandEnvironment.ts';
import { handleCommand } from '../src/eventStore/commands/commandHandler.ts';
import { readStream } from '../src/eventStore/log/read.ts';
import { compose } from '../src/app/composition.ts';
import { modules } from '../src/app/modules.ts';
import { CommitNotifier } from '../src/eventStore/feed/commitNotifier.ts';
import { type CartCommand, cartDecider } from '../src/modules/cart/cart.ts';
import { CartRecord } from '../src/modules/cart/projection.ts';
import { testAdmin, appUpcasters } from './support/commands.ts';
import { openTestOrm } from './support/database.ts';

let db: Awaited<ReturnType<typeof openTestOrm>>;
beforeAll(async () => {
  db = await openTestOrm();
});
afterAll(async () => db?.close());

const now = () => new Date();
const openCart = (cartId: string): CartCommand => ({ type: 'OpenCart', data: { cartId, customerId: 'customer-1' }, now: now() });
const addItem = (cartId: string, sku: string): CartCommand => ({
  type: 'AddItemToCart',
  data: { cartId, sku, name: `A product called ${sku}`, unitPrice: { amount: 100, currency: 'EUR' }, quantity: 1 },
  now: now(),
});

/** The production command environment of one API process, with `stateCacheMaxBytes` for its remembered states. */
const processWith = (stateCacheMaxBytes: number) => {
  const environmentFor = commandEnvironments({
    ids: uuidv7Generator,
    projections: compose(modules).projections,
    policies: compose(modules).policies,
    upcasters: compose(modules).upcasters,
    retries: 5,
    notifier: new CommitNotifier({ em: db.orm.em, logger: silentLogger }),
    stateCacheMaxBytes,
  });
  return (cartId: string, command: CartCommand) =>
    handleCommand(environmentFor(db.orm.em.fork(), { correlationId: 'state-cache', actor: 'test-admin' }, testAdmin), cartDecider, cartId, command);
};

describe('remembered states under a byte budget', () => {
  it('a cart that outgrows what one state may take keeps taking commands, each on its whole history', async () => {
    // 16 KiB in all, 1 KiB a state: a few lines fit, forty do not.
    const run = processWith(16 * 1024);
    await run('growing', openCart('growing'));
    const versions: number[] = [];
    for (let i = 0; i < 40; i++) versions.push((await run('growing', addItem('growing', `SKU-${i}`))).version);
    expect(versions).toEqual(Array.from({ length: 40 }, (_, i) => i + 2));
    expect((await readStream(db.orm.em.fork(), appUpcasters, 'growing')).length).toBe(41);
    const row = await db.orm.em.fork().findOneOrFail(CartRecord, 'growing');
    expect(row.lines).toHaveLength(40);
  });

  it('a budget of 0 remembers nothing, and commands read their stream every time', async () => {
    const run = processWith(0);
    await run('unremembered', openCart('unremembered'));
    const second = await run('unremembered', addItem('unremembered', 'A'));
    const third = await run('unremembered', addItem('unremembered', 'B'));
    expect([second.version, third.version]).toEqual([2, 3]);
    expect(third.state).toMatchObject({ status: 'Open', lines: { A: { quantity: 1 }, B: { quantity: 1 } } });
  });
});
