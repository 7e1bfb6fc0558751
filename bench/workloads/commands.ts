import { randomUUID } from 'node:crypto';
import pg from 'pg';
import type { Orm } from '../../src/db/orm.ts';
import { handleCommand } from '../../src/eventStore/commands/commandHandler.ts';
import { cartDecider, type CartCommand } from '../../src/modules/cart/cart.ts';
import { counterDecider } from '../../src/modules/counter/counter.ts';
import { commandEnvironments } from '../lib/environment.ts';
import { GraphQLHttpClient } from '../lib/http.ts';
import { closedLoop, type LoopResult, type Timer } from '../lib/loop.ts';
import { appendMix, cartEvent, eventMetadata, itemData, pick, type Timing } from './appendMix.ts';

export type { Timing } from './appendMix.ts';

/**
 * Workloads 1 and 2, their peers over HTTP, and their raw limits. The product's cart cells run the
 * cart mix: open a new cart and add an item to it, then add an item to an existing cart picked at
 * random, so half the `addItemToCart` commands go to new carts (right after their `openCart`) and
 * half to existing ones, and every command appends one event. Every other append cell runs the
 * same shape through `appendMix` (new stream, the same stream again, an older one).
 */

/** Tables the raw limit appends to (see createRawEventsTables). */
export type RawTable = 'raw.events_minimal' | 'raw.events';

const rawAppend = (table: RawTable) => `
  insert into ${table} (event_id, stream_id, stream_type, stream_version, event_type, data, metadata, recorded_at)
  select $1, $2, 'Cart', $3::int + 1, $4, $5, $6, $7
  where (select coalesce(max(stream_version), 0) from ${table} where stream_id = $2) = $3::int`;

/**
 * The raw-SQL limit for an append: node `pg`, one connection per client, autocommit, one INSERT of
 * one event row guarded by the stream's version, sent as a named prepared statement (PostgreSQL
 * parses and plans it once per connection, then only binds and executes it). `raw.events_minimal`
 * has only the constraints correctness needs; `raw.events` is a copy of the product's events table
 * with all its indexes.
 */
export async function rawAppendCell(url: string, table: RawTable, concurrency: number, timing: Timing): Promise<LoopResult> {
  const clients = await Promise.all(
    Array.from({ length: concurrency }, async () => {
      const client = new pg.Client({ connectionString: url, application_name: 'bench-raw-append' });
      await client.connect();
      return client;
    }),
  );
  const text = rawAppend(table);
  const name = `bench_append_${table.replace('.', '_')}`;
  try {
    return await closedLoop({
      ...timing,
      concurrency,
      client: appendMix('Cart', async (stream, first, index) => {
        const event = cartEvent(stream.id, first);
        const values = [randomUUID(), stream.id, stream.version, event.type, JSON.stringify(event.data), JSON.stringify(eventMetadata(event.type)), new Date()];
        const result = await clients[index]!.query({ name, text, values });
        if (result.rowCount !== 1) throw new Error(`raw append to ${stream.id} at ${stream.version} was refused`);
      }),
    });
  } finally {
    await Promise.all(clients.map((client) => client.end()));
  }
}

const CREATE_EVENT = `mutation Append($input: CreateEventInput!) {
  createEvent(input: $input) { event { globalPosition streamVersion } }
}`;

/**
 * PostGraphile's generated `createEvent` mutation over HTTP, the same client and mix: the client
 * sends version n + 1 for a stream it last saw at n; the unique (stream_id, stream_version)
 * constraint refuses it if another writer got there first. PostGraphile runs each mutation in a
 * transaction of its own.
 */
export async function postgraphileAppendCell(apiUrl: string, concurrency: number, timing: Timing): Promise<LoopResult> {
  const http = new GraphQLHttpClient(apiUrl, concurrency);
  try {
    return await closedLoop({
      ...timing,
      concurrency,
      client: appendMix('Cart', async (stream, first) => {
        const event = cartEvent(stream.id, first);
        const input = {
          event: { eventId: randomUUID(), streamId: stream.id, streamType: 'Cart', streamVersion: stream.version + 1, eventType: event.type, data: event.data, metadata: eventMetadata(event.type) },
        };
        const response = await http.request(CREATE_EVENT, { input });
        if (response.errors?.length || !response.data?.createEvent?.event) throw new Error(`createEvent failed: ${JSON.stringify(response.errors ?? response.data)}`);
      }),
    });
  } finally {
    http.close();
  }
}

const OPEN_CART = `mutation Open($input: OpenCartInput!) {
  openCart(input: $input) { __typename ... on OpenCartSuccess { position cart { cartId version } } ... on Error { message } }
}`;
const ADD_ITEM = `mutation Add($input: AddItemToCartInput!) {
  addItemToCart(input: $input) {
    __typename
    ... on AddItemToCartSuccess { position cart { cartId version itemCount total { amount currency } } }
    ... on Error { message }
  }
}`;
const INCREMENT = `mutation Increment($input: IncrementCounterInput!) {
  incrementCounter(input: $input) {
    __typename
    ... on IncrementCounterSuccess { position counter { counterId value version } }
    ... on Error { message }
  }
}`;

async function sendCommand(http: GraphQLHttpClient, query: string, field: string, input: Record<string, unknown>): Promise<void> {
  const response = await http.request(query, { input });
  const result = response.data?.[field];
  if (!result || !String(result.__typename).endsWith('Success')) {
    throw new Error(`${field} failed: ${JSON.stringify(response.errors ?? result)}`);
  }
}

/** Workload 1, carts: the whole API over HTTP keep-alive connections, one per client. */
export async function graphqlCommandsCell(apiUrl: string, concurrency: number, timing: Timing): Promise<LoopResult> {
  const http = new GraphQLHttpClient(apiUrl, concurrency);
  const carts: string[] = [];
  try {
    return await closedLoop({
      ...timing,
      concurrency,
      client: async (_index, timer) => {
        const cartId = `cart-${randomUUID()}`;
        await timer.command(1, () => sendCommand(http, OPEN_CART, 'openCart', { cartId, customerId: 'bench' }));
        await timer.command(1, () => sendCommand(http, ADD_ITEM, 'addItemToCart', { cartId, ...itemData() }));
        carts.push(cartId);
        if (!timer.running) return;
        await timer.command(1, () => sendCommand(http, ADD_ITEM, 'addItemToCart', { cartId: pick(carts), ...itemData() }));
      },
    });
  } finally {
    http.close();
  }
}

/**
 * Workload 1, counters: `incrementCounter` with the expected version, in the append mix (a new
 * counter at version 0, the same again, an older one of the client's own): the product's command
 * closest to PostGraphile's insert (one event, a one-row read model).
 */
export async function graphqlCounterCell(apiUrl: string, concurrency: number, timing: Timing): Promise<LoopResult> {
  const http = new GraphQLHttpClient(apiUrl, concurrency);
  const mix = appendMix('counter', (stream) => sendCommand(http, INCREMENT, 'incrementCounter', { counterId: stream.id, amount: 1, expectedVersion: stream.version }));
  try {
    return await closedLoop({ ...timing, concurrency, client: mix });
  } finally {
    http.close();
  }
}

/** Workload 2, carts: the command handler in this process, configured as the server configures it. */
export async function libraryCommandsCell(orm: Orm, concurrency: number, timing: Timing, retries = 5): Promise<LoopResult> {
  const environment = commandEnvironments(orm, { retries });
  const carts: string[] = [];
  const run = (cartId: string, command: CartCommand) => handleCommand(environment(), cartDecider, cartId, command);
  return closedLoop({
    ...timing,
    concurrency,
    client: async (_index, timer: Timer) => {
      const cartId = `cart-${randomUUID()}`;
      await timer.command(1, () => run(cartId, { type: 'OpenCart', data: { cartId, customerId: 'bench' }, now: new Date() }));
      await timer.command(1, () => run(cartId, { type: 'AddItemToCart', data: { cartId, ...itemData() }, now: new Date() }));
      carts.push(cartId);
      if (!timer.running) return;
      const existing = pick(carts);
      await timer.command(1, () => run(existing, { type: 'AddItemToCart', data: { cartId: existing, ...itemData() }, now: new Date() }));
    },
  });
}

/** Workload 2, counters: `IncrementCounter` through the command handler with the expected version, in the append mix. */
export async function libraryCounterCell(orm: Orm, concurrency: number, timing: Timing): Promise<LoopResult> {
  const environment = commandEnvironments(orm, { retries: 0 });
  const mix = appendMix('counter', async (stream) => {
    await handleCommand(environment(), counterDecider, stream.id, { type: 'IncrementCounter', data: { counterId: stream.id, amount: 1 }, now: new Date() }, { expectedVersion: stream.version });
  });
  return closedLoop({ ...timing, concurrency, client: mix });
}
