import { createHash } from 'node:crypto';
import { CompiledQuery } from 'kysely';
import pg from 'pg';
import type { EntityManager } from '@mikro-orm/postgresql';

/**
 * Runs one parameterised statement ($1, $2 …) through the EntityManager's Kysely instance
 * (`em.getKysely()`, MikroORM's documented raw access): inside the EntityManager's transaction when
 * it has one, else on a pooled connection. Used on the hot append and log-read paths, where
 * MikroORM's `execute` would inline every parameter as a literal. For a statement that must run
 * outside `em`'s transaction, pass `em.fork()`: a fork is bound to the pool.
 *
 * A statement runs as a named prepared statement (see `prepared`) unless `planEachCall` is set: the
 * callers build their text from the shape of a request only, never from its values, so the set of
 * texts stays small. Set `planEachCall` where the best plan depends on the values (how rare a filtered
 * value is, whose streams a reader sees): a prepared statement settles on one generic plan for all.
 */
export async function query<Row>(em: EntityManager, sql: string, params: readonly unknown[] = [], options: { planEachCall?: boolean } = {}): Promise<Row[]> {
  const result = await em.getKysely().executeQuery(CompiledQuery.raw(options.planEachCall ? sql : prepared(sql), [...params]));
  return result.rows as Row[];
}

/**
 * Marks a statement to run as a named prepared statement (see NamedStatementClient): PostgreSQL then
 * parses it once per connection and, once its plans prove alike, plans it once too, where an unnamed
 * statement is parsed and planned on every call. The name travels in the text as a leading comment,
 * so the mark survives Kysely and MikroORM's transactions unchanged and the statement runs on
 * whichever connection `em` holds. The name is a hash of the text, so one name always means one text.
 *
 * Each name costs every pooled connection a parsed statement and a plan cache entry, so only a
 * bounded set of shapes is named: texts built from a filter's shape are remembered up to
 * MAX_NAMED_SHAPES, and past that run unnamed as before.
 */
export function prepared(text: string): string {
  const known = preparedTexts.get(text);
  if (known !== undefined) return known;
  if (preparedTexts.size >= MAX_NAMED_SHAPES) return text;
  const name = `es_${createHash('sha1').update(text).digest('base64url').slice(0, 20)}`;
  const marked = `${NAME_MARK}${name} */ ${text}`;
  preparedTexts.set(text, marked);
  return marked;
}

const NAME_MARK = '/* prepared:';
const MAX_NAMED_SHAPES = 512;
const preparedTexts = new Map<string, string>();

/**
 * A pg client that sends a `prepared` statement by its name. PostgreSQL keeps a prepared statement
 * for the session, whatever the transaction around it does, and pg remembers per connection which
 * names it has parsed, so the second call on a connection sends only Bind and Execute. Everything
 * else (unmarked text, cursors, config objects) goes through as it is.
 */
export class NamedStatementClient extends pg.Client {
  override query(config: unknown, values?: unknown, callback?: unknown): any {
    if (typeof config === 'string' && config.startsWith(NAME_MARK) && (values === undefined || Array.isArray(values))) {
      const name = config.slice(NAME_MARK.length, config.indexOf(' */', NAME_MARK.length));
      return (super.query as (config: unknown, callback?: unknown) => unknown)({ name, text: config, values }, callback);
    }
    return (super.query as (config: unknown, values?: unknown, callback?: unknown) => unknown)(config, values, callback);
  }
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
