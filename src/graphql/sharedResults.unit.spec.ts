import { GraphQLInt, GraphQLObjectType, GraphQLSchema, GraphQLString, parse, type ExecutionResult } from 'graphql';
import { describe, expect, it } from 'vitest';
import { SharedSubscriptionResults } from './sharedResults.ts';

type Event = { id: string; n: number };

/** A schema whose `events` subscription replays three events; counts how often `n` is resolved. */
function fixture() {
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
            for (const n of [1, 2, 3]) yield { id: `e${n}`, n } satisfies Event;
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
    const key = shared.keyFor(document, undefined, query, {})!;
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
    expect(shared.keyFor(document, undefined, query, { a: 1 })).not.toBe(shared.keyFor(document, undefined, query, { a: 2 }));
    expect(shared.keyFor(parse('subscription { other }'), undefined, 'subscription { other }', {})).toBeUndefined();
    expect(shared.keyFor(parse('{ ok }'), undefined, '{ ok }', {})).toBeUndefined();
  });
});
