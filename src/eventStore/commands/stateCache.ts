import { LRUCache } from 'lru-cache';
import type { Decider } from '../../core/decider.ts';
import type { Event } from '../../core/message.ts';

type Remembered = { readonly version: number; readonly state: unknown };

/** Stands in for a state over the size limit, so the stream is known to exist without keeping it. */
const TOO_BIG = Symbol('state too big to remember');

/** Process-wide store of aggregate states, keyed by stream type and id, bounded by their estimated bytes. */
export type StateCacheStore = LRUCache<string, Remembered>;

export const DEFAULT_STATE_CACHE_MAX_BYTES = 64 * 1024 * 1024;

/** The cache entry itself (lru-cache's bookkeeping for a key, the entry object) beside the state. */
const ENTRY_OVERHEAD_BYTES = 128;

/**
 * A store that forgets the least recently used states beyond `maxBytes` of estimated heap. One
 * state may take at most a sixteenth of it, so one huge aggregate cannot push out all the others; a
 * bigger one is not kept (only that its stream exists), and its commands read the stream.
 */
export function createStateCacheStore(maxBytes = DEFAULT_STATE_CACHE_MAX_BYTES): StateCacheStore {
  const maxEntrySize = Math.max(1, Math.floor(maxBytes / 16));
  return new LRUCache<string, Remembered>({
    maxSize: maxBytes,
    maxEntrySize,
    sizeCalculation: (entry, key) => ENTRY_OVERHEAD_BYTES + estimateBytes(key, maxEntrySize) + estimateBytes(entry.state, maxEntrySize),
  });
}

/**
 * Roughly what a value takes on V8's heap (64-bit), from its shape alone: 24 bytes of header per
 * object or array and 8 per property or element slot (a pointer, or a number unboxed in place);
 * strings 16 bytes plus one per character (most are one-byte strings), bigints 24; property names not at all
 * (objects of one shape share them). Parts shared between states are counted in each, which errs on
 * the safe side. It visits each value once without serialising anything, so it costs about what the
 * decider's evolve already spent building the state, and stops counting once past `limit`.
 */
export function estimateBytes(value: unknown, limit: number): number {
  let bytes = 0;
  const pending: unknown[] = [value];
  while (pending.length > 0 && bytes <= limit) {
    const next = pending.pop();
    if (typeof next === 'string') bytes += 16 + next.length;
    else if (typeof next === 'bigint') bytes += 24;
    else if (typeof next !== 'object' || next === null) continue;
    else if (Array.isArray(next)) {
      bytes += 24 + 8 * next.length;
      for (const item of next) pending.push(item);
    } else if (next instanceof Map) {
      bytes += 24 + 24 * next.size;
      for (const [key, item] of next) pending.push(key, item);
    } else if (next instanceof Set) {
      bytes += 24 + 16 * next.size;
      for (const item of next) pending.push(item);
    } else if (ArrayBuffer.isView(next)) bytes += 64 + next.byteLength;
    else if (next instanceof Date) bytes += 32;
    else {
      bytes += 24;
      for (const key in next) {
        bytes += 8;
        pending.push((next as Record<string, unknown>)[key]);
      }
    }
  }
  return bytes;
}

/**
 * One command's view of the store. A remembered state is the fold of the stream up to its version as
 * of this process's last commit to it; states must be immutable (evolve returns new values), which
 * every decider here guarantees. Another instance may have written since, so a remembered (or
 * assumed) state is only ever an optimistic start: the append's version guard catches a stale one,
 * and the handler re-checks any refusal against the database before reporting it.
 */
export class StateCache<S> {
  private readonly store: StateCacheStore | undefined;
  private readonly key: string;
  private trust = true;

  constructor(store: StateCacheStore | undefined, streamType: string, streamId: string) {
    this.store = store;
    this.key = `${streamType}\u0000${streamId}`;
  }

  /**
   * The state to decide on. Without a database read when possible: the state this process
   * remembers, or, when it knows nothing of the stream, the assumption that the stream is new (one
   * round trip saved for every aggregate created). Such a state is `optimistic`: the append's version
   * guard refuses it if the stream has moved on or exists after all, and the handler then reads.
   */
  async load(read: () => Promise<{ readonly version: number; readonly state: S }>, decider: Pick<Decider<never, Event, S>, 'initialState'>) {
    if (this.trust) {
      const hit = this.store?.get(this.key);
      if (hit && hit.state !== TOO_BIG) return { version: hit.version, state: hit.state as S, optimistic: true };
      // A stream known to exist but too big to remember is read; assuming it new would cost a refused append.
      if (this.store && !hit) return { version: 0, state: decider.initialState(), optimistic: true };
    }
    const { version, state } = await read();
    return { version, state, optimistic: false };
  }

  remember(version: number, state: S): { version: number; state: S } {
    if (this.store) {
      const entry = { version, state };
      this.store.set(this.key, entry);
      if (this.store.peek(this.key) !== entry) this.store.set(this.key, { version, state: TOO_BIG });
    }
    return { version, state };
  }

  /** Read from the database from now on, and drop what this process remembered. */
  forget(): void {
    this.trust = false;
    this.store?.delete(this.key);
  }
}
