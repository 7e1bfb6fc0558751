import { defineEntity, p } from '@mikro-orm/core';

/**
 * The `events` table as MikroORM sees it. Appends and commit-ordered reads use SQL on MikroORM's own
 * connection (one statement each, see append.ts and read.ts); this entity exists so the ORM knows the
 * whole schema and so ad-hoc tooling can query the log.
 */
export const EventRecord = defineEntity({
  name: 'EventRecord',
  tableName: 'events',
  // Mirrors migrations/: a test checks that the ORM's schema diff against the migrated database is empty.
  indexes: [
    { name: 'events_commit_order_idx', properties: ['transactionId', 'globalPosition'] },
    // History filters page in commit order within each filter (migration 20261123020000); one
    // stream pages on the unique (stream_id, stream_version) key (migration 20261202060000).
    { name: 'events_stream_type_commit_idx', properties: ['streamType', 'transactionId', 'globalPosition'] },
    { name: 'events_event_type_commit_idx', properties: ['eventType', 'transactionId', 'globalPosition'] },
    { name: 'events_correlation_commit_idx', expression: `create index "events_correlation_commit_idx" on "events" ((metadata->>'correlationId'), "transaction_id", "global_position")` },
    { name: 'events_actor_commit_idx', expression: `create index "events_actor_commit_idx" on "events" ((metadata->>'actor'), "transaction_id", "global_position")` },
    { name: 'events_recorded_at_idx', properties: ['recordedAt'] },
  ],
  uniques: [{ name: 'events_stream_version_unique', properties: ['streamId', 'streamVersion'] }],
  checks: [{ name: 'events_stream_version_check', expression: 'stream_version > 0' }],
  properties: {
    globalPosition: p.bigint('string').primary().autoincrement().generated('identity').fieldName('global_position'),
    transactionId: p.string().columnType('xid8').defaultRaw('pg_current_xact_id()').fieldName('transaction_id'),
    eventId: p.uuid().unique('events_event_id_unique').fieldName('event_id'),
    streamId: p.text().fieldName('stream_id'),
    streamType: p.text().fieldName('stream_type'),
    streamVersion: p.integer().fieldName('stream_version'),
    eventType: p.text().fieldName('event_type'),
    data: p.json<Record<string, unknown>>(),
    metadata: p.json<Record<string, unknown>>().defaultRaw(`'{}'::jsonb`),
    recordedAt: p.datetime().columnType('timestamptz').defaultRaw('now()').fieldName('recorded_at'),
  },
});
