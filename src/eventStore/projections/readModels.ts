import type { MikroORM } from '@mikro-orm/postgresql';
import { NotFoundError } from '../../core/errors.ts';
import type { UpcasterRegistry } from '../log/upcasters.ts';
import type { Logger } from '../../core/logger.ts';
import { query } from '../../db/sql.ts';
import type { InlineProjection } from './projection.ts';
import { RebuildInProgressError, RebuildLock, rebuildProjection, type RebuildProgress, type RebuildResult, runningRebuilds } from './rebuild.ts';

/** `current`: built with the code's version; `stale`: built with another; `rebuilding`: a rebuild holds its lock (in any process). */
export type ReadModelState = 'current' | 'stale' | 'rebuilding';

export type ReadModelStatus = {
  readonly name: string;
  /** The version the running code declares. */
  readonly version: number;
  /** The version the live tables were built with; undefined before it was first recorded. */
  readonly builtVersion: number | undefined;
  readonly state: ReadModelState;
  readonly rebuiltAt: Date | undefined;
};

type Running = { latest: RebuildProgress; readonly listeners: Set<(progress: RebuildProgress) => void>; finished: Promise<unknown> };

export type ReadModelsOptions = { readonly orm: MikroORM; readonly databaseUrl: string; readonly projections: readonly InlineProjection[]; readonly upcasters: UpcasterRegistry; readonly logger: Logger };

/**
 * The rebuildable inline projections of one process: their status (for /health and the admin
 * query), rebuilds started here (the admin mutation, the `npm run rebuild` script) and their
 * progress. At most one rebuild of a projection runs in the whole deployment: starting one takes
 * its advisory lock first, and a second request is refused with RebuildInProgressError.
 */
export class ReadModels {
  private readonly projections: ReadonlyMap<string, InlineProjection>;
  private readonly running = new Map<string, Running>();
  /** The last progress of each rebuild this process ran, so a late follower still learns how it ended. */
  private readonly last = new Map<string, RebuildProgress>();
  private readonly stopping = new AbortController();
  private watcher: NodeJS.Timeout | undefined;
  /** The watcher's look under way. */
  private looking: Promise<void> | undefined;

  private readonly options: ReadModelsOptions;

  constructor(options: ReadModelsOptions) {
    this.options = options;
    this.projections = new Map(options.projections.filter((p) => p.rebuild).map((p) => [p.name, p]));
  }

  /** The names `rebuild` takes. */
  get names(): string[] {
    return [...this.projections.keys()];
  }

  /**
   * Records the declared version of every projection that has none stored yet: tables that existed
   * before versions were kept were written by this code. Run at start; never changes a stored version.
   */
  async recordUnversioned(): Promise<void> {
    const names = this.names;
    if (names.length === 0) return;
    await query(
      this.options.orm.em.fork(),
      `insert into projection_versions (name, version) select * from unnest($1::text[], $2::int[]) on conflict (name) do nothing`,
      [names, names.map((name) => this.projections.get(name)!.rebuild!.version)],
    );
  }

  /**
   * Every read model's status, and each live projection told whether it may remember rows (not
   * while its tables were built by another version: see Rebuildable.remember).
   */
  async statuses(): Promise<ReadModelStatus[]> {
    const em = this.options.orm.em.fork();
    const rows = await query<{ name: string; version: number; rebuilt_at: Date | string | null }>(em, 'select name, version, rebuilt_at from projection_versions');
    const built = new Map(rows.map((row) => [row.name, row]));
    const rebuilding = await runningRebuilds(em, this.names);
    return this.names.map((name) => {
      const rebuild = this.projections.get(name)!.rebuild!;
      const version = rebuild.version;
      const row = built.get(name);
      rebuild.remember?.(row?.version === version);
      const state: ReadModelState = rebuilding.has(name) ? 'rebuilding' : row?.version === version ? 'current' : 'stale';
      return { name, version, builtVersion: row?.version, state, rebuiltAt: row?.rebuilt_at ? new Date(row.rebuilt_at) : undefined };
    });
  }

  /**
   * Starts a rebuild in the background once its lock is held, and returns its first progress.
   * Refuses an unknown name (NotFoundError) and a rebuild already running anywhere (RebuildInProgressError).
   */
  async start(name: string): Promise<RebuildProgress> {
    const { finished, first } = await this.launch(name);
    finished.catch(() => undefined);
    return first;
  }

  /** Runs a rebuild to its end (the script's way), reporting progress to `onProgress` as well as to followers. */
  async run(name: string, onProgress?: (progress: RebuildProgress) => void): Promise<RebuildResult> {
    const { finished } = await this.launch(name, onProgress);
    return await finished;
  }

  /**
   * The progress of a rebuild of `name` running in this process, from its latest state to its end;
   * when none runs here, the last one this process ran (if any) and nothing more.
   */
  async *follow(name: string): AsyncGenerator<RebuildProgress> {
    if (!this.projections.has(name)) throw new NotFoundError('ReadModel', name);
    const running = this.running.get(name);
    if (!running) {
      const last = this.last.get(name);
      if (last) yield last;
      return;
    }
    // An end already reached is told once the lock is released (see launch), through the listener.
    const ended = running.latest.phase === 'done' || running.latest.phase === 'failed';
    const queue: RebuildProgress[] = ended ? [] : [running.latest];
    let wake: (() => void) | undefined;
    const listener = (progress: RebuildProgress) => {
      queue.push(progress);
      wake?.();
    };
    running.listeners.add(listener);
    try {
      for (;;) {
        while (queue.length > 0) {
          const progress = queue.shift()!;
          yield progress;
          if (progress.phase === 'done' || progress.phase === 'failed') return;
        }
        await new Promise<void>((resolve) => (wake = resolve));
        wake = undefined;
      }
    } finally {
      running.listeners.delete(listener);
    }
  }

  /**
   * While a read model is stale, looks every `intervalMs` whether it was rebuilt (here or by
   * another instance), so its projection may remember rows again; stops looking once none is stale.
   */
  watch(intervalMs = 5_000): void {
    if (this.watcher) return;
    const look = async () => {
      const stale = (await this.statuses().catch(() => [])).some((status) => status.builtVersion !== status.version);
      if (!stale && this.watcher) {
        clearInterval(this.watcher);
        this.watcher = undefined;
      }
    };
    // Kept, so stop waits for it: a look still opening its pooled connection when the ORM closes
    // leaks that connection (Kysely's driver finds its pool gone and throws before handing it back),
    // and the pool's end then waits for it forever.
    const track = () => {
      if (this.looking) return;
      this.looking = look().finally(() => (this.looking = undefined));
    };
    this.watcher = setInterval(track, intervalMs);
    this.watcher.unref();
    track();
  }

  /** Stops rebuilds running here (the live tables stay as they were) and waits for them to let go. */
  async stop(): Promise<void> {
    if (this.watcher) clearInterval(this.watcher);
    this.watcher = undefined;
    this.stopping.abort(new Error('shutting down'));
    await Promise.allSettled([...this.running.values()].map((running) => running.finished));
    await this.looking;
  }

  private async launch(name: string, onProgress?: (progress: RebuildProgress) => void): Promise<{ first: RebuildProgress; finished: Promise<RebuildResult> }> {
    const projection = this.projections.get(name);
    if (!projection) throw new NotFoundError('ReadModel', name, `There is no rebuildable read model named ${name}; there are: ${this.names.join(', ')}`);
    if (this.running.has(name)) throw new RebuildInProgressError(name);
    const lock = await RebuildLock.acquire(this.options.databaseUrl, name);
    const first: RebuildProgress = { readModel: name, phase: 'building', done: 0, total: 0, eventsPerSecond: 0, etaSeconds: undefined, elapsedSeconds: 0 };
    const entry: Running = { latest: first, listeners: new Set(), finished: Promise.resolve() };
    this.running.set(name, entry);
    const tell = (progress: RebuildProgress) => {
      onProgress?.(progress);
      for (const listener of entry.listeners) listener(progress);
    };
    const finished = rebuildProjection(lock, {
      orm: this.options.orm,
      databaseUrl: this.options.databaseUrl,
      projection,
      upcasters: this.options.upcasters,
      logger: this.options.logger,
      signal: this.stopping.signal,
      onProgress: (progress) => {
        entry.latest = progress;
        // The end is told once the lock is released, so whoever hears it finds the read model no longer rebuilding.
        if (progress.phase !== 'done' && progress.phase !== 'failed') tell(progress);
      },
    }).finally(async () => {
      await lock.release();
      await this.statuses().catch(() => undefined);
      this.last.set(name, entry.latest);
      this.running.delete(name);
      tell(entry.latest);
    });
    entry.finished = finished;
    finished.catch((error: unknown) => this.options.logger.error('a read model rebuild failed', { readModel: name, error }));
    return { first, finished };
  }
}
