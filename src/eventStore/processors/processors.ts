import { hostname } from 'node:os';
import type { EntityManager } from '@mikro-orm/postgresql';
import { NotFoundError, StaleReadError, ValidationError } from '../../core/errors.ts';
import type { Clock } from '../../core/ids.ts';
import type { UpcasterRegistry } from '../log/upcasters.ts';
import type { Logger } from '../../core/logger.ts';
import { pgErrorCode, query } from '../../db/sql.ts';
import type { LogFeed } from '../feed/feed.ts';
import { comparePositions, encodePosition, isLogStart, LOG_START, type LogPosition } from '../log/position.ts';
import { isEventPosition } from '../log/read.ts';
import { LeaseConnection, PROCESSOR_LOCK_CLASS } from './leaseConnection.ts';
import type { ProcessorDefinition } from './processorDefinition.ts';
import {
  bumpEpoch,
  type Checkpoint,
  CONTROL_CHANNEL,
  countParked,
  dropParkedAfter,
  ensureCheckpoints,
  listParked,
  type ParkedEvent,
  readCheckpoints,
  readParked,
  readConsistency,
  readProcessorLag,
  setParkedStatus,
} from './processorStore.ts';
import { ProcessorRunner, type RunnerSettings } from './runner.ts';

export type ProcessorSettings = RunnerSettings & {
  /** How often a process that holds no lock of a processor tries to take it (how soon it takes over from a dead one). */
  readonly takeoverIntervalMs: number;
};

const DEADLOCK_DETECTED = '40P01';

export const PROCESSOR_DEFAULTS: ProcessorSettings = { batchSize: 500, maxAttempts: 5, backoffMs: 200, backoffMaxMs: 30_000, takeoverIntervalMs: 1000, idleCheckpointIntervalMs: 1000 };

export type ProcessorsOptions = {
  readonly definitions: readonly ProcessorDefinition[];
  /** The ORM's root EntityManager (forked for every use). */
  readonly em: EntityManager;
  /** Every event a processor is handed, or reads itself, is in its current shape. */
  readonly upcasters: UpcasterRegistry;
  /** This process's live feed: its follower wakes the processors and bounds how far they read. */
  readonly feed: LogFeed;
  /** For the lock connection, outside the pool. */
  readonly databaseUrl: string;
  readonly logger: Logger;
  readonly clock: Clock;
  readonly settings?: Partial<ProcessorSettings>;
};

/** A processor as the admin API shows it. `UNCLAIMED`: no process holds it right now. */
export type ProcessorState = {
  readonly name: string;
  readonly delivery: ProcessorDefinition['delivery'];
  readonly readModel: string | null;
  readonly status: 'RUNNING' | 'STOPPED' | 'UNCLAIMED';
  readonly position: LogPosition;
  /** The process holding it (`host:pid`), as it last claimed. */
  readonly owner: string | null;
  readonly lag: { readonly events: number; readonly seconds: number };
  readonly parkedCount: number;
};

/** Per-processor figures this process has seen, for /metrics. */
export type ProcessorCounters = { failures: number; parked: number };

type Waiter = {
  readonly name: string;
  readonly position: LogPosition;
  readonly resolve: () => void;
  /** Asks the database again whether the read model is consistent with the position (see readConsistency). */
  readonly recheck: () => void;
};

/**
 * Every processor of the app, in one process. Each process tries to take each processor's lock;
 * the one that holds it runs it (see ProcessorRunner), the others try again every
 * `takeoverIntervalMs`, so when the holder dies another takes over from the stored checkpoint.
 * Runners are woken by this process's log follower. Also what queries wait on for read-your-writes,
 * and what the admin API reads and changes.
 */
export class Processors {
  readonly definitions: readonly ProcessorDefinition[];
  readonly counters = new Map<string, ProcessorCounters>();
  private readonly options: ProcessorsOptions;
  private readonly settings: ProcessorSettings;
  private readonly runners = new Map<string, ProcessorRunner>();
  private readonly connection: LeaseConnection;
  private readonly owner = `${hostname()}:${process.pid}`;
  private readonly waiters = new Set<Waiter>();
  /** Claims in progress per processor, so a fence and a control message never claim twice at once. */
  private readonly claiming = new Map<string, Promise<void>>();
  private takeoverTimer: NodeJS.Timeout | undefined;
  /** The round of takeOver under way (from start, the interval or a reconnect). */
  private takingOver: Promise<void> | undefined;
  private stopAdvance: (() => void) | undefined;
  private started = false;
  private stopped = false;

  constructor(options: ProcessorsOptions) {
    const names = new Set<string>();
    const readModels = new Set<string>();
    for (const definition of options.definitions) {
      if (names.has(definition.name)) throw new Error(`Two processors are named ${definition.name}`);
      names.add(definition.name);
      if (definition.readModel !== undefined) {
        if (readModels.has(definition.readModel)) throw new Error(`Two processors keep the read model ${definition.readModel}`);
        readModels.add(definition.readModel);
      }
    }
    this.options = options;
    this.definitions = options.definitions;
    this.settings = { ...PROCESSOR_DEFAULTS, ...options.settings };
    for (const definition of options.definitions) {
      this.counters.set(definition.name, { failures: 0, parked: 0 });
      this.runners.set(
        definition.name,
        new ProcessorRunner(definition, {
          em: options.em,
          upcasters: options.upcasters,
          logger: options.logger,
          clock: options.clock,
          settings: this.settings,
          followerPosition: () => options.feed.position,
          readBatch: (em, after, upTo, filter, limit) => options.feed.readBatch(em, after, upTo, filter, limit),
          observer: {
            failed: (name) => this.counters.get(name)!.failures++,
            parked: (name) => this.counters.get(name)!.parked++,
            progressed: (name, position, wrote) => {
              this.progressed(name, position, false);
              // Events committed while that transaction ran were invisible to the follower until it ended.
              if (wrote) void options.feed.pump();
            },
          },
          fenced: (name) => void this.reclaim(name),
        }),
      );
    }
    this.connection = new LeaseConnection({
      databaseUrl: options.databaseUrl,
      logger: options.logger,
      onProgress: (payload) => {
        const [name, t, g] = payload.split(' ');
        if (name && t && g) this.progressed(name, { transactionId: BigInt(t), globalPosition: BigInt(g) }, true);
      },
      onControl: (name) => {
        if (this.runners.get(name)?.active) void this.reclaim(name);
      },
      onLost: () => {
        for (const runner of this.runners.values()) void runner.release();
      },
      onReconnected: () => void this.takeOver(),
    });
  }

  /** Call after the feed has started (the runners read up to its follower). */
  async start(): Promise<void> {
    if (this.started || this.definitions.length === 0) return;
    this.started = true;
    await ensureCheckpoints(this.options.em.fork(), this.definitions.map((d) => d.name), this.options.clock.now());
    // A stop during any step of the start wins: nothing after it may claim, listen or schedule.
    if (this.stopped) return;
    await this.connection.start();
    if (this.stopped) return;
    this.stopAdvance = this.options.feed.onAdvance(() => {
      for (const runner of this.runners.values()) runner.wake();
    });
    await this.takeOver();
    if (this.stopped) return;
    this.takeoverTimer = setInterval(() => void this.takeOver(), this.settings.takeoverIntervalMs);
    this.takeoverTimer.unref();
  }

  /**
   * Stops every runner (a batch under way finishes or rolls back) and ends the lock connection,
   * which frees the locks. Prompt even mid-claim: a claim waits on the checkpoint's row lock (a
   * batch of another process, an admin change) for as long as that takes, so the lock connection
   * is ended before claims are awaited, which fails a claim still in flight; and a claim that
   * returned meanwhile starts no session (see reclaim). No runner or claim uses the pool once this
   * resolves, so the caller may close it.
   */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.takeoverTimer);
    this.stopAdvance?.();
    await Promise.all([...this.runners.values()].map((runner) => runner.release()));
    await this.connection.stop();
    await Promise.all([this.takingOver, ...this.claiming.values()]);
    // A session started by a claim that returned before `stopped` was seen.
    await Promise.all([...this.runners.values()].map((runner) => runner.release()));
    for (const waiter of this.waiters) waiter.resolve();
  }

  /** Queries of this process waiting for a read model to catch up (`consistentWith`). */
  get waiting(): number {
    return this.waiters.size;
  }

  /** Whether this process runs `name` now. */
  runs(name: string): boolean {
    return this.runners.get(name)?.active ?? false;
  }

  // ---- Read-your-writes ---------------------------------------------------------------------

  /**
   * Waits until the read model kept by `readModel`'s processor is consistent with `position`, at
   * most `timeoutMs`; else a StaleReadError with where its checkpoint is. Consistent: the checkpoint
   * has passed it, or no event the processor matches lies between the two (readConsistency). The
   * latter answers a position the processor never handles at once, from any process, although its
   * holder writes its checkpoint over such events only now and then (see ProcessorRunner.advanceIdle).
   * Otherwise the wait is woken by the processor's progress: in this process by its runner, from
   * another by the NOTIFY each checkpoint write sends, after which the database is asked again when
   * the checkpoint it names is short of the position (the events in between may not match); and
   * once more when this process's follower has passed the position, which is then final.
   */
  async waitFor(readModel: string, position: LogPosition, timeoutMs: number): Promise<void> {
    const definition = this.definitions.find((d) => d.readModel === readModel);
    if (!definition) throw new Error(`no processor keeps the read model ${readModel}`);
    const name = definition.name;
    const filter = this.runners.get(name)!.filter;
    const check = () => readConsistency(this.options.em.fork(), name, position, filter);
    let resolve!: () => void;
    const passed = new Promise<void>((r) => (resolve = r));
    let checking = false;
    let checkAgain = false;
    const recheck = () => {
      if (checking) return void (checkAgain = true);
      checking = true;
      void (async () => {
        do {
          checkAgain = false;
          if ((await check()).consistent) resolve();
        } while (checkAgain);
      })()
        // A failed check leaves the wait to the next progress, or to the last check at the timeout.
        .catch((error: unknown) => this.options.logger.debug('read-your-writes could not check a read model', { processor: name, error }))
        .finally(() => (checking = false));
    };
    const waiter: Waiter = { name, position, resolve, recheck };
    // Listening before the first check, so progress in between is not missed.
    this.waiters.add(waiter);
    const stopWatching = this.options.feed.onAdvance((followed) => {
      if (comparePositions(followed, position) < 0) return;
      stopWatching();
      if (!this.runs(name)) recheck();
    });
    let timer: NodeJS.Timeout | undefined;
    try {
      if ((await check()).consistent) return;
      const timedOut = await Promise.race([passed.then(() => false), new Promise<boolean>((r) => (timer = setTimeout(() => r(true), timeoutMs)))]);
      if (!timedOut) return;
      const now = await check();
      if (now.consistent) return;
      throw new StaleReadError(readModel, encodePosition(now.checkpoint), timeoutMs);
    } finally {
      clearTimeout(timer);
      stopWatching();
      this.waiters.delete(waiter);
    }
  }

  // ---- Admin --------------------------------------------------------------------------------

  async list(): Promise<ProcessorState[]> {
    const em = this.options.em.fork();
    const [checkpoints, locked, parked] = await Promise.all([readCheckpoints(em), this.heldNames(em), countParked(em)]);
    const now = this.options.clock.now().getTime();
    return Promise.all(
      this.definitions.map(async (definition) => {
        const checkpoint = checkpoints.get(definition.name);
        const runner = this.runners.get(definition.name)!;
        // The holder's position runs ahead of the stored one over events it does not match (see
        // ProcessorRunner.advanceIdle); under the same epoch nothing (no reset) has moved it since.
        // Elsewhere the stored one is at most that interval behind, and the lag, counting only
        // matching events, is the same from either.
        const held = runner.progress;
        const position = held && checkpoint && held.epoch === checkpoint.epoch && comparePositions(held.position, checkpoint.position) > 0 ? held.position : (checkpoint?.position ?? LOG_START);
        const lag = await readProcessorLag(em, position, runner.filter);
        return {
          name: definition.name,
          delivery: definition.delivery,
          readModel: definition.readModel ?? null,
          status: checkpoint?.status === 'stopped' ? 'STOPPED' : locked.has(definition.name) ? 'RUNNING' : 'UNCLAIMED',
          position,
          owner: checkpoint?.owner ?? null,
          lag: { events: lag.events, seconds: lag.oldestRecordedAt ? Math.max(0, (now - lag.oldestRecordedAt.getTime()) / 1000) : 0 },
          parkedCount: parked.get(definition.name) ?? 0,
        } satisfies ProcessorState;
      }),
    );
  }

  parked(name: string, options: { all?: boolean; limit?: number } = {}): Promise<ParkedEvent[]> {
    return listParked(this.options.em.fork(), name, options);
  }

  /** Asks the holder to handle a parked event again (its full attempts); a stopped processor goes on once it succeeds. */
  retry(name: string, eventId: string): Promise<ParkedEvent> {
    return this.change(name, async (tx, checkpoint) => {
      const parked = await this.waitingParked(tx, name, eventId);
      await setParkedStatus(tx, name, eventId, 'retrying', this.options.clock.now());
      if (checkpoint.status === 'stopped') await query(tx, `update processor_checkpoints set status = 'running' where name = $1`, [name]);
      return { ...parked, status: 'retrying' as const };
    });
  }

  /** Gives up on a parked event for good (it stays listed as skipped); a processor stopped on it goes on after it. */
  skip(name: string, eventId: string): Promise<ParkedEvent> {
    return this.change(name, async (tx, checkpoint) => {
      const parked = await this.waitingParked(tx, name, eventId);
      const now = this.options.clock.now();
      await setParkedStatus(tx, name, eventId, 'skipped', now);
      if (checkpoint.status === 'stopped' && comparePositions(parked.position, checkpoint.position) > 0) {
        await query(tx, `update processor_checkpoints set status = 'running', transaction_id = $2::text::xid8, global_position = $3::bigint where name = $1`, [
          name,
          parked.position.transactionId.toString(),
          parked.position.globalPosition.toString(),
        ]);
      }
      return { ...parked, status: 'skipped' as const, resolvedAt: now };
    });
  }

  /**
   * Moves the checkpoint back to the start (emptying what the processor keeps, through its `reset`)
   * or to a position (everything after it is handled again; nothing is emptied).
   */
  async reset(name: string, to?: LogPosition): Promise<void> {
    if (to && !isLogStart(to) && !(await isEventPosition(this.options.em.fork(), to))) {
      throw new ValidationError(`to is not a position of an event: "${encodePosition(to)}"`, [{ path: 'to', message: 'expected the position of an event, or none for the start' }]);
    }
    const position = to ?? LOG_START;
    await this.change(name, async (tx, _checkpoint, definition) => {
      if (isLogStart(position)) await definition.reset?.(tx);
      await dropParkedAfter(tx, name, position);
      await query(tx, `update processor_checkpoints set status = 'running', transaction_id = $2::text::xid8, global_position = $3::bigint where name = $1`, [
        name,
        position.transactionId.toString(),
        position.globalPosition.toString(),
      ]);
    });
  }

  /**
   * An admin change in one transaction that first bumps the epoch, which fences the holder, and
   * then tells it to claim again at once. First, so that whatever `apply` reads or empties is final:
   * a batch of the holder's either committed its checkpoint before (the bump waited for it, and
   * everything it wrote is visible to the statements after) or cannot commit at all (its checkpoint
   * update finds a new epoch and its writes roll back). A batch holding rows `apply` wants while
   * waiting for the checkpoint row is a deadlock PostgreSQL breaks; the change is then tried again.
   */
  private async change<T>(name: string, apply: (tx: EntityManager, checkpoint: Checkpoint, definition: ProcessorDefinition) => Promise<T>): Promise<T> {
    const definition = this.definitions.find((d) => d.name === name);
    if (!definition) throw new NotFoundError('Processor', name);
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.options.em.fork().transactional(async (tx) => {
          const checkpoint = await bumpEpoch(tx, name, this.options.clock.now());
          const result = await apply(tx, checkpoint, definition);
          await query(tx, `select pg_notify('${CONTROL_CHANNEL}', $1)`, [name]);
          return result;
        });
      } catch (error) {
        if (pgErrorCode(error).code !== DEADLOCK_DETECTED || attempt >= 3) throw error;
      }
    }
  }

  private async waitingParked(em: EntityManager, name: string, eventId: string): Promise<ParkedEvent> {
    const parked = await readParked(em, name, eventId);
    if (!parked || (parked.status !== 'parked' && parked.status !== 'retrying')) throw new NotFoundError('ParkedEvent', `${name}/${eventId}`);
    return parked;
  }

  /** The processors some session holds the lock of, in this database. */
  private async heldNames(em: EntityManager): Promise<Set<string>> {
    const rows = await query<{ name: string }>(
      em,
      `select c.name from processor_checkpoints c where exists (
         select 1 from pg_locks l
         where l.locktype = 'advisory' and l.granted and l.database = (select oid from pg_database where datname = current_database())
           and l.classid = $1::bigint::oid and l.objsubid = 2 and l.objid::bigint = (hashtext(c.name)::bigint & 4294967295))`,
      [PROCESSOR_LOCK_CLASS],
    );
    return new Set(rows.map((row) => row.name));
  }

  // ---- Claims -------------------------------------------------------------------------------

  /** Tries every lock this process does not hold; claims and starts those it gets. One round at a time; stop waits for it. */
  private takeOver(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    this.takingOver ??= this.tryLocks().finally(() => (this.takingOver = undefined));
    return this.takingOver;
  }

  private async tryLocks(): Promise<void> {
    for (const runner of this.runners.values()) {
      if (this.stopped) return;
      if (runner.active || this.claiming.has(runner.name)) continue;
      try {
        if (!(await this.connection.tryLock(runner.name))) continue;
        await this.reclaim(runner.name);
      } catch (error) {
        this.options.logger.warn('could not take a processor lock', { processor: runner.name, error });
      }
    }
  }

  /** Claims the checkpoint again under the lock this process holds (a fresh epoch) and restarts the runner from it. */
  private reclaim(name: string): Promise<void> {
    const previous = this.claiming.get(name) ?? Promise.resolve();
    const next = previous.then(async () => {
      const runner = this.runners.get(name)!;
      await runner.release();
      const client = this.connection.current;
      if (this.stopped || !client) return;
      try {
        const checkpoint = await bumpEpoch(client, name, this.options.clock.now(), this.owner);
        // Stopped while the claim ran: a session now would outlive stop() and use the pool after it closed.
        if (this.stopped) return;
        this.progressed(name, checkpoint.position, false);
        runner.claimed(checkpoint);
      } catch (error) {
        // Ending the lock connection is how stop fails a claim in flight: nothing to report, nothing to let go.
        if (this.stopped) return;
        this.options.logger.warn('could not claim a processor; letting its lock go', { processor: name, error });
        await this.connection.unlock(name).catch(() => undefined);
      }
    });
    const settled = next.finally(() => {
      if (this.claiming.get(name) === settled) this.claiming.delete(name);
    });
    this.claiming.set(name, settled);
    return settled;
  }

  /** `told`: a checkpoint write's NOTIFY (from any process), rather than this process's runner. */
  private progressed(name: string, position: LogPosition, told: boolean): void {
    const local = this.runs(name);
    for (const waiter of this.waiters) {
      if (waiter.name !== name) continue;
      if (comparePositions(position, waiter.position) >= 0) waiter.resolve();
      // Short of it, the events in between may match nothing; the runner of this process gets there by itself.
      else if (told && !local) waiter.recheck();
    }
  }
}
