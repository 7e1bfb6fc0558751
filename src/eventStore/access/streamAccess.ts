import type { EntityManager } from '@mikro-orm/postgresql';
import { type Identity, isAdmin, principalsOf } from '../../core/identity.ts';
import { query } from '../../db/sql.ts';

/**
 * The principals whose streams a caller reads from the log, for `readHistory`'s `readers`: undefined
 * for an administrator, who reads everything unfiltered.
 */
export const readersFilterFor = (identity: Identity): readonly string[] | undefined => (isAdmin(identity) ? undefined : principalsOf(identity));

/** Of these streams, those the caller may read, by the readers their appends recorded (one index probe per stream, one round trip). */
export async function readableStreams(em: EntityManager, identity: Identity, streamIds: readonly string[]): Promise<ReadonlySet<string>> {
  const readers = readersFilterFor(identity);
  if (readers === undefined) return new Set(streamIds);
  if (readers.length === 0 || streamIds.length === 0) return new Set();
  const rows = await query<{ stream_id: string }>(
    em,
    'select distinct stream_id from stream_readers where stream_id = any($1::text[]) and reader = any($2::text[])',
    [[...new Set(streamIds)], readers],
  );
  return new Set(rows.map((row) => row.stream_id));
}

/** Whether the caller may read one stream. */
export async function mayReadStream(em: EntityManager, identity: Identity, streamId: string): Promise<boolean> {
  return (await readableStreams(em, identity, [streamId])).has(streamId);
}
