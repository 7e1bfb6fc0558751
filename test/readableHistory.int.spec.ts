import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { uuidv7Generator } from '../src/core/ids.ts';
import type { RecordedEvent } from '../src/core/message.ts';
import { query } from '../src/db/sql.ts';
import { appendToStream } from '../src/eventStore/log/append.ts';
import type { LogPosition } from '../src/eventStore/log/position.ts';
import { FEW_READABLE_STREAMS, readHistory, type HistoryFilter } from '../src/eventStore/log/read.ts';
import { appUpcasters } from './support/commands.ts';
import { openTestOrm } from './support/database.ts';

/**
 * History read with a caller's principals (readHistory's `readers`) is the administrator's history
 * of the same filter, less the streams none of those principals may read: whether the caller's page
 * is read stream by stream (few readable streams of a type) or from the filter's index (many).
 */

type Written = { id: string; streamId: string; streamType: string; type: string; correlationId: string; actor: string; recordedAt: Date };

let db: Awaited<ReturnType<typeof openTestOrm>>;
const written = new Map<string, Written>();
const readersOf = new Map<string, string[]>();
const base = new Date('2026-12-02T08:00:00Z').getTime();
const at = (seconds: number) => new Date(base + seconds * 1000);

/**
 * Carol reads more carts than are read one by one (and an earlier release recorded them, without
 * their type); alice and bob a few; support all of them; everyone signed in, every counter.
 */
const MANY = FEW_READABLE_STREAMS + 5;
const carts = [
  ...Array.from({ length: 3 }, (_, i) => ({ id: `cart-alice-${i}`, owner: 'alice' })),
  ...Array.from({ length: 2 }, (_, i) => ({ id: `cart-bob-${i}`, owner: 'bob' })),
  ...Array.from({ length: MANY }, (_, i) => ({ id: `cart-carol-${i}`, owner: 'carol' })),
];
const counters = Array.from({ length: MANY }, (_, i) => `counter-${i}`);
const correlations = ['corr-0', 'corr-1', 'corr-2'];
const actors = ['alice', 'bob', 'carol', 'support'];

const callers = {
  alice: ['authenticated', 'sub:alice', 'role:customer'],
  carol: ['authenticated', 'sub:carol', 'role:customer'],
  support: ['authenticated', 'sub:sam', 'role:support'],
  'a caller who reads no stream': ['sub:nobody'],
  'a caller who reads only alice\'s carts': ['sub:alice'],
} as const;

async function writeLog(): Promise<void> {
  let tick = 0;
  const append = async (streamId: string, streamType: string, version: number, types: string[], readers?: string[]) => {
    const recordedAt = at(tick++);
    const metadata = { correlationId: correlations[tick % correlations.length]!, actor: actors[tick % actors.length]! };
    const events = types.map((type) => ({ id: uuidv7Generator.uuid(), type, data: { tick }, metadata }));
    await appendToStream(db.orm.em.fork(), { streamId, streamType, expectedVersion: version, recordedAt, events, ...(readers ? { newReaders: readers } : {}) });
    if (readers) readersOf.set(streamId, [...(readersOf.get(streamId) ?? []), ...readers]);
    for (const event of events) written.set(event.id, { id: event.id, streamId, streamType, type: event.type, ...metadata, recordedAt } as Written);
  };
  // Interleaved, so that every kind of stream has events all through the log.
  const cartRounds = [['CartOpened'], ['CartItemAdded', 'Tagged'], ['CartCheckedOut']];
  const counterRounds = [['CounterIncremented'], ['CounterIncremented', 'Tagged'], ['CounterIncremented']];
  const versions = new Map<string, number>();
  const next = async (streamId: string, streamType: string, types: string[], readers?: string[]) => {
    const version = versions.get(streamId) ?? 0;
    versions.set(streamId, version + types.length);
    await append(streamId, streamType, version, types, readers);
  };
  for (let round = 0; round < cartRounds.length; round++) {
    for (let i = 0; i < Math.max(carts.length, counters.length); i++) {
      const cart = carts[i];
      if (cart) await next(cart.id, 'Cart', cartRounds[round]!, round === 0 ? [`sub:${cart.owner}`, 'role:support'] : undefined);
      const counter = counters[i];
      if (counter) await next(counter, 'Counter', counterRounds[round]!, round === 0 ? ['authenticated'] : undefined);
    }
  }
  // A reader gained later reads the stream's whole history: carol may now read one of alice's carts.
  await next('cart-alice-2', 'Cart', ['CartShared'], ['sub:carol']);
  // Readers an earlier release recorded, without the stream type: one more cart of alice's, and all of carol's.
  await next('cart-alice-legacy', 'Cart', ['CartOpened', 'CartCheckedOut']);
  const em = db.orm.em.fork();
  await query(em, `insert into stream_readers (stream_id, reader) values ('cart-alice-legacy', 'sub:alice')`);
  readersOf.set('cart-alice-legacy', ['sub:alice']);
  await query(em, `update stream_readers set stream_type = '' where reader = 'sub:carol'`);
}

beforeAll(async () => {
  db = await openTestOrm();
  await writeLog();
}, 120_000);
afterAll(async () => db?.close());

const readable = (streamId: string, readers: readonly string[]) => (readersOf.get(streamId) ?? []).some((reader) => readers.includes(reader));

/** One page as the caller reads it (readers) or as the administrator does (undefined). */
async function page(filter: HistoryFilter, readers: readonly string[] | undefined, request: { direction: 'forward' | 'backward'; after?: LogPosition; before?: LogPosition; limit: number }) {
  return readHistory(db.orm.em.fork(), appUpcasters, { ...request, filter, ...(readers ? { readers } : {}) });
}

const position = (event: RecordedEvent): LogPosition => ({ transactionId: event.transactionId, globalPosition: event.globalPosition });

async function walk(filter: HistoryFilter, readers: readonly string[] | undefined, direction: 'forward' | 'backward', size: number): Promise<string[]> {
  const seen: RecordedEvent[] = [];
  for (let pages = 0; pages < 10_000; pages++) {
    const last = seen.at(-1);
    const bound = last === undefined ? {} : direction === 'forward' ? { after: position(last) } : { before: position(last) };
    const events = await page(filter, readers, { direction, limit: size, ...bound });
    seen.push(...events);
    if (events.length < size) return seen.map((event) => event.id);
  }
  throw new Error('the walk did not end');
}

const filters: [string, HistoryFilter][] = [
  ['no filter', {}],
  ['the Cart stream type', { streamType: 'Cart' }],
  ['the Counter stream type', { streamType: 'Counter' }],
  ['a stream type nobody wrote', { streamType: 'Nothing' }],
  ['one event type', { types: ['CartCheckedOut'] }],
  ['an event type of two stream types', { types: ['Tagged'] }],
  ['event types of two stream types', { types: ['CartOpened', 'CounterIncremented', 'CartOpened'] }],
  ['an event type nobody wrote', { types: ['Nothing'] }],
  ['one correlation id', { correlationId: 'corr-1' }],
  ['one actor', { actor: 'bob' }],
  ['a recorded time window', { from: at(100), to: at(900) }],
  ['everything at once', { streamType: 'Cart', types: ['CartItemAdded', 'Tagged'], actor: 'alice', from: at(50), to: at(1200) }],
  ['one of alice\'s carts', { streamId: 'cart-alice-2' }],
];

describe('history read with a caller\'s principals', () => {
  it('writes streams of which some callers read few and others many', () => {
    const countOf = (reader: string, type: string) => [...readersOf].filter(([id, readers]) => readers.includes(reader) && id.startsWith(type)).length;
    expect(countOf('sub:alice', 'cart')).toBeLessThanOrEqual(FEW_READABLE_STREAMS);
    expect(countOf('sub:carol', 'cart')).toBeGreaterThan(FEW_READABLE_STREAMS);
    expect(countOf('authenticated', 'counter')).toBeGreaterThan(FEW_READABLE_STREAMS);
  });

  for (const [caller, readers] of Object.entries(callers)) {
    it.each(filters)(`${caller}, with %s, pages forward and backward through the administrator's history less the streams they may not read`, async (_name, filter) => {
      const everything = await walk(filter, undefined, 'forward', 1_000_000);
      const want = everything.filter((id) => readable(written.get(id)!.streamId, readers));
      expect(await walk(filter, readers, 'forward', 17)).toEqual(want);
      expect(await walk(filter, readers, 'backward', 17)).toEqual([...want].reverse());
    });
  }

  it.each(filters)('alice, with %s, reads the same events between two cursors as the administrator sees there', async (_name, filter) => {
    const readers = callers.alice;
    const all = await page(filter, undefined, { direction: 'forward', limit: 1_000_000 });
    if (all.length < 3) return expect(await page(filter, readers, { direction: 'forward', limit: 100 })).toEqual(all.filter((e) => readable(e.streamId, readers)));
    const [low, high] = [Math.floor(all.length / 4), Math.floor((all.length * 3) / 4)];
    const between = all.slice(low + 1, high).filter((e) => readable(e.streamId, readers));
    const bounds = { after: position(all[low]!), before: position(all[high]!) };
    const forward = await page(filter, readers, { direction: 'forward', ...bounds, limit: 1_000_000 });
    const backward = await page(filter, readers, { direction: 'backward', ...bounds, limit: 1_000_000 });
    expect(forward.map((e) => e.id)).toEqual(between.map((e) => e.id));
    expect(backward.map((e) => e.id)).toEqual(between.map((e) => e.id).reverse());
  });

  it.each(filters)('with %s, a page read without the metadata holds the same events and payloads, each with only its schema version', async (_name, filter) => {
    for (const readers of [undefined, callers.alice, callers.carol]) {
      for (const direction of ['forward', 'backward'] as const) {
        const request = { direction, limit: 40, filter, ...(readers ? { readers } : {}) };
        const all = await readHistory(db.orm.em.fork(), appUpcasters, request);
        const light = await readHistory(db.orm.em.fork(), appUpcasters, { ...request, columns: 'withoutMetadata' });
        // Upcast alike: the payload, and the versions the upcast records in the metadata.
        const versionsOnly = ({ schemaVersion, storedSchemaVersion }: RecordedEvent['metadata']) =>
          Object.fromEntries(Object.entries({ schemaVersion, storedSchemaVersion }).filter(([, value]) => value != null));
        expect(light).toEqual(all.map((event) => ({ ...event, metadata: versionsOnly(event.metadata) })));
      }
    }
  });

  it('records each pair of event type and stream type the log holds, once', async () => {
    const rows = await query<{ event_type: string; stream_type: string }>(db.orm.em.fork(), 'select event_type, stream_type from event_stream_types order by 1, 2');
    const pairs = [...new Set([...written.values()].map((w) => `${w.type}/${w.streamType}`))].sort();
    expect(rows.map((row) => `${row.event_type}/${row.stream_type}`)).toEqual(pairs);
  });
});
