import type { EntityManager } from '@mikro-orm/postgresql';
import { ValidationError } from '../../core/errors.ts';
import type { Event, RecordedEvent } from '../../core/message.ts';
import { replayView, type StreamView } from './projection.ts';
import { type AsOf, readStreamAsOf } from '../log/read.ts';
import type { UpcasterRegistry } from '../log/upcasters.ts';

/**
 * A stream's read-model row as it was at a version or an instant, rebuilt from the stream's events
 * with the view's own `evolve`: the function the inline projection runs, so the live row and the
 * historical one cannot drift apart. Null when the stream did not exist yet (or is not of the view's
 * type); a version the stream has not reached yet is a ValidationError.
 */
export async function viewAsOf<View extends object, E extends Event>(
  em: EntityManager,
  upcasters: UpcasterRegistry,
  view: Pick<StreamView<View, E>, 'streamType' | 'evolve'>,
  streamId: string,
  asOf: AsOf,
): Promise<View | null> {
  const events = (await readStreamAsOf(em, upcasters, streamId, asOf)) as RecordedEvent<E>[];
  const first = events[0];
  if (!first || first.streamType !== view.streamType) return null;
  if ('version' in asOf && events.length < asOf.version) {
    throw new ValidationError(`${view.streamType} ${streamId} is at version ${events.length}; version ${asOf.version} has not happened`, [
      { path: 'asOf.version', message: `must be at most ${events.length}, the current version` },
    ]);
  }
  return replayView(view, events);
}
