import type { EntityManager } from '@mikro-orm/postgresql';
import { DomainError, ValidationError } from '../core/errors.ts';
import type { Logger } from '../core/logger.ts';
import { FeedClosedError, type FeedSubscription, type LogFeed } from '../eventStore/feed/feed.ts';
import { decodePosition, isLogStart, type LogPosition, notHandedOut } from '../eventStore/log/position.ts';
import { isEventPosition, type LogFilter } from '../eventStore/log/read.ts';
import { AFTER_RESTORE_COMMAND, rebasedSince } from '../eventStore/log/rebase.ts';

/*
 * What "a position the server handed out" means. Positions reach clients as an event's position
 * (Event.position, edge cursors, page info, a mutation's `position`) and, from the live feed, as
 * FEED_CLOSED's `resumeAfter`: where the subscription stood, which is the last event it delivered, the
 * event it resumed after, the head it started at, or — a subscription that began on an empty log —
 * the log's start, "0_0" (also what /health reports as the feed's position then). So a cursor is taken
 * when it is in the form the server writes and names either the log's start or an event. Events are
 * never deleted, so whatever was handed out stays accepted; anything else is a VALIDATION error.
 *
 * The one exception is a log restored from another cluster and re-based (`npm run db:after-restore`):
 * the events that moved have new positions, so a cursor handed out before names no event any more.
 * Such a cursor (at or below the log's end when it was re-based) is refused with a message saying so
 * and what to do; cursors of events that did not move still name them and keep working.
 */

/** The position a history cursor names, refused unless the server handed it out. */
export async function handedOutPosition(em: EntityManager, cursor: string, argument: string): Promise<LogPosition> {
  const position = decodePosition(cursor, argument);
  if (isLogStart(position) || (await isEventPosition(em, position))) return position;
  throw await refusal(em, cursor, position, argument);
}

/** Why a cursor naming no event is refused: from before a re-base of the log, or never handed out. */
export async function refusal(em: EntityManager, cursor: string, position: LogPosition, argument: string): Promise<ValidationError> {
  return (await rebasedRefusal(em, cursor, position, argument)) ?? notHandedOut(cursor, argument);
}

/** The refusal of a cursor naming no event that was handed out before the log was re-based; undefined for any other. */
export async function rebasedRefusal(em: EntityManager, cursor: string, position: LogPosition, argument: string): Promise<ValidationError | undefined> {
  const rebasedAt = await rebasedSince(em, position);
  if (!rebasedAt) return undefined;
  const restart = argument === 'before' ? 'from the newest events (leave before out)' : `from the beginning (leave ${argument} out${argument === 'after' ? ', or pass "0_0"' : ''})`;
  return new ValidationError(
    `${argument} "${cursor}" is a position from before this event log was restored and re-based (${AFTER_RESTORE_COMMAND}, ${rebasedAt.toISOString()}); it can no longer be honoured: start again ${restart} or from a position handed out since`,
    [{ path: argument, message: 'a position from before the log was re-based after a restore: restart from the beginning or from a new cursor' }],
  );
}

/**
 * A feed subscription after `cursor` (from the live head without one), refused unless the server
 * handed the cursor out. The feed is asked first, so a feed that is reconnecting answers FEED_CLOSED at
 * once; a check the database cannot answer is a FEED_CLOSED too, since resubscribing is the remedy.
 */
export async function subscribeAfter(
  ctx: { readonly em: EntityManager; readonly feed: LogFeed; readonly logger: Logger },
  cursor: string | undefined,
  filter: LogFilter,
): Promise<FeedSubscription> {
  if (cursor === undefined) {
    // "From now" means after what committed before the subscription was asked for: the follower is
    // brought up to then first, since its position may still trail a commit of a moment ago.
    if (ctx.feed.connected) await ctx.feed.pump();
    return ctx.feed.subscribe({ filter });
  }
  const after = decodePosition(cursor, 'after');
  const subscription = ctx.feed.subscribe({ after, filter });
  if (isLogStart(after)) return subscription;
  let refused: ValidationError;
  try {
    if (await isEventPosition(ctx.em, after)) return subscription;
    refused = await refusal(ctx.em, cursor, after, 'after');
  } catch (error) {
    subscription.end();
    if (error instanceof DomainError) throw error;
    ctx.logger.warn('could not check a subscription cursor; refusing it as FEED_CLOSED', { error });
    throw new FeedClosedError('The event feed could not read the log; resubscribe with `after` set to the last position you received', { cause: error, resumeAfter: after });
  }
  subscription.end();
  throw refused;
}
