import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { graphql } from 'graphql';
import type { EntityManager } from '@mikro-orm/postgresql';
import { uuidv7Generator } from '../src/core/ids.ts';
import type { EventMetadata } from '../src/core/message.ts';
import { query } from '../src/db/sql.ts';
import { appendToStream } from '../src/eventStore/log/append.ts';
import { readHistory } from '../src/eventStore/log/read.ts';
import type { GraphQLContext } from '../src/graphql/context.ts';
import { HISTORY_PAGE } from '../src/graphql/history.ts';
import { testAdmin, appUpcasters } from './support/commands.ts';
import { schema } from '../src/app/schema.ts';
import { openTestOrm } from './support/database.ts';
import { random } from './support/random.ts';

/** What the test wrote for each event, to filter independently of the code under test. */
type Written = { id: string; streamId: string; streamType: string; type: string; correlationId: string; actor: string; recordedAt: Date };

let db: Awaited<ReturnType<typeof openTestOrm>>;
const written = new Map<string, Written>();
/** Every event id in commit order, as the table orders them. */
let commitOrder: string[] = [];
/** Every event id in the order the sequence numbered them. */
let sequenceOrder: string[] = [];
const base = new Date('2026-11-23T08:00:00Z').getTime();


const streams = [
  ...Array.from({ length: 4 }, (_, i) => ({ id: `alpha-${i}`, type: 'Alpha', eventTypes: ['A1', 'A2'] })),
  ...Array.from({ length: 4 }, (_, i) => ({ id: `beta-${i}`, type: 'Beta', eventTypes: ['B1', 'B2', 'B3'] })),
  ...Array.from({ length: 3 }, (_, i) => ({ id: `gamma-${i}`, type: 'Gamma', eventTypes: ['G1'] })),
];
const correlations = ['corr-0', 'corr-1', 'corr-2', 'corr-3', 'corr-4'];
const actors = ['anonymous', 'alice', 'bob'];

/**
 * Writes about 300 events in groups of three transactions that append in one order and commit in
 * the reverse one, so the sequence (global_position) disagrees with commit order; some transactions
 * append to two streams at once.
 */
async function writeHistory(em: EntityManager): Promise<void> {
  const next = random(42);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(next() * list.length)]!;
  const versions = new Map<string, number>();
  let tick = 0;
  for (let group = 0; group < 40; group++) {
    // Transactions of one group write to different streams: one waiting on another's stream would never commit.
    const free = [...streams].sort(() => next() - 0.5);
    const plans = Array.from({ length: 3 }, () => {
      const touched = free.splice(0, next() < 0.3 ? 2 : 1);
      return touched.map((stream) => ({ stream, count: 1 + Math.floor(next() * 3) }));
    });
    const appended: Promise<void>[] = [];
    const releases: (() => void)[] = [];
    const transactions = plans.map((plan, index) => {
      let markAppended!: () => void;
      appended.push(new Promise((resolve) => (markAppended = resolve)));
      const release = new Promise<void>((resolve) => (releases[index] = resolve));
      return em.fork().transactional(async (tx) => {
        for (const { stream, count } of plan) {
          const metadata: EventMetadata = { correlationId: pick(correlations), actor: pick(actors) };
          const recordedAt = new Date(base + tick++ * 1000);
          const events = Array.from({ length: count }, () => ({ id: uuidv7Generator.uuid(), type: pick(stream.eventTypes), data: { n: tick }, metadata }));
          const expectedVersion = versions.get(stream.id) ?? 0;
          versions.set(stream.id, expectedVersion + count);
          await appendToStream(tx, { streamId: stream.id, streamType: stream.type, expectedVersion, recordedAt, events });
          for (const event of events) {
            written.set(event.id, {
              id: event.id, streamId: stream.id, streamType: stream.type, type: event.type,
              correlationId: metadata.correlationId!, actor: metadata.actor!, recordedAt,
            });
          }
        }
        markAppended();
        await release;
      });
    });
    await Promise.all(appended);
    // Commit in the reverse order: each one only once the one released before it has committed.
    for (let index = transactions.length - 1; index >= 0; index--) {
      releases[index]!();
      await transactions[index];
    }
  }
}

beforeAll(async () => {
  db = await openTestOrm();
  await writeHistory(db.orm.em.fork());
  const rows = await query<{ event_id: string }>(db.orm.em.fork(), 'select event_id from events order by transaction_id, global_position');
  commitOrder = rows.map((row) => row.event_id);
  const bySequence = await query<{ event_id: string }>(db.orm.em.fork(), 'select event_id from events order by global_position');
  sequenceOrder = bySequence.map((row) => row.event_id);
});
afterAll(async () => db?.close());

type Filter = { streamId?: string; streamType?: string; types?: string[]; from?: string; to?: string; correlationId?: string; actor?: string };

/** The test's own reading of a filter over what it wrote. */
function expected(filter: Filter): string[] {
  return commitOrder.filter((id) => {
    const event = written.get(id)!;
    return (
      (filter.streamId === undefined || event.streamId === filter.streamId) &&
      (filter.streamType === undefined || event.streamType === filter.streamType) &&
      (filter.types === undefined || filter.types.includes(event.type)) &&
      (filter.from === undefined || event.recordedAt.getTime() >= new Date(filter.from).getTime()) &&
      (filter.to === undefined || event.recordedAt.getTime() < new Date(filter.to).getTime()) &&
      (filter.correlationId === undefined || event.correlationId === filter.correlationId) &&
      (filter.actor === undefined || event.actor === filter.actor)
    );
  });
}

const PAGE = `
  query Page($first: Int, $after: String, $last: Int, $before: String, $filter: EventFilter) {
    events(first: $first, after: $after, last: $last, before: $before, filter: $filter) {
      edges { cursor node { id: eventId position } }
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    }
  }`;

type Page = {
  edges: { cursor: string; node: { id: string; position: string } }[];
  pageInfo: { hasNextPage: boolean; hasPreviousPage: boolean; startCursor: string | null; endCursor: string | null };
};

async function page(variables: Record<string, unknown>): Promise<Page> {
  const contextValue = { em: db.orm.em.fork(), identity: testAdmin, upcasters: appUpcasters } as unknown as GraphQLContext;
  const result = await graphql({ schema, source: PAGE, variableValues: variables, contextValue });
  expect(result.errors).toBeUndefined();
  return (result.data as { events: Page }).events;
}

async function walkForward(filter: Filter, size: number): Promise<string[]> {
  const seen: string[] = [];
  let after: string | undefined;
  for (let pages = 0; pages < 1000; pages++) {
    const { edges, pageInfo } = await page({ first: size, after, filter });
    for (const edge of edges) expect(edge.cursor).toBe(edge.node.position);
    seen.push(...edges.map((edge) => edge.node.id));
    if (!pageInfo.hasNextPage) return seen;
    expect(edges).toHaveLength(size);
    after = pageInfo.endCursor!;
  }
  throw new Error('forward walk did not end');
}

async function walkBackward(filter: Filter, size: number): Promise<string[]> {
  const pages: string[][] = [];
  let before: string | undefined;
  for (let count = 0; count < 1000; count++) {
    const { edges, pageInfo } = await page({ last: size, before, filter });
    pages.unshift(edges.map((edge) => edge.node.id));
    if (!pageInfo.hasPreviousPage) return pages.flat();
    expect(edges).toHaveLength(size);
    before = pageInfo.startCursor!;
  }
  throw new Error('backward walk did not end');
}

const at = (seconds: number) => new Date(base + seconds * 1000).toISOString();

const filters: [string, Filter][] = [
  ['no filter', {}],
  ['one stream', { streamId: 'beta-2' }],
  ['one stream type', { streamType: 'Beta' }],
  ['one event type', { types: ['A1'] }],
  ['several event types, one repeated', { types: ['A2', 'B3', 'G1', 'A2'] }],
  ['a recorded time window', { from: at(40), to: at(130) }],
  ['only a start time', { from: at(150) }],
  ['only an end time', { to: at(25) }],
  ['one correlation id', { correlationId: 'corr-3' }],
  ['one actor', { actor: 'alice' }],
  ['everything at once', { streamType: 'Alpha', types: ['A1', 'A2'], actor: 'bob', from: at(10), to: at(200) }],
  ['event types and a correlation id', { types: ['B1', 'G1'], correlationId: 'corr-0' }],
];

describe('walking the history', () => {
  it('writes a history whose sequence order disagrees with its commit order', () => {
    expect(commitOrder.length).toBeGreaterThan(250);
    expect(commitOrder).not.toEqual(sequenceOrder);
  });

  it.each(filters)('with %s, forward pages return every matching event once, in commit order', async (_name, filter) => {
    const want = expected(filter);
    expect(want.length, 'the filter should match something').toBeGreaterThan(0);
    expect(await walkForward(filter, 7)).toEqual(want);
  });

  it.each(filters)('with %s, backward pages return every matching event once, in commit order', async (_name, filter) => {
    expect(await walkBackward(filter, 5)).toEqual(expected(filter));
  });

  it('a page between two cursors holds exactly the events between them', async () => {
    const all = await walkForward({}, 50);
    const { edges: firstPage } = await page({ first: 30 });
    const after = firstPage[9]!.cursor;
    const before = firstPage[20]!.cursor;
    const between = await page({ first: 100, after, before });
    expect(between.edges.map((edge) => edge.node.id)).toEqual(all.slice(10, 20));
    const backward = await page({ last: 3, after, before });
    expect(backward.edges.map((edge) => edge.node.id)).toEqual(all.slice(17, 20));
    expect(backward.pageInfo.hasPreviousPage).toBe(true);
  });

  it('one stream read from cursors of other streams holds exactly its events between them', async () => {
    const all = await walkForward({}, 50);
    const { edges } = await page({ first: all.length });
    const stream = 'beta-2';
    const others = edges.filter((edge) => written.get(edge.node.id)!.streamId !== stream);
    const [after, before] = [others[Math.floor(others.length / 4)]!, others[Math.floor((others.length * 3) / 4)]!];
    const between = all.slice(all.indexOf(after.node.id) + 1, all.indexOf(before.node.id)).filter((id) => written.get(id)!.streamId === stream);
    expect(between.length, 'the stream should have events between the cursors').toBeGreaterThan(0);
    const forward = await page({ first: 1000, after: after.cursor, before: before.cursor, filter: { streamId: stream } });
    expect(forward.edges.map((edge) => edge.node.id)).toEqual(between);
    const backward = await page({ last: 1000, after: after.cursor, before: before.cursor, filter: { streamId: stream } });
    expect(backward.edges.map((edge) => edge.node.id)).toEqual(between);
    const rest = await page({ first: 1000, after: after.cursor, filter: { streamId: stream } });
    expect(rest.edges.map((edge) => edge.node.id)).toEqual(all.slice(all.indexOf(after.node.id) + 1).filter((id) => written.get(id)!.streamId === stream));
  });

  it('an empty list of event types matches nothing', async () => {
    const { edges, pageInfo } = await page({ first: 10, filter: { types: [] } });
    expect(edges).toEqual([]);
    expect(pageInfo.hasNextPage).toBe(false);
  });

  it('asking for more than the largest page returns the largest page', async () => {
    const { edges, pageInfo } = await page({ first: 10_000 });
    expect(edges).toHaveLength(Math.min(HISTORY_PAGE.maxSize, commitOrder.length));
    expect(pageInfo.hasNextPage).toBe(commitOrder.length > HISTORY_PAGE.maxSize);
  });

  it('a cursor that was not handed out is refused with a validation error', async () => {
    const contextValue = { em: db.orm.em.fork(), identity: testAdmin, upcasters: appUpcasters } as unknown as GraphQLContext;
    const result = await graphql({ schema, source: PAGE, variableValues: { first: 5, after: 'not-a-position' }, contextValue });
    expect(result.errors?.[0]?.originalError?.name).toBe('ValidationError');
  });
});

describe('events of transactions still running', () => {
  // A database of its own: the history walked above stays exactly what beforeAll wrote.
  let own: Awaited<ReturnType<typeof openTestOrm>>;
  beforeAll(async () => {
    own = await openTestOrm(4);
    await own.orm.em.fork().transactional((tx) =>
      appendToStream(tx, { streamId: 'early', streamType: 'Early', expectedVersion: 0, recordedAt: new Date(base), events: [{ id: uuidv7Generator.uuid(), type: 'Early', data: {}, metadata: {} }] }),
    );
  });
  afterAll(async () => own?.close());

  it('stay out of history, with every later event, until the older transaction ends', async () => {
    const em = own.orm.em.fork();
    // Ordered by the xid8 column itself: `order by transaction_id` would sort the text the select
    // list gives that name, and '999' sorts after '1000'.
    const [newest] = await query<{ transaction_id: string; global_position: string }>(
      em, 'select transaction_id::text, global_position::text from events order by events.transaction_id desc, events.global_position desc limit 1',
    );
    const last = { transactionId: BigInt(newest!.transaction_id), globalPosition: BigInt(newest!.global_position) };
    const event = () => ({ id: uuidv7Generator.uuid(), type: 'Late', data: {}, metadata: {} });
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let appended!: () => void;
    const slowAppended = new Promise<void>((resolve) => (appended = resolve));
    const slow = own.orm.em.fork().transactional(async (tx) => {
      await appendToStream(tx, { streamId: 'late-slow', streamType: 'Late', expectedVersion: 0, recordedAt: new Date(), events: [event()] });
      appended();
      await held;
    });
    try {
      await slowAppended;
      await own.orm.em.fork().transactional((tx) =>
        appendToStream(tx, { streamId: 'late-fast', streamType: 'Late', expectedVersion: 0, recordedAt: new Date(), events: [event()] }),
      );
      const whileRunning = await readHistory(em, appUpcasters, { direction: 'forward', after: last, limit: 10 });
      expect(whileRunning).toEqual([]);
    } finally {
      // Even when an assertion failed: an open transaction would hold the database past afterAll.
      release();
      await slow;
    }
    const afterwards = await readHistory(em, appUpcasters, { direction: 'forward', after: last, limit: 10 });
    expect(afterwards.map((e) => e.streamId)).toEqual(['late-slow', 'late-fast']);
  });
});
