import { GraphQLInt, GraphQLList, GraphQLObjectType, GraphQLSchema, GraphQLString, parse, type ExecutionResult } from 'graphql';
import { describe, expect, it } from 'vitest';
import { until } from '../../test/support/until.ts';
import { type ReadySource, SharedSubscriptionResults } from './sharedResults.ts';

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

  it('pushed, serialises each event once for every subscriber, sends what waits in order without waiting, and ends after the last', async () => {
    const { schema, source, resolved } = readyFixture();
    const shared = new SharedSubscriptionResults();
    const document = parse(query);
    const key = shared.keyFor(document, undefined, query, {}, '*')!;
    const sent: Record<string, string[]> = { a: [], b: [] };
    const pushTo = (name: string) => ({ send: (json: readonly Buffer[]) => void sent[name]!.push(Buffer.concat(json).toString()), mask: (result: ExecutionResult) => result });
    const a = (await shared.subscribe({ schema, document }, key, pushTo('a'))) as AsyncIterableIterator<ExecutionResult>;
    const b = (await shared.subscribe({ schema, document }, key, pushTo('b'))) as AsyncIterableIterator<ExecutionResult>;
    const ends = [a.next(), b.next()];
    source.push({ id: 'e1', n: 1 }, { id: 'e2', n: 2 });
    source.push({ id: 'e3', n: 3 });
    source.end();
    expect(await Promise.all(ends)).toEqual([{ done: true, value: undefined }, { done: true, value: undefined }]);
    const expected = [1, 2, 3].map((n) => JSON.stringify({ data: { events: { id: `e${n}`, n } } }));
    expect(sent).toEqual({ a: expected, b: expected });
    expect(resolved()).toBe(3);
    expect(shared.stats.operations).toBe(0);
  });

  it('with a push target but a source that cannot hand over what waits, yields the results, masked by the target', async () => {
    const { schema } = fixture(2);
    const shared = new SharedSubscriptionResults();
    const document = parse(query);
    const key = shared.keyFor(document, undefined, query, {}, '*')!;
    const mask = (result: ExecutionResult) => ({ ...result, extensions: { masked: true } });
    const results = await drain(await shared.subscribe({ schema, document }, key, { send: () => undefined, mask }));
    expect(results).toEqual([1, 2].map((n) => ({ data: { events: { id: `e${n}`, n } }, extensions: { masked: true } })));
  });

  /** A shared subscription pushed to a target that records what it was sent, over a source that calls back when it has events. */
  async function pushedFromWakingSource() {
    const { schema, source, nextCalls } = readyFixture({ wakes: true });
    const shared = new SharedSubscriptionResults();
    const document = parse(query);
    const key = shared.keyFor(document, undefined, query, {}, '*')!;
    const sent: string[] = [];
    const results = (await shared.subscribe({ schema, document }, key, { send: (json) => void sent.push(Buffer.concat(json).toString()), mask: (result) => result })) as AsyncIterableIterator<ExecutionResult>;
    return { source, nextCalls, shared, sent, results };
  }

  it('pushed from a source that calls back, waits idle without asking the source for its next event, and ends when it ends', async () => {
    const { source, nextCalls, shared, sent, results } = await pushedFromWakingSource();
    const end = results.next();
    source.push({ id: 'e1', n: 1 }, { id: 'e2', n: 2 });
    await until(async () => sent.length === 2, 'both events sent');
    source.push({ id: 'e3', n: 3 });
    await until(async () => sent.length === 3, 'the third event sent');
    expect(nextCalls()).toBe(0);
    source.end();
    expect(await end).toEqual({ done: true, value: undefined });
    expect(sent).toEqual([1, 2, 3].map((n) => JSON.stringify({ data: { events: { id: `e${n}`, n } } })));
    expect(shared.stats.operations).toBe(0);
  });

  it('pushed from a source that calls back, stops at once on return, however long it has been idle', async () => {
    const { source, nextCalls, shared, sent, results } = await pushedFromWakingSource();
    const end = results.next();
    await results.return!();
    expect(await end).toEqual({ done: true, value: undefined });
    source.push({ id: 'e1', n: 1 });
    await new Promise((resolve) => setImmediate(resolve));
    expect(sent).toEqual([]);
    expect(nextCalls()).toBe(0);
    expect(shared.stats.operations).toBe(0);
  });

  it('pushed in batches, serialises each event once for all subscribers of the operation, however their batches fall', async () => {
    const { schema, source, resolved } = readyFixture();
    const shared = new SharedSubscriptionResults();
    const batches = 'subscription Batches($size: Int) { list: eventBatches(size: $size) { id n } }';
    const document = parse(batches);
    const key = shared.keyFor(document, undefined, batches, { size: 2 }, '*')!;
    const sent: string[][] = [[], []];
    const subscribers = await Promise.all(
      sent.map(async (messages) => (await shared.subscribe({ schema, document, variableValues: { size: 2 } }, key, { send: (json) => void messages.push(Buffer.concat(json).toString()), mask: (result) => result })) as AsyncIterableIterator<ExecutionResult>),
    );
    const first = subscribers[0]!.next();
    source.push({ id: 'e1', n: 1 }, { id: 'e2', n: 2 }, { id: 'e3', n: 3 });
    await until(async () => sent[0]!.length === 2, 'the first subscriber\'s two batches');
    const second = subscribers[1]!.next();
    source.end();
    await Promise.all([first, second]);
    const list = (...ns: number[]) => JSON.stringify({ data: { list: ns.map((n) => ({ id: `e${n}`, n })) } });
    expect(sent[0]).toEqual([list(1, 2), list(3)]);
    expect(sent[1]).toEqual([list(1, 2), list(3)]);
    expect(resolved()).toBe(3);
  });

  it('pushed, throws what the source throws once everything before it was sent, and waits while the socket is full', async () => {
    const { schema, source } = readyFixture();
    const shared = new SharedSubscriptionResults();
    const document = parse(query);
    const key = shared.keyFor(document, undefined, query, {}, '*')!;
    const sent: string[] = [];
    let drained: () => void = () => undefined;
    const full = new Promise<void>((resolve) => (drained = resolve));
    const push = { send: (json: readonly Buffer[]) => (sent.push(Buffer.concat(json).toString()), sent.length === 1 ? full : undefined), mask: (result: ExecutionResult) => result };
    const results = (await shared.subscribe({ schema, document }, key, push)) as AsyncIterableIterator<ExecutionResult>;
    const end = results.next();
    source.push({ id: 'e1', n: 1 }, { id: 'e2', n: 2 });
    await until(async () => sent.length > 0, 'the first event sent');
    // The socket is full after the first: the second waits until it drains.
    await new Promise((resolve) => setImmediate(resolve));
    expect(sent).toHaveLength(1);
    drained();
    source.fail(new Error('feed closed'));
    await expect(end).rejects.toThrow('feed closed');
    expect(sent).toHaveLength(2);
  });
});

/**
 * Like `fixture`, with sources (one per subscriber, as the live feed gives) the test feeds by hand,
 * which also hand over synchronously what waits; with `wakes`, they also call an idle consumer back
 * (`wakeWhenReady`), as the live feed's subscriptions do. `nextCalls` counts the sources' `next()`.
 */
function readyFixture(options: { wakes?: boolean } = {}) {
  let resolved = 0;
  let nextCalls = 0;
  const sources: { readonly queue: Event[]; poke(): void }[] = [];
  let ended = false;
  let failure: Error | undefined;
  const open = (): ReadySource<Event> => {
    const queue: Event[] = [];
    let closed = false;
    let wake: (() => void) | undefined;
    const poke = () => {
      const resume = wake;
      wake = undefined;
      resume?.();
    };
    sources.push({ queue, poke });
    const source: ReadySource<Event> = {
      takeReady: () => queue.shift(),
      ...(options.wakes
        ? {
            wakeWhenReady(resume: () => void) {
              if (queue.length > 0 || failure || ended || closed) return false;
              wake = resume;
              return true;
            },
          }
        : {}),
      async next() {
        nextCalls++;
        for (;;) {
          const event = queue.shift();
          if (event) return { value: event, done: false };
          if (failure) throw failure;
          if (ended || closed) return { value: undefined, done: true };
          await new Promise<void>((resolve) => (wake = resolve));
        }
      },
      async return() {
        closed = true;
        poke();
        return { value: undefined, done: true };
      },
      [Symbol.asyncIterator]: () => source,
    };
    return source;
  };
  const EventType = new GraphQLObjectType<Event>({
    name: 'Event',
    fields: { id: { type: GraphQLString }, n: { type: GraphQLInt, resolve: (event) => (resolved++, event.n) } },
  });
  const schema = new GraphQLSchema({
    query: new GraphQLObjectType({ name: 'Query', fields: { ok: { type: GraphQLInt, resolve: () => 1 } } }),
    subscription: new GraphQLObjectType({
      name: 'Subscription',
      fields: {
        events: { type: EventType, subscribe: open, resolve: (event: unknown) => event },
        // Batches of at most `size` of what waits, as Subscription.eventBatches gives them.
        eventBatches: { type: new GraphQLList(EventType), args: { size: { type: GraphQLInt } }, subscribe: (_root, { size }: { size: number }) => inBatches(open(), size), resolve: (batch: unknown) => batch },
      },
    }),
  });
  const pokeAll = () => sources.forEach((source) => source.poke());
  return {
    schema,
    resolved: () => resolved,
    nextCalls: () => nextCalls,
    source: {
      push: (...events: Event[]) => (sources.forEach((source) => source.queue.push(...events)), pokeAll()),
      end: () => ((ended = true), pokeAll()),
      fail: (error: Error) => ((failure = error), pokeAll()),
    },
  };
}

function inBatches(source: ReadySource<Event>, size: number): ReadySource<Event[]> {
  const fill = (batch: Event[]) => {
    for (let event = batch.length < size ? source.takeReady() : undefined; event; event = batch.length < size ? source.takeReady() : undefined) batch.push(event);
    return batch;
  };
  const batches: ReadySource<Event[]> = {
    takeReady: () => {
      const first = source.takeReady();
      return first && fill([first]);
    },
    next: async () => {
      const step = await source.next();
      return step.done ? step : { value: fill([step.value]), done: false };
    },
    return: async () => (await source.return!(), { value: undefined, done: true }),
    [Symbol.asyncIterator]: () => batches,
  };
  return batches;
}
