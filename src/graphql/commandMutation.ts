import type { InputFieldBuilder, InputObjectRef, ObjectRef } from '@pothos/core';
import type { Decider } from '../core/decider.ts';
import type { DomainError } from '../core/errors.ts';
import type { Identity } from '../core/identity.ts';
import type { Command, Event, RecordedEvent } from '../core/message.ts';
import { handleCommand } from '../eventStore/commands/commandHandler.ts';
import { idFromCommandId } from '../eventStore/commands/idempotency.ts';
import type { StreamView } from '../eventStore/projections/projection.ts';
import { viewAsOf } from '../eventStore/projections/timeTravel.ts';
import type { Builder, SchemaTypes } from './builder.ts';
import { commandErrors } from './errors.ts';
import { idShape, versionShape } from './inputShapes.ts';
import type { RowVisibility } from './readModel.ts';

type Types = PothosSchemaTypes.ExtendDefaultTypes<SchemaTypes>;

/** An aggregate as GraphQL shows it: its decider, its one-row-per-stream read model, and that row's type. */
export type AggregateGraphQL<C extends Command, E extends Event, S, V extends { id: string }> = {
  readonly decider: Decider<C, E, S>;
  readonly view: StreamView<V, E>;
  readonly ref: ObjectRef<Types, V>;
  /** What the read model is called in field names and descriptions, e.g. "cart". */
  readonly noun: string;
  /** Which rows of the read model a caller may see (see readModel.ts). */
  readonly visibleTo: RowVisibility;
};

/** What every command input carries besides its own fields. */
export type CommandInputShape = { readonly commandId?: string | null; readonly expectedVersion?: number | null };

/** The `commandId` field every command input has. */
export function commandIdField(t: InputFieldBuilder<Types, 'InputObject'>) {
  return t.id({
    required: false,
    validate: idShape,
    description:
      'Your id for this command (up to 100 URL-safe characters, e.g. a UUID), making it safe to send again: a command id that ' +
      'already ran returns that first result and appends nothing. Reusing it for a different command is a CommandIdReusedError. ' +
      "Also stored as each event's causationId; generated when omitted.",
  });
}

/** The `expectedVersion` field of a command input on an existing aggregate. */
export function expectedVersionField(t: InputFieldBuilder<Types, 'InputObject'>, noun: string) {
  return t.int({
    required: false,
    validate: versionShape,
    description: `Refuse with ConcurrencyError unless the ${noun} is at this version (0 for one that does not exist yet). Omit to let the server retry on conflicts.`,
  });
}

/** What a command mutation answers with: the aggregate's read model after it, and what it appended. */
type CommandPayload<V> = { readonly view: V; readonly events: readonly RecordedEvent[]; readonly position: string };

/**
 * A command mutation: `name(input): NameResult`, where the result union holds `NameSuccess { <noun>
 * events position }`, the errors every command can end with, and the command's own rule errors.
 * The resolver only builds the command: the stream id (from the input; or, when the input may omit
 * it, derived from the command id so a replay addresses the same aggregate, else generated), the
 * command from the input, and the time from the context's clock. The command handler does the rest.
 */
export function commandMutation<I extends CommandInputShape, C extends Command, E extends Event, S, V extends { id: string }>(
  builder: Builder,
  aggregate: AggregateGraphQL<C, E, S, V>,
  options: {
    readonly name: string;
    readonly description: string;
    /** Past participle for the success type's description: "The cart was <verb>." */
    readonly verb: string;
    readonly input: InputObjectRef<Types, I>;
    readonly errors: readonly (new (...args: any[]) => DomainError)[];
    /** The addressed stream; null or undefined when the client left it to the server. */
    readonly streamId: (input: I) => string | null | undefined;
    /** May throw a ValidationError; `caller` is for inputs that default to the caller (a new cart's customer). */
    readonly command: (input: I, streamId: string, caller: Identity) => Omit<C, 'now'>;
  },
): void {
  const typeName = options.name[0]!.toUpperCase() + options.name.slice(1);
  const { decider, view, noun } = aggregate;
  const success = builder.objectRef<CommandPayload<V>>(`${typeName}Success`).implement({
    description: `The ${noun} was ${options.verb}.`,
    fields: (t) => ({
      [noun]: t.field({ type: aggregate.ref, description: `The ${noun} after the command, from its projection.`, resolve: (payload) => payload.view as never }),
      events: t.field({ type: ['Event'], description: 'The events the command appended.', resolve: (payload) => [...payload.events] }),
      position: t.exposeString('position', { description: 'Position of the last appended event: subscribe `after` it to see only later changes.' }),
    }),
  });
  builder.mutationField(options.name, (t) =>
    t.field({
      type: success,
      description: options.description,
      args: { input: t.arg({ type: options.input, description: 'The command.' }) },
      errors: { types: [...commandErrors, ...options.errors], directResult: true, union: { name: `${typeName}Result` } },
      resolve: async (_root, args, ctx) => {
        // Pothos cannot infer a generic input's argument shape; `options.input` fixes it to I.
        const { input } = args as unknown as { input: I };
        const commandId = input.commandId ?? undefined;
        const streamId =
          options.streamId(input) ?? (commandId === undefined ? ctx.ids.uuid() : idFromCommandId(decider.streamType, commandId));
        const command = { ...options.command(input, streamId, ctx.identity), now: ctx.clock.now() } as C;
        const result = await handleCommand(ctx.commands, decider, streamId, command, {
          ...(input.expectedVersion != null ? { expectedVersion: input.expectedVersion } : {}),
          ...(commandId !== undefined ? { commandId } : {}),
        });
        // A fresh run usually hands back the row it wrote, so there is nothing to read; a replayed
        // command id answers with the row as its first run left it.
        const written = result.rows?.find((r) => r.entity === view.entity && (r.row as { id?: unknown }).id === streamId)?.row as V | undefined;
        const row = result.replayed
          ? await viewAsOf(ctx.em, ctx.upcasters, view, streamId, { version: result.version })
          : (written ?? ((await ctx.em.findOne(view.entity, streamId as never)) as V | null));
        if (!row) throw new Error(`${decider.streamType} ${streamId} has events but no projection row`);
        return { view: row, events: result.events, position: result.events.at(-1)!.position };
      },
    }),
  );
}
