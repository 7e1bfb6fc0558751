import { randomUUID } from 'node:crypto';
import pg from 'pg';
import type { Orm } from '../../src/db/orm.ts';
import { handleCommand } from '../../src/eventStore/commands/commandHandler.ts';
import { cartDecider, type CartCommand } from '../../src/modules/cart/cart.ts';
import { commandEnvironments } from '../lib/environment.ts';
import { GraphQLHttpClient } from '../lib/http.ts';
import { closedLoop, type LoopResult, type Timer } from '../lib/loop.ts';

/**
 * Workloads 1 and 2 and their raw limit. Every client alternates: open a new cart and add an item
 * to it, then add an item to an existing cart picked at random. So half the `addItemToCart`
 * commands go to new carts (right after their `openCart`) and half to existing ones, and every
 * command appends one event.
 */

export type Timing = { warmupMs: number; durationMs: number };

const SKUS = ['sku-1', 'sku-2', 'sku-3', 'sku-4', 'sku-5'];
const pick = <T>(list: readonly T[]): T => list[Math.floor(Math.random() * list.length)]!;

/** A payload of the same shape and size as the events the API appends. */
function itemData() {
  return { sku: pick(SKUS), name: 'Benchmark widget', unitPrice: { amount: 1999, currency: 'EUR' }, quantity: 1 };
}
function metadata(commandName: string) {
  return { correlationId: randomUUID(), actor: 'anonymous', client: 'bench', causationId: undefined, commandName, schemaVersion: 1 };
}

const RAW_APPEND = `
  insert into raw.events (event_id, stream_id, stream_type, stream_version, event_type, data, metadata, recorded_at)
  select $1, $2, 'Cart', $3::int + 1, $4, $5, $6, $7
  where (select coalesce(max(stream_version), 0) from raw.events where stream_id = $2) = $3::int`;

/**
 * The raw-SQL limit for an append: node `pg`, one connection per client, autocommit, one INSERT of
 * one event row guarded by the stream's version, into a copy of the events table with the same
 * indexes. Each client owns its streams, so the guard always holds (the cheapest correct case).
 */
export async function rawAppendCell(url: string, concurrency: number, timing: Timing): Promise<LoopResult> {
  const clients = await Promise.all(
    Array.from({ length: concurrency }, async () => {
      const client = new pg.Client({ connectionString: url, application_name: 'bench-raw-append' });
      await client.connect();
      return client;
    }),
  );
  const streams = clients.map(() => [] as { id: string; version: number }[]);
  const append = async (client: pg.Client, stream: { id: string; version: number }, type: string, data: object) => {
    const result = await client.query(RAW_APPEND, [randomUUID(), stream.id, stream.version, type, JSON.stringify(data), JSON.stringify(metadata(type)), new Date()]);
    if (result.rowCount !== 1) throw new Error(`raw append to ${stream.id} at ${stream.version} was refused`);
    stream.version++;
  };
  try {
    return await closedLoop({
      ...timing,
      concurrency,
      client: async (index, timer) => {
        const client = clients[index]!;
        const own = streams[index]!;
        const stream = { id: `raw-${randomUUID()}`, version: 0 };
        await timer.command(1, () => append(client, stream, 'CartOpened', { cartId: stream.id, customerId: 'bench' }));
        await timer.command(1, () => append(client, stream, 'CartItemAdded', itemData()));
        own.push(stream);
        if (!timer.running) return;
        await timer.command(1, () => append(client, pick(own), 'CartItemAdded', itemData()));
      },
    });
  } finally {
    await Promise.all(clients.map((client) => client.end()));
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

/** Workload 1: the whole API over HTTP keep-alive connections, one per client. */
export async function graphqlCommandsCell(apiUrl: string, concurrency: number, timing: Timing): Promise<LoopResult> {
  const http = new GraphQLHttpClient(apiUrl, concurrency);
  const carts: string[] = [];
  const send = async (query: string, field: string, input: Record<string, unknown>) => {
    const response = await http.request(query, { input });
    const result = response.data?.[field];
    if (!result || !String(result.__typename).endsWith('Success')) {
      throw new Error(`${field} failed: ${JSON.stringify(response.errors ?? result)}`);
    }
  };
  try {
    return await closedLoop({
      ...timing,
      concurrency,
      client: async (_index, timer) => {
        const cartId = `cart-${randomUUID()}`;
        await timer.command(1, () => send(OPEN_CART, 'openCart', { cartId, customerId: 'bench' }));
        await timer.command(1, () => send(ADD_ITEM, 'addItemToCart', { cartId, ...itemData() }));
        carts.push(cartId);
        if (!timer.running) return;
        await timer.command(1, () => send(ADD_ITEM, 'addItemToCart', { cartId: pick(carts), ...itemData() }));
      },
    });
  } finally {
    http.close();
  }
}

/** Workload 2: the command handler in this process, configured as the server configures it. */
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
