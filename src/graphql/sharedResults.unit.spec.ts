import { GraphQLInt, GraphQLObjectType, GraphQLSchema, GraphQLString, parse, type ExecutionResult } from 'graphql';
import { describe, expect, it } from 'vitest';
import { SharedSubscriptionResults } from './sharedResults.ts';

type Event = { id: string; n: number };

/** A schema whose `events` subscription replays `count` events (three by default); counts how often `n` is resolved. */
function fixture(count = 3) {
  let resolved = 0;
  const EventType = new GraphQLObjectType<Event>({
    name: 'Event',
    fields: {
      id: { type: GraphQLString },
      n: { type: GraphQLInt, resolve: (event) => (resolved++, event.n) },
    },
  });
  const schema = new GraphQLSchema({
    query: new GraphQLObjectType({ name: 'Query', fields: { ok: { type: GraphQLInt, resolve: () => 1 } } }),
    subscription: new GraphQLObjectType({
      name: 'Subscription',
      fields: {
        events: {
          type: EventType,
          subscribe: async function* () {
            for (let n = 1; n <= count; n++) yield { id: `e${n}`, n } satisfies Event;
          },
          resolve: (event: unknown) => event,
        },
        other: { type: GraphQLInt, subscribe: async function* () { yield 1; }, resolve: (v: unknown) => v },
      },
    }),
  });
  return { schema, resolved: () => resolved };
}

const drain = async (results: AsyncIterableIterator<ExecutionResult> | ExecutionResult) => {
  const all: ExecutionResult[] = [];
  if (!(Symbol.asyncIterator in results)) return [results];
  for await (const result of results) all.push(result);
  return all;
};

describe('subscription results shared between subscribers of one operation', () => {
  const query = 'subscription { events { id n } }';

  it('executes each event once for all subscribers of the same operation, and gives each the same result', async () => {
    const { schema, resolved } = fixture();
    const shared = new SharedSubscriptionResults();
    const document = parse(query);
    const key = shared.keyFor(document, undefined, query, {}, '*')!;
    const [a, b] = await Promise.all([
      drain(await shared.subscribe({ schema, document }, key)),
      drain(await shared.subscribe({ schema, document }, key)),
    ]);
    expect(a).toEqual([{ data: { events: { id: 'e1', n: 1 } } }, { data: { events: { id: 'e2', n: 2 } } }, { data: { events: { id: 'e3', n: 3 } } }]);
    expect(b).toEqual(a);
    expect(resolved()).toBe(3);
  });

  it('keeps operations that differ in variables or fields apart, and never shares other root fields', () => {
    const shared = new SharedSubscriptionResults();
    const document = parse(query);
    expect(shared.keyFor(document, undefined, query, { a: 1 }, '*')).not.toBe(shared.keyFor(document, undefined, query, { a: 2 }, '*'));
    expect(shared.keyFor(document, undefined, query, {}, 'sub:alice')).not.toBe(shared.keyFor(document, undefined, query, {}, 'sub:bob'));
    expect(shared.keyFor(parse('subscription { other }'), undefined, 'subscription { other }', {}, '*')).toBeUndefined();
    expect(shared.keyFor(parse('{ ok }'), undefined, '{ ok }', {}, '*')).toBeUndefined();
  });

  it('drops an operation and its results once its last subscriber leaves', async () => {
    const { schema } = fixture(1_000);
    const shared = new SharedSubscriptionResults();
    const document = parse(query);
    const key = shared.keyFor(document, undefined, query, {}, '*')!;
    const first = (await shared.subscribe({ schema, document }, key)) as AsyncIterableIterator<ExecutionResult>;
    const second = (await shared.subscribe({ schema, document }, key)) as AsyncIterableIterator<ExecutionResult>;
    for (let i = 0; i < 5; i++) await Promise.all([first.next(), second.next()]);
    expect(shared.stats).toMatchObject({ operations: 1, results: 5 });

    await first.return!();
    expect(shared.stats).toMatchObject({ operations: 1, results: 5 });
    await second.return!();
    expect(shared.stats).toEqual({ operations: 0, results: 0, bytes: 0 });
  });

  it('keeps the results of all operations within its byte budget, dropping the least recently used', async () => {
    const { schema } = fixture(200);
    const shared = new SharedSubscriptionResults({ maxBytes: 2_000 });
    const document = parse(query);
    const key = shared.keyFor(document, undefined, query, {}, '*')!;
    const live = (await shared.subscribe({ schema, document }, key)) as AsyncIterableIterator<ExecutionResult>;
    // Each result is about 40 bytes of JSON: all 200 would be 8 KB.
    for (let i = 0; i < 200; i++) await live.next();
    expect(shared.stats.bytes).toBeLessThanOrEqual(2_000);
    expect(shared.stats.results).toBeGreaterThan(10);
    expect(shared.stats.results).toBeLessThan(200);
    await live.return!();
  });

  it('keys operations by a digest, so a large variable is not kept twice', () => {
    const shared = new SharedSubscriptionResults();
    const document = parse(query);
    const key = shared.keyFor(document, undefined, query, { filter: { streamId: 'x'.repeat(500_000) } }, '*')!;
    expect(key.length).toBeLessThan(64);
  });
});
