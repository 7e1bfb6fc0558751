import type { EntityManager } from '@mikro-orm/postgresql';
import type { Command, Event, EventMetadata, RecordedEvent } from '../core/message.ts';
import type { Decider } from '../core/decider.ts';
import { fold } from '../core/decider.ts';
import { ConcurrencyError, DomainError } from '../core/errors.ts';
import type { IdGenerator } from '../core/ids.ts';
import { appendToStream } from './append.ts';
import type { InlineProjection } from './projection.ts';
import { readStream } from './read.ts';
import type { KeyedSerializer } from './streamLocks.ts';

/** What a command needs from its surroundings; built per request. */
export type CommandEnvironment = {
  readonly em: EntityManager;
  readonly ids: IdGenerator;
  readonly projections: readonly InlineProjection[];
  /** Re-decide this many times after a version conflict when the caller set no expectedVersion. */
  readonly retries: number;
  /** Process-wide: commands to the same stream take turns here instead of racing. */
  readonly streamLocks?: KeyedSerializer;
  /** Correlation, actor and client, stamped on every event. */
  readonly metadata: EventMetadata;
};

export type CommandOptions = { readonly expectedVersion?: number; readonly commandId?: string };

export type CommandResult<E extends Event, S> = {
  readonly streamId: string;
  readonly version: number;
  readonly state: S;
  readonly events: readonly RecordedEvent<E>[];
};

/**
 * Read, fold, decide, append: the one path every command takes. The append and all inline
 * projections share one transaction. Domain errors are thrown as they are; a version conflict is
 * retried against fresh state unless the caller pinned `expectedVersion`.
 */
export async function handleCommand<C extends Command, E extends Event, S>(
  env: CommandEnvironment, decider: Decider<C, E, S>, streamId: string, command: C, options: CommandOptions = {},
): Promise<CommandResult<E, S>> {
  const run = () => decideAndAppend(env, decider, streamId, command, options);
  return env.streamLocks ? env.streamLocks.run(streamId, run) : run();
}

async function decideAndAppend<C extends Command, E extends Event, S>(
  env: CommandEnvironment, decider: Decider<C, E, S>, streamId: string, command: C, options: CommandOptions,
): Promise<CommandResult<E, S>> {
  for (let attempt = 0; ; attempt++) {
    const history = (await readStream(env.em, streamId)) as RecordedEvent<E>[];
    const version = history.length;
    if (options.expectedVersion !== undefined && options.expectedVersion !== version) {
      throw new ConcurrencyError(streamId, options.expectedVersion, version);
    }
    const state = fold(decider, history);
    const decision = decider.decide(command, state);
    if (decision instanceof DomainError) throw decision;
    try {
      const events = await env.em.transactional(async (tx) => {
        const recorded = await appendToStream(tx, {
          streamId, streamType: decider.streamType, expectedVersion: version, recordedAt: command.now,
          events: decision.map((event) => ({ ...event, id: env.ids.uuid(), metadata: eventMetadata(env, command, options) })),
        });
        for (const projection of env.projections) {
          if (projection.streamTypes.includes(decider.streamType)) await projection.apply(tx, recorded);
        }
        return recorded as RecordedEvent<E>[];
      });
      return { streamId, version: version + events.length, state: fold(decider, events, state), events };
    } catch (error) {
      const retry = error instanceof ConcurrencyError && options.expectedVersion === undefined && attempt < env.retries;
      if (!retry) throw error;
      await backOff(attempt);
    }
  }
}

/** Jittered exponential pause so writers that collided don't collide again in lockstep. */
const backOff = (attempt: number) => new Promise((resolve) => setTimeout(resolve, Math.random() * 2 ** Math.min(attempt, 6)));

function eventMetadata(env: CommandEnvironment, command: Command, options: CommandOptions): EventMetadata {
  return { ...env.metadata, causationId: options.commandId, commandName: command.type, schemaVersion: 1 };
}
