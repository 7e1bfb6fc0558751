import { ValidationError } from '../core/errors.ts';

/**
 * Opaque cursors for read-model listings ordered newest first by a timestamp, ties broken by id.
 * Keyset paging on (time, id) makes the hundredth page cost what the first does.
 */
export type TimeIdKey = { readonly time: Date; readonly id: string };

export function encodeTimeIdCursor(key: TimeIdKey): string {
  return Buffer.from(JSON.stringify([key.time.toISOString(), key.id])).toString('base64url');
}

export function decodeTimeIdCursor(cursor: string, argument: string): TimeIdKey {
  try {
    const [time, id] = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as [unknown, unknown];
    const date = new Date(String(time));
    if (typeof time !== 'string' || typeof id !== 'string' || Number.isNaN(date.getTime())) throw new Error('bad cursor');
    return { time: date, id };
  } catch {
    throw new ValidationError(`${argument} is not a cursor from this connection`, [{ path: argument, message: 'expected a cursor from this connection' }]);
  }
}

/**
 * MikroORM conditions for one page of a newest-first listing on `timeField` then `id`:
 * "after" a cursor means older than it, "before" means newer.
 */
export function timeIdPageConditions(timeField: string, page: { after?: string | undefined; before?: string | undefined }): Record<string, unknown>[] {
  const where: Record<string, unknown>[] = [];
  if (page.after) {
    const key = decodeTimeIdCursor(page.after, 'after');
    where.push({ $or: [{ [timeField]: { $lt: key.time } }, { [timeField]: key.time, id: { $lt: key.id } }] });
  }
  if (page.before) {
    const key = decodeTimeIdCursor(page.before, 'before');
    where.push({ $or: [{ [timeField]: { $gt: key.time } }, { [timeField]: key.time, id: { $gt: key.id } }] });
  }
  return where;
}
