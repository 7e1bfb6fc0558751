import { encodePosition, type LogPosition } from '../log/position.ts';

/**
 * A subscription ended before its client did: the database connection was lost, or the feed shut
 * down. Nothing was skipped: resubscribe with `after` set to the last position received (also given
 * as `resumeAfter`). GraphQL servers copy `extensions` onto the error they send.
 */
export class FeedClosedError extends Error {
  readonly code = 'FEED_CLOSED';
  readonly resumeAfter: string | undefined;
  readonly extensions: { readonly code: 'FEED_CLOSED'; readonly resumeAfter?: string };

  constructor(message: string, options: ErrorOptions & { resumeAfter?: LogPosition } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'FeedClosedError';
    this.resumeAfter = options.resumeAfter ? encodePosition(options.resumeAfter) : undefined;
    this.extensions = { code: this.code, ...(this.resumeAfter !== undefined ? { resumeAfter: this.resumeAfter } : {}) };
  }
}
