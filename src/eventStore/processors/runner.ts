import type { EntityManager } from '@mikro-orm/postgresql';
import type { Clock } from '../../core/ids.ts';
import type { Logger } from '../../core/logger.ts';
import type { RecordedEvent } from '../../core/message.ts';
import { comparePositions, type LogPosition, positionOf } from '../log/position.ts';
import { type LogFilter, type LogPage, readEventAt } from '../log/read.ts';
import type { UpcasterRegistry } from '../log/upcasters.ts';
import type { ProcessorDefinition } from './processorDefinition.ts';
import { advanceCheckpoint, type Checkpoint, type CheckpointStatus, FencedError, listParked, parkEvent, setParkedStatus } from './processorStore.ts';

export type RunnerSettings = {
  /** Events a batch holds at most, unless the processor says otherwise. */
  readonly batchSize: number;
  /** Attempts of one event before it is parked, unless the processor says otherwise. */
  readonly maxAttempts: number;
  /** The pause after the first failure; it doubles after each next one, up to `backoffMaxMs`. */
  readonly backoffMs: number;
  readonly backoffMaxMs: number;
  /**
   * How long a checkpoint that moved only past events the processor does not match may stay in
   * memory before it is written: at most one write per interval for those, however many commands
   * the rest of the system runs.
   */
  readonly idleCheckpointIntervalMs: number;
};

/** What a runner tells the host (and /metrics) of. */
export type RunnerObserver = {
  /** One attempt failed (it will be retried, or the event parked). */
  failed(processor: string): void;
  /** An event was parked. */
  parked(processor: string): void;
  /** The checkpoint moved (committed); `wrote`: in a transaction that may have held readers of the log back. */
  progressed(processor: string, position: LogPosition, wrote?: boolean): void;
};

export type RunnerDeps = {
  /** The ORM's root EntityManager: the runner forks it for every read and transaction. */
  readonly em: EntityManager;
  readonly upcasters: UpcasterRegistry;
  readonly logger: Logger;
  readonly clock: Clock;
  readonly settings: RunnerSettings;
  /** How far this process's log follower has read: the runner never reads past it. */
  readonly followerPosition: () => LogPosition;
  /** A batch up to the follower's position: LogFeed.readBatch (memory, else readLog). */
  readonly readBatch: (em: EntityManager, after: LogPosition, upTo: LogPosition, filter: LogFilter, limit: number) => Promise<LogPage>;
  readonly observer: RunnerObserver;
  /** The runner was fenced (its epoch is no longer the current one): the host claims again or gives up. */
  readonly fenced: (processor: string) => void;
};

type Session = {
  epoch: bigint;
  /** How far the processor has read: everything matching up to here is handled. */
  position: LogPosition;
  /**
   * The checkpoint as this session last wrote (or claimed) it. Between it and `position` lies no
   * event the processor matches (it moves ahead of it only over empty pages), which is why leaving
   * it behind is safe: see `advanceIdle`.
   */
  stored: LogPosition;
  /** The session was fenced: it writes nothing more, not even on release. */
  fenced: boolean;
  status: CheckpointStatus;
  /** Retries an admin asked for are looked up once a session: asking for one makes the holder claim again (see Processors.change). */
  retriesTaken: boolean;
  readonly controller: AbortController;
};

/** How long a session that ends waits for the write of its idle position (see writeIdleOnRelease). */
const RELEASE_WRITE_WAIT_MS = 1000;

/** A failure that ends the session rather than counting as the handler's. */
const endsSession = (error: unknown, signal: AbortSignal) => error instanceof FencedError || signal.aborted;

/**
 * Runs one processor while this process holds its lock: from the claimed checkpoint, reads the log
 * in commit order up to where the follower is, hands batches to the handler and moves the
 * checkpoint with them (in the handler's transaction for `transactional`, after it for `external`).
 * A batch that throws is narrowed down to single events; an event that keeps failing is retried
 * with exponential backoff, then parked.
 */
export class ProcessorRunner {
  readonly definition: ProcessorDefinition;
  private readonly deps: RunnerDeps;
  /** The definition's filter as readLog takes it. */
  readonly filter: LogFilter;
  private session: Session | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private retryTimer: NodeJS.Timeout | undefined;
  /** Set while an idle position waits to be written; when it fires, the next run writes it. */
  private idleTimer: NodeJS.Timeout | undefined;
  private idleDue = false;

  constructor(definition: ProcessorDefinition, deps: RunnerDeps) {
    this.definition = definition;
    this.deps = deps;
    this.filter = {
      ...(definition.filter?.streamTypes ? { streamTypes: definition.filter.streamTypes } : {}),
      ...(definition.filter?.eventTypes ? { types: definition.filter.eventTypes } : {}),
    };
  }

  get name(): string {
    return this.definition.name;
  }

  /** Whether this runner holds a live claim. */
  get active(): boolean {
    return this.session !== undefined && !this.session.controller.signal.aborted;
  }

  /**
   * Where this runner has read to, under which epoch, while it holds a claim: ahead of the stored
   * checkpoint by events it does not match, for up to `idleCheckpointIntervalMs`.
   */
  get progress(): { readonly epoch: bigint; readonly position: LogPosition } | undefined {
    const session = this.session;
    return session && !session.controller.signal.aborted ? { epoch: session.epoch, position: session.position } : undefined;
  }

  /** Starts a session from a fresh claim of the checkpoint (the lock is held; the epoch is ours). */
  claimed(checkpoint: Checkpoint): void {
    const session: Session = {
      epoch: checkpoint.epoch,
      position: checkpoint.position,
      stored: checkpoint.position,
      fenced: false,
      status: checkpoint.status,
      retriesTaken: false,
      controller: new AbortController(),
    };
    this.session = session;
    // A session that ends (shutdown, a lost lock, a new claim) writes its idle position last, so
    // the next holder does not read those events again. release() aborts first and then awaits
    // `running`, which this joins; a write that fails or is fenced only means they are read again.
    session.controller.signal.addEventListener('abort', () => this.follow(this.writeIdleOnRelease(session, this.running)), { once: true });
    this.deps.logger.info('processor claimed', { processor: this.name, epoch: checkpoint.epoch.toString(), status: checkpoint.status });
    this.wake();
  }

  /** Ends the session: the handler's signal aborts; resolves once nothing of it runs any more. */
  async release(): Promise<void> {
    clearTimeout(this.retryTimer);
    this.session?.controller.abort();
    this.session = undefined;
    await this.running;
  }

  /** The log moved, or an admin asked for something: read on (folds into a run under way). */
  wake(): void {
    const session = this.session;
    if (!session || session.controller.signal.aborted) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.follow(this.run(session));
  }

  /** Makes `work` what release() awaits, until it is done. */
  private follow(work: Promise<void>): void {
    const running: Promise<void> = work.finally(() => {
      if (this.running === running) this.running = undefined;
      // A wake-up between the run's last check and here would otherwise be lost until the log moves again.
      if (this.again) this.wake();
    });
    this.running = running;
  }

  private async run(session: Session): Promise<void> {
    const { signal } = session.controller;
    try {
      do {
        this.again = false;
        if (!session.retriesTaken) {
          await this.retryRequested(session);
          session.retriesTaken = true;
        }
        await this.catchUp(session);
        if (this.idleDue && !signal.aborted) {
          await this.writeIdle(session);
          this.idleDue = false;
        }
      } while (this.again && !signal.aborted);
    } catch (error) {
      if (error instanceof FencedError) {
        session.fenced = true;
        if (this.session === session) this.deps.fenced(this.name);
        return;
      }
      if (signal.aborted) return;
      // Not the handler's failure (those are retried and parked below): the database, most likely.
      this.again = false;
      this.deps.logger.error('processor could not read or write its state; trying again shortly', { processor: this.name, error });
      this.retryTimer = setTimeout(() => this.wake(), this.deps.settings.backoffMaxMs / 4);
      this.retryTimer.unref();
    }
  }

  private async catchUp(session: Session): Promise<void> {
    const batchSize = this.definition.batchSize ?? this.deps.settings.batchSize;
    const { signal } = session.controller;
    while (!signal.aborted && session.status === 'running') {
      const target = this.deps.followerPosition();
      if (comparePositions(session.position, target) >= 0) return;
      const page = await this.deps.readBatch(this.deps.em.fork(), session.position, target, this.filter, batchSize);
      // A short page read everything that matches up to the target, which is final (readLog's horizon): the checkpoint may pass it.
      const next = page.events.length < batchSize ? target : page.next;
      if (page.events.length === 0) this.advanceIdle(session, next);
      else await this.handleBatch(session, page.events, next);
    }
  }

  /**
   * Nothing matched up to `next`: the processor is there, but its checkpoint is not written now.
   * Writing it on every advance of the follower cost one more write transaction per processor for
   * every command anywhere in the system, and each held back every reader of the log while it was
   * open (it takes a transaction id; see readLog). So it stays in memory and is written at most once
   * every `idleCheckpointIntervalMs`, when the session ends, and with the next batch that matched
   * (whose checkpoint update moves it past these events anyway). Losing it in a crash loses
   * nothing: the next holder reads these events again from the stored checkpoint, none of them
   * matches, and none is handed to the handler, so exactly-once and at-least-once are unchanged.
   * Read-your-writes does not wait for it either: see Processors.waitFor.
   */
  private advanceIdle(session: Session, next: LogPosition): void {
    session.position = next;
    this.deps.observer.progressed(this.name, next);
    if (this.idleTimer) return;
    this.idleTimer = setTimeout(() => {
      this.idleTimer = undefined;
      this.idleDue = true;
      this.wake();
    }, this.deps.settings.idleCheckpointIntervalMs);
    this.idleTimer.unref();
  }

  /** Writes the idle position, if the session is ahead of what it stored. */
  private async writeIdle(session: Session): Promise<void> {
    if (comparePositions(session.position, session.stored) <= 0) return;
    await this.commit(session, [], session.position);
  }

  /** After `running` (a run under way), the idle position of a session that ends; never throws. */
  private async writeIdleOnRelease(session: Session, running: Promise<void> | undefined): Promise<void> {
    clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    this.idleDue = false;
    await running;
    if (session.fenced) return;
    const written = this.writeIdle(session).catch((error: unknown) =>
      this.deps.logger.debug('processor could not write its checkpoint as its session ended; the next holder reads what did not match again', { processor: this.name, error }),
    );
    // Bounded: it saves the next holder some reading, and must not hold a shutdown up when the database does not answer.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([written, new Promise<void>((resolve) => (timer = setTimeout(resolve, RELEASE_WRITE_WAIT_MS)))]);
    clearTimeout(timer);
  }

  private async handleBatch(session: Session, events: readonly RecordedEvent[], next: LogPosition): Promise<void> {
    const firstFailedAt = this.deps.clock.now();
    try {
      await this.commit(session, events, next);
      return;
    } catch (error) {
      if (endsSession(error, session.controller.signal)) throw error;
      this.deps.observer.failed(this.name);
      if (events.length === 1) return this.handleOne(session, events[0]!, next, { attempts: 1, firstFailedAt, error });
      this.deps.logger.warn('processor batch failed; handling its events one by one', { processor: this.name, events: events.length, error });
    }
    for (const [index, event] of events.entries()) {
      if (session.status !== 'running') return;
      await this.handleOne(session, event, index === events.length - 1 ? next : positionOf(event), { attempts: 0 });
    }
  }

  /** One event, retried with backoff until it succeeds or its attempts are used up; then parked. */
  private async handleOne(session: Session, event: RecordedEvent, next: LogPosition, failed: { attempts: number; firstFailedAt?: Date; error?: unknown }): Promise<void> {
    const failure = await this.withRetries(session, event, failed, () => this.commit(session, [event], next));
    if (failure) await this.park(session, event, next, failure);
  }

  /**
   * Runs `attempt` until it succeeds or the processor's attempts are used up, pausing with backoff
   * between tries and counting each failure; undefined once it succeeded, else the failure to park.
   * An error that ends the session is thrown at once: the event is handed over again, not parked.
   */
  private async withRetries(
    session: Session,
    event: RecordedEvent,
    failed: { attempts: number; firstFailedAt?: Date; error?: unknown },
    attempt: () => Promise<void>,
  ): Promise<{ attempts: number; firstFailedAt: Date; error: unknown } | undefined> {
    const maxAttempts = this.definition.maxAttempts ?? this.deps.settings.maxAttempts;
    let { attempts, firstFailedAt, error } = failed;
    while (attempts < maxAttempts) {
      if (attempts > 0) await this.pause(attempts, session.controller.signal);
      try {
        await attempt();
        return undefined;
      } catch (caught) {
        if (endsSession(caught, session.controller.signal)) throw caught;
        attempts++;
        firstFailedAt ??= this.deps.clock.now();
        error = caught;
        this.deps.observer.failed(this.name);
        this.deps.logger.warn('processor failed to handle an event', { processor: this.name, eventId: event.id, attempts, maxAttempts, error: caught });
      }
    }
    return { attempts, firstFailedAt: firstFailedAt ?? this.deps.clock.now(), error };
  }

  private async park(session: Session, event: RecordedEvent, next: LogPosition, failure: { attempts: number; firstFailedAt: Date; error: unknown }): Promise<void> {
    const stop = this.definition.onParked === 'stop';
    const now = this.deps.clock.now();
    // With `stop` the checkpoint stays before the event, so a retry takes it up again in order.
    const position = stop ? session.position : next;
    await this.deps.em.fork().transactional(async (tx) => {
      await advanceCheckpoint(tx, this.name, session.epoch, position, now, stop ? { status: 'stopped' } : {});
      await parkEvent(tx, this.name, event, { error: describe(failure.error), attempts: failure.attempts, firstFailedAt: failure.firstFailedAt, lastFailedAt: now });
    });
    session.position = position;
    session.stored = position;
    if (stop) session.status = 'stopped';
    this.deps.observer.parked(this.name);
    this.deps.observer.progressed(this.name, position);
    this.deps.logger.error(stop ? 'processor parked an event and stopped until it is retried or skipped' : 'processor parked an event and goes on', {
      processor: this.name,
      eventId: event.id,
      position: event.position,
      attempts: failure.attempts,
      error: failure.error,
    });
  }

  /**
   * The handler's run of `events` and the checkpoint's move to `next`, as the delivery says: one
   * transaction (exactly once), or the handler first and the checkpoint after (at least once).
   * `also` writes more in the checkpoint's transaction (an admin retry marks its event resolved).
   */
  private async commit(session: Session, events: readonly RecordedEvent[], next: LogPosition, also?: (em: EntityManager) => Promise<void>, onlyForward = false): Promise<void> {
    const { signal } = session.controller;
    const context = (em: EntityManager) => ({ em, upcasters: this.deps.upcasters, logger: this.deps.logger.child({ processor: this.name }), signal });
    const moveCheckpoint = async (em: EntityManager) => {
      await advanceCheckpoint(em, this.name, session.epoch, next, this.deps.clock.now(), onlyForward ? { onlyForward, status: 'running' } : {});
      await also?.(em);
    };
    if (events.length === 0) {
      await moveCheckpoint(this.deps.em.fork());
    } else if (this.definition.delivery === 'transactional') {
      await this.deps.em.fork().transactional(async (tx) => {
        await this.definition.handle(events, context(tx));
        // Last, so the transaction takes a transaction id (which holds every reader of the log back,
        // see readLog) as late as it can. Fenced all the same: a claim since ours makes this update
        // fail and the whole batch roll back; a claim after it waits for its row lock.
        await moveCheckpoint(tx);
      });
    } else {
      await this.definition.handle(events, context(this.deps.em.fork()));
      await this.deps.em.fork().transactional(moveCheckpoint);
    }
    if (!onlyForward || comparePositions(next, session.position) > 0) session.position = next;
    if (!onlyForward || comparePositions(next, session.stored) > 0) session.stored = next;
    if (onlyForward) session.status = 'running';
    this.deps.observer.progressed(this.name, session.position, events.length > 0);
  }

  /** Parked events an admin asked to retry, in commit order, each handled again with its full attempts. */
  private async retryRequested(session: Session): Promise<void> {
    const requested = (await listParked(this.deps.em.fork(), this.name, { limit: 1000 })).filter((parked) => parked.status === 'retrying');
    for (const parked of requested) {
      const event = await readEventAt(this.deps.em.fork(), this.deps.upcasters, parked.position);
      const resolve = (em: EntityManager) => setParkedStatus(em, this.name, parked.eventId, 'resolved', this.deps.clock.now());
      if (!event) {
        await resolve(this.deps.em.fork());
        continue;
      }
      // A stopped processor's event is the next one: the checkpoint moves onto it; otherwise it is already past it.
      const failure = await this.withRetries(session, event, { attempts: 0 }, () => this.commit(session, [event], positionOf(event), resolve, true));
      if (!failure) {
        this.deps.logger.info('processor handled a parked event on retry', { processor: this.name, eventId: event.id });
        continue;
      }
      const behind = comparePositions(positionOf(event), session.position) > 0;
      const stop = this.definition.onParked === 'stop' && behind;
      const now = this.deps.clock.now();
      await this.deps.em.fork().transactional(async (tx) => {
        await advanceCheckpoint(tx, this.name, session.epoch, session.position, now, stop ? { status: 'stopped' } : {});
        await parkEvent(tx, this.name, event, { error: describe(failure.error), attempts: failure.attempts, firstFailedAt: failure.firstFailedAt, lastFailedAt: now });
      });
      session.stored = session.position;
      if (stop) session.status = 'stopped';
      this.deps.observer.parked(this.name);
    }
  }

  private pause(attempts: number, signal: AbortSignal): Promise<void> {
    const { backoffMs, backoffMaxMs } = this.deps.settings;
    const ms = Math.min(backoffMs * 2 ** (attempts - 1), backoffMaxMs);
    return new Promise((resolve, reject) => {
      if (signal.aborted) return reject(signal.reason);
      const timer = setTimeout(() => {
        signal.removeEventListener('abort', aborted);
        resolve();
      }, ms);
      const aborted = () => {
        clearTimeout(timer);
        reject(signal.reason);
      };
      signal.addEventListener('abort', aborted, { once: true });
    });
  }
}

function describe(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`.slice(0, 4000);
  return String(error).slice(0, 4000);
}
