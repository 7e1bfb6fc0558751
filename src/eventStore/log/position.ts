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

export function decodePosition(cursor: string, argument = 'after'): LogPosition {
  const match = FORMAT.exec(cursor);
  if (!match) {
    throw new ValidationError(`${argument} is not a position this API handed out: "${cursor}"`, [
      { path: argument, message: 'expected a position string from an event or page info' },
    ]);
  }
  return { transactionId: parseBase36(match[1]!), globalPosition: parseBase36(match[2]!) };
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
