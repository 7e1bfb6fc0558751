import { defineEntity, p } from '@mikro-orm/core';

/**
 * The `events` table as MikroORM sees it. Appends and commit-ordered reads use SQL on MikroORM's own
 * connection (one statement each, see append.ts and read.ts); this entity exists so the ORM knows the
 * whole schema and so ad-hoc tooling can query the log.
 */
export const EventRecord = defineEntity({
  name: 'EventRecord',
  tableName: 'events',
  properties: {
    globalPosition: p.bigint('string').primary().fieldName('global_position'),
    transactionId: p.string().columnType('xid8').fieldName('transaction_id'),
    eventId: p.uuid().unique().fieldName('event_id'),
    streamId: p.text().fieldName('stream_id'),
    streamType: p.text().fieldName('stream_type'),
    streamVersion: p.integer().fieldName('stream_version'),
    eventType: p.text().fieldName('event_type'),
    data: p.json<Record<string, unknown>>(),
    metadata: p.json<Record<string, unknown>>(),
    recordedAt: p.datetime().columnType('timestamptz').fieldName('recorded_at'),
  },
});
