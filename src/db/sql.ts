import { CompiledQuery } from 'kysely';
import type { EntityManager } from '@mikro-orm/postgresql';

/**
 * Runs one parameterised statement ($1, $2 …) through the EntityManager's Kysely instance
 * (`em.getKysely()`, MikroORM's documented raw access): inside the EntityManager's transaction when
 * it has one, else on a pooled connection. Used on the hot append and log-read paths, where
 * MikroORM's `execute` would inline every parameter as a literal. For a statement that must run
 * outside `em`'s transaction, pass `em.fork()`: a fork is bound to the pool.
 */
export async function query<Row>(em: EntityManager, sql: string, params: readonly unknown[] = []): Promise<Row[]> {
  const result = await em.getKysely().executeQuery(CompiledQuery.raw(sql, [...params]));
  return result.rows as Row[];
}

/** PostgreSQL's SQLSTATE for a unique-constraint violation. */
export const UNIQUE_VIOLATION = '23505';

export function pgErrorCode(error: unknown): { code?: string; constraint?: string } {
  let current: unknown = error;
  // Drivers wrap the pg error; walk the cause chain to find the SQLSTATE.
  for (let depth = 0; current && depth < 5; depth++) {
    const candidate = current as { code?: unknown; constraint?: unknown; cause?: unknown };
    if (typeof candidate.code === 'string' && /^[0-9A-Z]{5}$/.test(candidate.code)) {
      return { code: candidate.code, constraint: typeof candidate.constraint === 'string' ? candidate.constraint : undefined };
    }
    current = candidate.cause;
  }
  return {};
}
