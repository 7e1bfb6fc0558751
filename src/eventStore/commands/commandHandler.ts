import type { EntityManager } from '@mikro-orm/postgresql';
import type { Command, Event, EventMetadata, RecordedEvent } from '../../core/message.ts';
import type { Decider } from '../../core/decider.ts';
import { ConcurrencyError, DomainError } from '../../core/errors.ts';
import type { IdGenerator } from '../../core/ids.ts';
import { type CommandFingerprint, type EarlierRun, findEarlierRun, fingerprint, recordRun } from './idempotency.ts';
import { StateCache, type StateCacheStore } from './stateCache.ts';
import type { InlineProjection, PlannedWrites } from '../projections/projection.ts';
import { APPENDED, appendToStream, type AppendRequest } from '../log/append.ts';
import type { UpcasterRegistry } from '../log/upcasters.ts';
import type { SnapshotStore } from '../snapshots/snapshots.ts';
import { readStreamState } from './streamState.ts';
import type { KeyedSerializer } from './streamLocks.ts';
import type { Identity } from '../../core/identity.ts';
import { authorizeRevert, type Policy } from '../../core/policy.ts';
import { isRevertStream, type Reverted, type RevertStream } from '../log/reverts.ts';
import { decideRevert } from './revert.ts';

/** What a command needs from its surroundings; built per request. */
export type CommandEnvironment = {
  readonly em: EntityManager;
  readonly ids: IdGenerator;
  readonly projections: readonly InlineProjection[];
  /** Re-decide this many times after a version conflict when the caller set no expectedVersion. */
  readonly retries: number;
  /** Process-wide: aggregate states after their last commit, so a warm command skips the stream read. */
  readonly stateCache?: StateCacheStore;
  /** Process-wide: commands to the same stream take turns here instead of racing. */
  readonly streamLocks?: KeyedSerializer;
  /** Called after every commit that appended events (in the API: the CommitNotifier, which wakes the feeds). */
  readonly onCommitted?: () => void;
  /** Correlation, actor and client, stamped on every event. */
  readonly metadata: EventMetadata;
  /** Told how each command ended, and of each retry (the API counts them for /metrics). */
  readonly observer?: CommandObserver;
  /** Who issues the command; the stream type's policy decides whether they may. */
  readonly identity: Identity;
  /** Each stream type's policy. A stream type without one takes no commands. */
  readonly policies: ReadonlyMap<string, Policy<any, any>>;
  /** Brings every event read up to its type's current shape before a decider folds it. */
  readonly upcasters: UpcasterRegistry;
  /** Process-wide: where cold commands start from and commits leave snapshots, for deciders that keep them. */
  readonly snapshots?: SnapshotStore;
};

/**
 * How a command ended: `success` (appended), `replayed` (its command id had run before),
 * `domain_error` (a rule refused it), `version_conflict` (a ConcurrencyError reached the caller:
 * `expectedVersion` did not match, or the retries ran out), `error` (anything unexpected). `retry`
 * is reported for each re-decision after a version conflict, beside the command's final outcome.
 */
export type CommandOutcome = 'success' | 'replayed' | 'domain_error' | 'version_conflict' | 'error' | 'retry';

/** Watches commands without the event store knowing what is done with it (the app counts them). */
export interface CommandObserver {
  observe(commandType: string, outcome: CommandOutcome): void;
}

export type CommandOptions = { readonly expectedVersion?: number; readonly commandId?: string };

export type CommandResult<E extends Event, S> = {
  readonly streamId: string;
  readonly version: number;
  readonly state: S;
  readonly events: readonly RecordedEvent<E>[];
  /** True when the command id had run before: the result is that first run's, and nothing was appended. */
  readonly replayed: boolean;
  /** The read-model rows the command wrote, when it knew them without reading (see appendAndProject). */
  readonly rows?: readonly WrittenRow[];
};

/** A read-model row as an inline projection wrote it. */
export type WrittenRow = PlannedWrites['rows'][number];

/**
 * Read, fold, decide, append: the one path every command takes. The append and all inline
 * projections share one transaction. Domain errors are thrown as they are; a version conflict is
 * retried against fresh state unless the caller pinned `expectedVersion`. With a `commandId`, a
 * command that already ran returns its first result and appends nothing (see idempotency.ts).
 * A RevertStream command (see reverts.ts) takes the same path, decided by the store for any aggregate.
 */
export function handleCommand<C extends Command, E extends Event, S>(
  env: CommandEnvironment, decider: Decider<C, E, S>, streamId: string, command: C, options?: CommandOptions,
): Promise<CommandResult<E, S>>;
export function handleCommand<S>(
  env: CommandEnvironment, decider: Decider<any, any, S>, streamId: string, command: RevertStream, options?: CommandOptions,
): Promise<CommandResult<Reverted, S>>;
export async function handleCommand<C extends Command, E extends Event, S>(
  env: CommandEnvironment, decider: Decider<C, E, S>, streamId: string, command: C | RevertStream, options: CommandOptions = {},
): Promise<CommandResult<E, S>> {
  const run = () => decideAndAppend(env, decider, streamId, command, options);
  const pending = env.streamLocks ? env.streamLocks.run(streamId, run) : run();
  return env.observer ? observed(env.observer, command.type, pending) : pending;
}

async function observed<R extends { readonly replayed: boolean }>(observer: CommandObserver, commandType: string, pending: Promise<R>): Promise<R> {
  try {
    const result = await pending;
    observer.observe(commandType, result.replayed ? 'replayed' : 'success');
    return result;
  } catch (error) {
    observer.observe(commandType, error instanceof ConcurrencyError ? 'version_conflict' : error instanceof DomainError ? 'domain_error' : 'error');
    throw error;
  }
}

async function decideAndAppend<C extends Command, E extends Event, S>(
  env: CommandEnvironment, decider: Decider<C, E, S>, streamId: string, command: C | RevertStream, options: CommandOptions,
): Promise<CommandResult<E, S>> {
  const once = options.commandId === undefined ? undefined : fingerprint(options.commandId, decider.streamType, streamId, command);
  const causationId = options.commandId ?? env.ids.uuid();
  const states = new StateCache<S>(env.stateCache, decider.streamType, streamId);
  const policy: Policy<C, S> | undefined = env.policies.get(decider.streamType);
  if (!policy) throw new Error(`${decider.streamType} has no policy: every aggregate needs one`);
  // A state that is only optimistic (remembered, or assumed new) may be why a command was refused or
  // lost a race: such a setback is decided again on the stream as read, and is not one of the retries.
  for (let retried = 0; ; ) {
    const { version, state, optimistic } = await states.load(() => readStreamState(env, decider, streamId), decider);
    // Authorised first, so a replayed command id answers only a caller who may run the command.
    const refused = isRevertStream(command) ? authorizeRevert(env.identity, streamId) : policy.authorize(env.identity, command, state);
    const earlier = !refused && once && (await findEarlierRun(env.em, env.upcasters, once));
    if (earlier) return replayed(env, decider, streamId, earlier);
    const decision = refused ?? (options.expectedVersion !== undefined && options.expectedVersion !== version
      ? new ConcurrencyError(streamId, options.expectedVersion, version)
      : isRevertStream(command) ? await decideRevert(env.em, env.upcasters, decider, streamId, version, state, command) : decided(decider, command, state));
    if (decision instanceof DomainError) {
      if (!optimistic) throw decision;
      states.forget();
      continue;
    }
    try {
      const readers = policy.readers(decision.state);
      const before = version === 0 ? [] : policy.readers(state);
      const newReaders = readers.filter((reader) => !before.includes(reader));
      const request = {
        streamId, streamType: decider.streamType, expectedVersion: version, recordedAt: command.now,
        events: decision.events.map((event) => ({ ...event, id: env.ids.uuid(), metadata: eventMetadata(env, decider, command, causationId, event, readers) })),
        ...(newReaders.length > 0 ? { newReaders } : {}),
      };
      const { recorded, rows } = await appendAndProject(env, request, once);
      const events = recorded as RecordedEvent<E>[];
      env.onCommitted?.();
      const after = states.remember(version + events.length, decision.state);
      // Off the command's path: not awaited, and on a connection of its own, outside any transaction.
      env.snapshots?.afterCommit(env.em, decider.streamType, streamId, version, after, events.at(-1)!.id);
      return { streamId, ...after, events, replayed: false, ...(rows ? { rows } : {}) };
    } catch (error) {
      states.forget();
      // A run of the same command id that committed first (a racing replay) answers for this one.
      if (once && (await findEarlierRun(env.em, env.upcasters, once))) continue;
      if (!(error instanceof ConcurrencyError)) throw error;
      if (optimistic) continue;
      if (options.expectedVersion !== undefined || retried >= env.retries) throw error;
      env.observer?.observe(command.type, 'retry');
      await backOff(retried++);
    }
  }
}

/** What the decider appends for a command, and the state after it (a revert's is decided in revert.ts). */
function decided<C extends Command, E extends Event, S>(decider: Decider<C, E, S>, command: C, state: S): { readonly events: readonly Event[]; readonly state: S } | DomainError {
  const events = decider.decide(command, state);
  return events instanceof DomainError ? events : { events, state: events.reduce(decider.evolve, state) };
}

/**
 * Appends a command's events and brings every inline projection of the stream type up to date,
 * atomically. When every projection can say what it will write without reading (see
 * InlineProjection.plan), it all goes to PostgreSQL as one self-committing statement: one round
 * trip, as cheap as a bare insert plus the row writes. Otherwise (or with an idempotency record to
 * write) the append and `apply` share a transaction. Either way nothing is visible unless everything is.
 */
async function appendAndProject(
  env: CommandEnvironment, request: AppendRequest, once: CommandFingerprint | undefined,
): Promise<{ recorded: RecordedEvent[]; rows?: readonly WrittenRow[] }> {
  const { em } = env;
  const projections = env.projections.filter((p) => p.streamTypes.includes(request.streamType));
  // Inside a caller's transaction the commit is theirs, so the projections must wait for it.
  if (!once && !em.isInTransaction()) {
    const provisional = provisionalEvents(request);
    const plans = projections.map((p) => p.plan?.(em, provisional));
    if (plans.every((plan): plan is PlannedWrites => plan !== undefined)) {
      const recorded = await appendToStream(em, request, (bind) => plans.flatMap((plan) => plan.sql(bind, APPENDED)));
      for (const projection of projections) projection.afterCommit?.(provisional);
      // The rows it wrote go back with the result, so nobody has to read them back.
      return { recorded, rows: plans.flatMap((plan) => plan.rows) };
    }
  }
  const recorded = await em.transactional(async (tx) => {
    const appended = await appendToStream(tx, request);
    if (once) await recordRun(tx, once, appended, request.expectedVersion + appended.length, request.recordedAt);
    for (const projection of projections) await projection.apply(tx, appended, env.upcasters);
    return appended;
  });
  for (const projection of projections) projection.afterCommit?.(recorded);
  return { recorded };
}

/** The events as they will be recorded, but for their log position, which the insert assigns. */
function provisionalEvents(request: AppendRequest): RecordedEvent[] {
  return request.events.map((event, index) => ({
    ...event,
    streamId: request.streamId,
    streamType: request.streamType,
    version: request.expectedVersion + index + 1,
    recordedAt: request.recordedAt,
    position: '',
    globalPosition: 0n,
    transactionId: 0n,
  }));
}

async function replayed<E extends Event, S>(env: CommandEnvironment, decider: Decider<never, E, S>, streamId: string, earlier: EarlierRun): Promise<CommandResult<E, S>> {
  const { state } = await readStreamState(env, decider, streamId, earlier.version);
  return { streamId, version: earlier.version, state, events: earlier.events as RecordedEvent<E>[], replayed: true };
}

/** Jittered exponential pause so writers that collided don't collide again in lockstep. */
const backOff = (attempt: number) => new Promise((resolve) => setTimeout(resolve, Math.random() * 2 ** Math.min(attempt, 6)));

function eventMetadata<E extends Event>(
  env: CommandEnvironment, decider: Pick<Decider<never, E, unknown>, 'schemaVersions'>, command: Command, causationId: string, event: Event, readers: readonly string[],
): EventMetadata {
  const schemaVersion = decider.schemaVersions[event.type as E['type']] ?? 1;
  return { ...env.metadata, causationId, commandName: command.type, schemaVersion, readers };
}
