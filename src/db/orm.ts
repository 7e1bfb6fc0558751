import { MikroORM } from '@mikro-orm/postgresql';
import type { EntitySchema, MigrationObject } from '@mikro-orm/core';
import { Migrator } from '@mikro-orm/migrations';
import { NamedStatementClient } from './sql.ts';

export type Orm = MikroORM;

/** What the ORM maps and migrates: the event store's tables and every module's. */
export type OrmSchema = { readonly entities: readonly EntitySchema<any, any>[]; readonly migrations: readonly MigrationObject[] };

export async function openOrm(options: { url: string; poolSize: number } & OrmSchema): Promise<Orm> {
  return await MikroORM.init({
    clientUrl: options.url,
    entities: [...options.entities],
    extensions: [Migrator],
    // Listed explicitly so start-up needs no file globbing or TS loader.
    migrations: { migrationsList: [...options.migrations], snapshot: false, silent: true, transactional: true },
    pool: { min: 0, max: options.poolSize },
    // Handed to pg's pool: runs statements marked with `prepared` (src/db/sql.ts) by name.
    driverOptions: { Client: NamedStatementClient },
    // Every request forks its own EntityManager; a stray global use is a bug we want to hear about.
    allowGlobalContext: false,
    debug: false,
  });
}

/** Applies pending migrations; returns the names of those applied. */
export async function migrate(orm: Orm): Promise<string[]> {
  const applied = await orm.migrator.up();
  return applied.map((m) => m.name);
}
