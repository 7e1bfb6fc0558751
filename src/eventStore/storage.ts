import type { EntitySchema, MigrationObject } from '@mikro-orm/core';
import { CommandRecord } from './commands/commandRecord.ts';
import { EventRecord } from './log/eventRecord.ts';
import { Migration20261123000000_event_store } from './migrations/Migration20261123000000_event_store.ts';
import { Migration20261123020000_history_indexes } from './migrations/Migration20261123020000_history_indexes.ts';
import { Migration20261123020100_commands } from './migrations/Migration20261123020100_commands.ts';
import { Migration20261201000000_stream_readers } from './migrations/Migration20261201000000_stream_readers.ts';
import { StreamReaderRecord } from './access/streamReaderRecord.ts';
import { LogRebaseRecord } from './log/logRebaseRecord.ts';
import type { StoredPositionColumns } from './log/rebase.ts';
import { Migration20261202050000_log_rebases } from './migrations/Migration20261202050000_log_rebases.ts';

/** The event store's own tables: the log, the idempotency record of commands, who may read each stream, and the log's re-bases after restores. */
export const eventStoreEntities: readonly EntitySchema<any, any>[] = [EventRecord, CommandRecord, StreamReaderRecord, LogRebaseRecord];

/** Its migrations, in order; they run before any module's. */
export const eventStoreMigrations: readonly MigrationObject[] = [
  { name: 'Migration20261123000000_event_store', class: Migration20261123000000_event_store },
  { name: 'Migration20261123020000_history_indexes', class: Migration20261123020000_history_indexes },
  { name: 'Migration20261123020100_commands', class: Migration20261123020100_commands },
  { name: 'Migration20261201000000_stream_readers', class: Migration20261201000000_stream_readers },
  { name: 'Migration20261202050000_log_rebases', class: Migration20261202050000_log_rebases },
];

/**
 * Every table besides `events` that stores log positions (a checkpoint, say), as its transaction
 * id and global position columns. `npm run db:after-restore` rewrites the positions of the events
 * it moves in these tables too, in the same transaction; a table that stores positions and is not
 * listed here would be left naming ids that no event has any more. See docs/evolving.md.
 */
export const storedPositions: readonly StoredPositionColumns[] = [];
