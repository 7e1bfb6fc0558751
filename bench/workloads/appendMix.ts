import { randomUUID } from 'node:crypto';
import type { Timer } from '../lib/loop.ts';

/**
 * The one append mix every command cell runs, the product's and the peers' alike: each client
 * appends one event to a new stream, one more to that stream, then one to an older stream of its
 * own, so half the appends after the first go to a stream just opened and half to an existing one,
 * and every append is one event in its own transaction with an expected version.
 */

export type Timing = { warmupMs: number; durationMs: number };
/** A stream as its writer knows it: the version it expects to find. */
export type StreamCursor = { readonly id: string; version: number };

const SKUS = ['sku-1', 'sku-2', 'sku-3', 'sku-4', 'sku-5'];
export const pick = <T>(list: readonly T[]): T => list[Math.floor(Math.random() * list.length)]!;

/** A payload of the same shape and size as the events the API appends. */
export function itemData() {
  return { sku: pick(SKUS), name: 'Benchmark widget', unitPrice: { amount: 1999, currency: 'EUR' }, quantity: 1 };
}

/** Metadata of the same shape and size as the API's. */
export function eventMetadata(commandName: string) {
  return { correlationId: randomUUID(), actor: 'anonymous', client: 'bench', causationId: undefined, commandName, schemaVersion: 1 };
}

/** The event a cart stream gets: opened first, then an item added each time. */
export function cartEvent(streamId: string, first: boolean): { type: string; data: object } {
  return first ? { type: 'CartOpened', data: { cartId: streamId, customerId: 'bench' } } : { type: 'CartItemAdded', data: itemData() };
}

/**
 * A closed-loop client body running the mix. `append` appends one event at the stream's expected
 * version and throws when it is refused; the version advances only when it succeeded. Each client
 * picks its older stream among its own, so the guard always holds (the cheapest correct case).
 */
export function appendMix(prefix: string, append: (stream: StreamCursor, first: boolean, client: number) => Promise<void>): (client: number, timer: Timer) => Promise<void> {
  const owned: StreamCursor[][] = [];
  return async (client, timer) => {
    const step = async (stream: StreamCursor, first: boolean) => {
      await append(stream, first, client);
      stream.version++;
    };
    const own = (owned[client] ??= []);
    const stream: StreamCursor = { id: `${prefix}-${randomUUID()}`, version: 0 };
    await timer.command(1, () => step(stream, true));
    await timer.command(1, () => step(stream, false));
    own.push(stream);
    if (!timer.running) return;
    await timer.command(1, () => step(pick(own), false));
  };
}
