import type { EntitySchema, MigrationObject } from '@mikro-orm/core';
import { CommandRecord } from './commands/commandRecord.ts';
import { EventRecord } from './log/eventRecord.ts';
import { Migration20261123000000_event_store } from './migrations/Migration20261123000000_event_store.ts';
import { Migration20261123020000_history_indexes } from './migrations/Migration20261123020000_history_indexes.ts';
import { Migration20261123020100_commands } from './migrations/Migration20261123020100_commands.ts';
import { Migration20261201000000_stream_readers } from './migrations/Migration20261201000000_stream_readers.ts';
import { Migration20261202060000_drop_stream_commit_index } from './migrations/Migration20261202060000_drop_stream_commit_index.ts';
import { Migration20261202080000_reader_stream_types } from './migrations/Migration20261202080000_reader_stream_types.ts';
import { EventStreamTypeRecord, StreamReaderRecord } from './access/streamReaderRecord.ts';
import { Migration20261202010000_processors } from './migrations/Migration20261202010000_processors.ts';
import { Migration20261202020000_snapshots } from './migrations/Migration20261202020000_snapshots.ts';
import { Migration20261202030000_projection_versions } from './migrations/Migration20261202030000_projection_versions.ts';
import { SnapshotRecord } from './snapshots/snapshotRecord.ts';
import { ProjectionVersionRecord } from './projections/projectionVersionRecord.ts';
import { ProcessorCheckpointRecord, ProcessorParkedRecord } from './processors/processorRecords.ts';
import { LogRebaseRecord } from './log/logRebaseRecord.ts';
import type { StoredPositionColumns } from './log/rebase.ts';
import { Migration20261202050000_log_rebases } from './migrations/Migration20261202050000_log_rebases.ts';

/**
 * The event store's own tables: the log, the idempotency record of commands, who may read each stream,
 * processors' checkpoints and parked events, aggregate snapshots, the projections' built versions, and
 * the log's re-bases after restores.
 */
export const eventStoreEntities: readonly EntitySchema<any, any>[] = [
  EventRecord,
  CommandRecord,
  StreamReaderRecord,
  EventStreamTypeRecord,
  ProcessorCheckpointRecord,
  ProcessorParkedRecord,
  SnapshotRecord,
  ProjectionVersionRecord,
  LogRebaseRecord,
];

/** Its migrations, in order; they run before any module's. */
export const eventStoreMigrations: readonly MigrationObject[] = [
  { name: 'Migration20261123000000_event_store', class: Migration20261123000000_event_store },
  { name: 'Migration20261123020000_history_indexes', class: Migration20261123020000_history_indexes },
  { name: 'Migration20261123020100_commands', class: Migration20261123020100_commands },
  { name: 'Migration20261201000000_stream_readers', class: Migration20261201000000_stream_readers },
  { name: 'Migration20261202010000_processors', class: Migration20261202010000_processors },
  { name: 'Migration20261202020000_snapshots', class: Migration20261202020000_snapshots },
  { name: 'Migration20261202030000_projection_versions', class: Migration20261202030000_projection_versions },
  { name: 'Migration20261202050000_log_rebases', class: Migration20261202050000_log_rebases },
  { name: 'Migration20261202060000_drop_stream_commit_index', class: Migration20261202060000_drop_stream_commit_index },
  { name: 'Migration20261202080000_reader_stream_types', class: Migration20261202080000_reader_stream_types },
];

/**
 * Every table besides `events` that stores log positions (a checkpoint, say), as its transaction
 * id and global position columns. `npm run db:after-restore` rewrites the positions of the events
 * it moves in these tables too, in the same transaction; a table that stores positions and is not
 * listed here would be left naming ids that no event has any more. See docs/evolving.md.
 */
export const storedPositions: readonly StoredPositionColumns[] = [
  { table: 'processor_checkpoints', transactionIdColumn: 'transaction_id', globalPositionColumn: 'global_position' },
  { table: 'processor_parked', transactionIdColumn: 'transaction_id', globalPositionColumn: 'global_position' },
];
