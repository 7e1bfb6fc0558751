import type { EntityManager } from '@mikro-orm/postgresql';
import type { EntityName } from '@mikro-orm/core';

/** Adds a value to the statement's parameters and returns its placeholder, cast to `columnType`. */
export type Bind = (value: unknown, columnType: string) => string;

const quote = (identifier: string) => `"${identifier.replaceAll('"', '""')}"`;
const JSON_COLUMNS = new Set(['json', 'jsonb']);

/**
 * `INSERT … ON CONFLICT (pk) DO UPDATE` for one row of a MikroORM entity, built from the entity's
 * metadata (table, columns, column types), to run inside the append statement so that a command
 * writes its events and its read model in one round trip. `condition` guards it, e.g. on the append
 * having inserted anything.
 */
export function upsertSql(em: EntityManager, entity: EntityName<any>, row: Record<string, unknown>, bind: Bind, condition: string): string {
  const meta = em.getMetadata().get(entity);
  const columns: string[] = [];
  const values: string[] = [];
  for (const prop of meta.props) {
    if (prop.persist === false || !prop.fieldNames?.length || prop.formula) continue;
    const value = row[prop.name];
    if (value === undefined) continue;
    const columnType = prop.columnTypes[0]!;
    columns.push(quote(prop.fieldNames[0]!));
    values.push(bind(JSON_COLUMNS.has(columnType) && value !== null ? JSON.stringify(value) : value, columnType));
  }
  const keys = meta.primaryKeys.map((key) => quote(meta.properties[key]!.fieldNames[0]!));
  const updates = columns.filter((column) => !keys.includes(column)).map((column) => `${column} = excluded.${column}`);
  return (
    `insert into ${quote(meta.tableName)} (${columns.join(', ')}) select ${values.join(', ')} where ${condition} ` +
    `on conflict (${keys.join(', ')}) do ${updates.length > 0 ? `update set ${updates.join(', ')}` : 'nothing'}`
  );
}

/** `DELETE` of one row by its single-column primary key, guarded like upsertSql. */
export function deleteSql(em: EntityManager, entity: EntityName<any>, id: unknown, bind: Bind, condition: string): string {
  const meta = em.getMetadata().get(entity);
  const key = meta.properties[meta.primaryKeys[0]!]!;
  return `delete from ${quote(meta.tableName)} where ${quote(key.fieldNames[0]!)} = ${bind(id, key.columnTypes[0]!)} and ${condition}`;
}

/**
 * `INSERT … SELECT * FROM unnest(…)` of many rows of a MikroORM entity, one array parameter per
 * column: a rebuild's bulk load, as fast as a COPY for a few thousand rows and still one ordinary
 * statement on the entity's unqualified table (so the search path picks the table). Every row gives
 * every column, and no two rows share a key; `upsert` replaces rows that exist.
 */
export function insertRowsSql(
  em: EntityManager,
  entity: EntityName<any>,
  rows: readonly Record<string, unknown>[],
  bind: Bind,
  options: { upsert?: boolean } = {},
): string {
  const meta = em.getMetadata().get(entity);
  const columns: string[] = [];
  const arrays: string[] = [];
  for (const prop of meta.props) {
    if (prop.persist === false || !prop.fieldNames?.length || prop.formula) continue;
    const columnType = prop.columnTypes[0]!;
    const json = JSON_COLUMNS.has(columnType);
    columns.push(quote(prop.fieldNames[0]!));
    arrays.push(bind(rows.map((row) => {
      const value = row[prop.name] ?? null;
      return json && value !== null ? JSON.stringify(value) : value;
    }), `${columnType}[]`));
  }
  const insert = `insert into ${quote(meta.tableName)} (${columns.join(', ')}) select * from unnest(${arrays.join(', ')})`;
  if (!options.upsert) return insert;
  const keys = meta.primaryKeys.map((key) => quote(meta.properties[key]!.fieldNames[0]!));
  const updates = columns.filter((column) => !keys.includes(column)).map((column) => `${column} = excluded.${column}`);
  return `${insert} on conflict (${keys.join(', ')}) do ${updates.length > 0 ? `update set ${updates.join(', ')}` : 'nothing'}`;
}
