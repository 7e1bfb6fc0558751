import { MikroORM } from '@mikro-orm/postgresql';
import type { EntitySchema } from '@mikro-orm/core';
import { Migrator } from '@mikro-orm/migrations';
import { Migration20261123000000_event_store } from '../eventStore/migrations/Migration20261123000000_event_store.ts';
import { Migration20261123020000_history_indexes } from '../eventStore/migrations/Migration20261123020000_history_indexes.ts';
import { Migration20261123020100_commands } from '../eventStore/migrations/Migration20261123020100_commands.ts';
import { Migration20261123030000_users } from '../modules/user/migrations/Migration20261123030000_users.ts';
import { Migration20261123040000_counters } from '../modules/counter/migrations/Migration20261123040000_counters.ts';

/** Every migration in order. Listed explicitly so start-up needs no file globbing or TS loader. */
export const migrations = [
  { name: 'Migration20261123000000_event_store', class: Migration20261123000000_event_store },
  { name: 'Migration20261123020000_history_indexes', class: Migration20261123020000_history_indexes },
  { name: 'Migration20261123020100_commands', class: Migration20261123020100_commands },
  { name: 'Migration20261123030000_users', class: Migration20261123030000_users },
  { name: 'Migration20261123040000_counters', class: Migration20261123040000_counters },
];

export type Orm = MikroORM;

export async function openOrm(options: { url: string; poolSize: number; entities: readonly EntitySchema<any, any>[] }): Promise<Orm> {
  return await MikroORM.init({
    clientUrl: options.url,
    entities: [...options.entities],
    extensions: [Migrator],
    migrations: { migrationsList: migrations, snapshot: false, silent: true, transactional: true },
    pool: { min: 0, max: options.poolSize },
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
