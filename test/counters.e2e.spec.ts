import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './support/server.ts';

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => server?.close());

const RESULT = (success: string, rangeError = true) => `
    __typename
    ... on ${success} { counter { id: counterId value resetCount version createdAt updatedAt } events { __typename type version ... on CounterIncremented { amount value } ... on CounterDecremented { amount value } ... on CounterReset { previousValue } } position }
    ... on Error { message code }
    ... on ValidationError { issues { path } }
    ... on NotFoundError { resource id }
    ${rangeError ? '... on CounterOutOfRangeError { counterId value change minimum maximum }' : ''}`;
const INCREMENT = `mutation Increment($input: IncrementCounterInput!) { incrementCounter(input: $input) { ${RESULT('IncrementCounterSuccess')} } }`;
const DECREMENT = `mutation Decrement($input: DecrementCounterInput!) { decrementCounter(input: $input) { ${RESULT('DecrementCounterSuccess')} } }`;
const RESET = `mutation Reset($input: ResetCounterInput!) { resetCounter(input: $input) { ${RESULT('ResetCounterSuccess', false)} } }`;

const increment = async (input: Record<string, unknown>) => (await server.gql(INCREMENT, { input })).data!.incrementCounter;
const decrement = async (input: Record<string, unknown>) => (await server.gql(DECREMENT, { input })).data!.decrementCounter;
const reset = async (input: Record<string, unknown>) => (await server.gql(RESET, { input })).data!.resetCounter;

describe('counting over HTTP', () => {
  it('the first increment creates the counter; the next ones add to it', async () => {
    expect(await increment({ counterId: 'visits', amount: 5 })).toMatchObject({
      __typename: 'IncrementCounterSuccess',
      counter: { id: 'visits', value: 5, version: 1, resetCount: 0 },
      events: [{ __typename: 'CounterIncremented', type: 'CounterIncremented', version: 1, amount: 5, value: 5 }],
    });
    expect(await increment({ counterId: 'visits', amount: 10 })).toMatchObject({ counter: { value: 15, version: 2 } });
  });

  it('increments by one when no amount is given, and makes up an id when none is given', async () => {
    const result = await increment({});
    expect(result).toMatchObject({ __typename: 'IncrementCounterSuccess', counter: { value: 1, version: 1 } });
    expect(result.counter.id).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('refuses an amount out of bounds with a ValidationError', async () => {
    await increment({ counterId: 'bounded', amount: 5 });
    expect(await increment({ counterId: 'bounded', amount: 0 })).toMatchObject({ __typename: 'ValidationError', issues: [{ path: 'amount' }] });
    expect(await decrement({ counterId: 'bounded', amount: 1_000_001 })).toMatchObject({ __typename: 'ValidationError', issues: [{ path: 'amount' }] });
    expect((await server.gql('{ counter(id: "bounded") { value version } }')).data).toEqual({ counter: { value: 5, version: 1 } });
  });

  it('decrements, but never below zero', async () => {
    await increment({ counterId: 'stock', amount: 3 });
    expect(await decrement({ counterId: 'stock', amount: 2 })).toMatchObject({
      __typename: 'DecrementCounterSuccess',
      counter: { value: 1, version: 2 },
      events: [{ __typename: 'CounterDecremented', amount: 2, value: 1 }],
    });
    expect(await decrement({ counterId: 'stock', amount: 2 })).toMatchObject({
      __typename: 'CounterOutOfRangeError',
      code: 'COUNTER_BELOW_ZERO',
      counterId: 'stock',
      value: 1,
      change: -2,
      minimum: 0,
      maximum: Number.MAX_SAFE_INTEGER,
    });
  });

  it('decrementing or resetting a counter that was never incremented is NotFoundError', async () => {
    expect(await decrement({ counterId: 'ghost' })).toMatchObject({ __typename: 'NotFoundError', resource: 'Counter', id: 'ghost' });
    expect(await reset({ counterId: 'ghost' })).toMatchObject({ __typename: 'NotFoundError', resource: 'Counter', id: 'ghost' });
  });

  it('resets to zero, recording the previous value, guarded by expectedVersion', async () => {
    await increment({ counterId: 'laps', amount: 7 });
    expect(await reset({ counterId: 'laps', expectedVersion: 0 })).toMatchObject({ __typename: 'ConcurrencyError', code: 'CONCURRENCY' });
    expect(await reset({ counterId: 'laps', expectedVersion: 1 })).toMatchObject({
      __typename: 'ResetCounterSuccess',
      counter: { value: 0, resetCount: 1, version: 2 },
      events: [{ __typename: 'CounterReset', previousValue: 7 }],
    });
  });
});

describe('idempotency and time travel for counters', () => {
  it('an increment sent twice with one commandId counts once', async () => {
    const first = await increment({ counterId: 'retried', amount: 3, commandId: 'increment-retried-1' });
    const again = await increment({ counterId: 'retried', amount: 3, commandId: 'increment-retried-1' });
    expect(again).toEqual(first);
    expect((await server.gql('{ counter(id: "retried") { value version } }')).data).toEqual({ counter: { value: 3, version: 1 } });
  });

  it('an increment without counterId but with a commandId starts one counter, also when sent again', async () => {
    const first = await increment({ commandId: 'start-a-counter-1' });
    const again = await increment({ commandId: 'start-a-counter-1' });
    expect(again.counter.id).toBe(first.counter.id);
    expect(again.counter.version).toBe(1);
  });

  it('counter(asOf) shows the value at an earlier version', async () => {
    await increment({ counterId: 'travel', amount: 5 });
    await increment({ counterId: 'travel', amount: 10 });
    await reset({ counterId: 'travel' });
    const result = await server.gql(`{
      v1: counter(id: "travel", asOf: { version: 1 }) { value version }
      v2: counter(id: "travel", asOf: { version: 2 }) { value version }
      now: counter(id: "travel") { value resetCount version }
    }`);
    expect(result.data).toEqual({ v1: { value: 5, version: 1 }, v2: { value: 15, version: 2 }, now: { value: 0, resetCount: 1, version: 3 } });
  });
});

describe('querying counters over HTTP', () => {
  it('reads one counter by id, and null for one never incremented', async () => {
    await increment({ counterId: 'read-me', amount: 4 });
    expect((await server.gql('{ counter(id: "read-me") { id: counterId value version } }')).data).toEqual({ counter: { id: 'read-me', value: 4, version: 1 } });
    expect((await server.gql('{ counter(id: "never") { id } }')).data).toEqual({ counter: null });
  });

  it('lists counters newest first, in pages', async () => {
    // Created a second apart, in an order their ids do not sort in, after every other counter here.
    for (const id of ['list-b', 'list-c', 'list-a']) {
      server.clock.advance(1000);
      await increment({ counterId: id });
    }
    const LIST = `query Counters($first: Int, $after: String) { counters(first: $first, after: $after) { edges { node { id: counterId } } pageInfo { hasNextPage endCursor } } }`;
    const first = (await server.gql(LIST, { first: 2 })).data.counters;
    expect(first.edges.map((edge: { node: { id: string } }) => edge.node.id)).toEqual(['list-a', 'list-c']);
    expect(first.pageInfo.hasNextPage).toBe(true);
    const second = (await server.gql(LIST, { first: 1, after: first.pageInfo.endCursor })).data.counters;
    expect(second.edges.map((edge: { node: { id: string } }) => edge.node.id)).toEqual(['list-b']);
  });
});
