import type { EntityManager } from '@mikro-orm/postgresql';
import { type Identity, isAdmin, principalsOf } from '../../core/identity.ts';
import { query } from '../../db/sql.ts';

/**
 * The principals whose streams a caller reads from the log, for `readHistory`'s `readers`: undefined
 * for an administrator, who reads everything unfiltered.
 */
export const readersFilterFor = (identity: Identity): readonly string[] | undefined => (isAdmin(identity) ? undefined : principalsOf(identity));

/** Whether the caller may read a stream, by the readers its appends recorded (one primary-key probe). */
export async function mayReadStream(em: EntityManager, identity: Identity, streamId: string): Promise<boolean> {
  const readers = readersFilterFor(identity);
  if (readers === undefined) return true;
  if (readers.length === 0) return false;
  const [row] = await query<{ readable: boolean }>(
    em,
    'select exists (select 1 from stream_readers where stream_id = $1 and reader = any($2::text[])) as readable',
    [streamId, readers],
  );
  return row?.readable === true;
}
