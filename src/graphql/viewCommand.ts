import type { ObjectRef } from '@pothos/core';
import type { Decider } from '../core/decider.ts';
import type { Command, Event, RecordedEvent } from '../core/message.ts';
import { handleCommand } from '../eventStore/commands/commandHandler.ts';
import { EventInterface } from './events.ts';
import type { StreamView } from '../eventStore/projections/projection.ts';
import { viewAsOf } from '../eventStore/projections/timeTravel.ts';
import { builder } from './builder.ts';
import type { GraphQLContext } from './context.ts';

/** What a command mutation answers with: the aggregate's read model after it, and what it appended. */
export type ViewCommandPayload<V> = { readonly view: V; readonly events: readonly RecordedEvent[]; readonly position: string };

/**
 * The success member of a command mutation's result union, e.g. `AddItemToCartSuccess { cart events
 * position }`: `field` names the read model after the command.
 */
export function viewCommandSuccessType<V>(name: string, options: { field: string; noun: string; verb: string; type: ObjectRef<any, V> }) {
  return builder.objectRef<ViewCommandPayload<V>>(name).implement({
    description: `The ${options.noun} was ${options.verb}.`,
    fields: (t) => ({
      [options.field]: t.field({ type: options.type, description: `The ${options.noun} after the command, from its projection.`, resolve: (p) => p.view as never }),
      events: t.field({ type: [EventInterface], description: 'The events the command appended.', resolve: (p) => [...p.events] }),
      position: t.exposeString('position', { description: 'Position of the last appended event: subscribe `after` it to see only later changes.' }),
    }),
  });
}

/**
 * Runs a command through the command handler and answers with the aggregate's read model: as the
 * command left it (free: the append registered the row with the request's EntityManager), or, for a
 * replayed command id, as the first run left it.
 */
export async function runViewCommand<C extends Command, E extends Event, S, V extends object>(
  ctx: GraphQLContext,
  aggregate: { decider: Decider<C, E, S>; view: StreamView<V, E> },
  id: string,
  command: C,
  options: { expectedVersion: number | undefined; commandId: string | undefined },
): Promise<ViewCommandPayload<V>> {
  const { expectedVersion, commandId } = options;
  const result = await handleCommand(ctx.commands, aggregate.decider, id, command, {
    ...(expectedVersion !== undefined ? { expectedVersion } : {}),
    ...(commandId !== undefined ? { commandId } : {}),
  });
  const view = result.replayed
    ? await viewAsOf(ctx.em, aggregate.view, id, { version: result.version })
    : ((await ctx.em.findOne(aggregate.view.entity, id as never)) as V | null);
  if (!view) throw new Error(`${aggregate.decider.streamType} ${id} has events but no projection row`);
  return { view, events: result.events, position: result.events.at(-1)!.position };
}
