/**
 * Runs work for one key at a time, in arrival order. The command handler queues commands per
 * stream so that, within one process, writers to a hot aggregate take turns instead of racing
 * and retrying; across processes the version guard and retries still decide.
 */
export class KeyedSerializer {
  private readonly tails = new Map<string, Promise<void>>();

  async run<T>(key: string, work: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(key);
    let release!: () => void;
    const tail = new Promise<void>((resolve) => (release = resolve));
    this.tails.set(key, tail);
    try {
      if (previous) await previous;
      return await work();
    } finally {
      release();
      // Forget the key once nobody queued behind us, so the map holds only busy streams.
      if (this.tails.get(key) === tail) this.tails.delete(key);
    }
  }

  /** Keys with work running or queued. */
  get size(): number {
    return this.tails.size;
  }
}
