import { ValidationError } from '../../core/errors.ts';

/**
 * A place in the global log, in commit order: the writing transaction's id, then the event's
 * sequence number. Clients see it as an opaque string (`<txid>_<position>` in base 36) and hand it
 * back as `after` to history queries and subscriptions alike.
 */
export type LogPosition = { readonly transactionId: bigint; readonly globalPosition: bigint };

/** Before the first event. */
export const LOG_START: LogPosition = { transactionId: 0n, globalPosition: 0n };

/** Where a recorded event sits in the log. */
export const positionOf = (event: LogPosition): LogPosition => ({ transactionId: event.transactionId, globalPosition: event.globalPosition });

export function encodePosition(position: LogPosition): string {
  return `${position.transactionId.toString(36)}_${position.globalPosition.toString(36)}`;
}

const FORMAT = /^([0-9a-z]{1,13})_([0-9a-z]{1,13})$/;
/** Both parts are stored as 64-bit integers (xid8, bigint); no handed-out position comes near this. */
const MAX_PART = 2n ** 63n - 1n;

/**
 * The position a cursor string names. Only the form the server writes is taken: base 36 without
 * leading zeros, each part within a 64-bit integer. Whether the position was ever handed out (is an
 * event's, or the log's start) needs the log; `isEventPosition` in read.ts answers that.
 */
export function decodePosition(cursor: string, argument = 'after'): LogPosition {
  const match = FORMAT.exec(cursor);
  const position = match ? { transactionId: parseBase36(match[1]!), globalPosition: parseBase36(match[2]!) } : undefined;
  if (!position || position.transactionId > MAX_PART || position.globalPosition > MAX_PART || encodePosition(position) !== cursor) {
    throw notHandedOut(cursor, argument);
  }
  return position;
}

/** The refusal of a cursor the server did not hand out, naming the argument it came in. */
export function notHandedOut(cursor: string, argument: string): ValidationError {
  return new ValidationError(`${argument} is not a position this API handed out: "${cursor}"`, [
    { path: argument, message: 'expected the position of an event (Event.position, a cursor, or a FEED_CLOSED resumeAfter)' },
  ]);
}

export function isLogStart(position: LogPosition): boolean {
  return position.transactionId === LOG_START.transactionId && position.globalPosition === LOG_START.globalPosition;
}

function parseBase36(digits: string): bigint {
  let value = 0n;
  for (const digit of digits) value = value * 36n + BigInt(parseInt(digit, 36));
  return value;
}

export function comparePositions(a: LogPosition, b: LogPosition): number {
  if (a.transactionId !== b.transactionId) return a.transactionId < b.transactionId ? -1 : 1;
  if (a.globalPosition !== b.globalPosition) return a.globalPosition < b.globalPosition ? -1 : 1;
  return 0;
}
