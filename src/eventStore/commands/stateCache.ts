import type { Decider } from '../../core/decider.ts';
import { fold } from '../../core/decider.ts';
import type { Event, RecordedEvent } from '../../core/message.ts';
import { LruCache } from '../lruCache.ts';

/** Process-wide store of aggregate states, keyed by stream type and id. */
export type StateCacheStore = LruCache<string, { readonly version: number; readonly state: unknown }>;

export const createStateCacheStore = (capacity = 10_000): StateCacheStore => new LruCache(capacity);

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
  async load<E extends Event>(read: () => Promise<RecordedEvent[]>, decider: Pick<Decider<never, E, S>, 'initialState' | 'evolve'>) {
    if (this.trust) {
      const hit = this.store?.get(this.key);
      if (hit) return { version: hit.version, state: hit.state as S, optimistic: true };
      if (this.store) return { version: 0, state: decider.initialState(), optimistic: true };
    }
    const history = (await read()) as RecordedEvent<E>[];
    return { version: history.length, state: fold(decider, history), optimistic: false };
  }

  remember(version: number, state: S): { version: number; state: S } {
    this.store?.set(this.key, { version, state });
    return { version, state };
  }

  /** Read from the database from now on, and drop what this process remembered. */
  forget(): void {
    this.trust = false;
    this.store?.delete(this.key);
  }
}
