import { defineEntity, p } from '@mikro-orm/core';

/** Mirrors the processors migration so the ORM knows the whole schema; written only in SQL (see processorStore.ts). */
export const ProcessorCheckpointRecord = defineEntity({
  name: 'ProcessorCheckpoint',
  tableName: 'processor_checkpoints',
  properties: {
    name: p.text().primary(),
    transactionId: p.string().columnType('xid8').fieldName('transaction_id'),
    globalPosition: p.bigint('string').fieldName('global_position'),
    epoch: p.bigint('string'),
    status: p.text(),
    owner: p.text().nullable(),
    claimedAt: p.datetime().columnType('timestamptz').nullable().fieldName('claimed_at'),
    updatedAt: p.datetime().columnType('timestamptz').fieldName('updated_at'),
  },
});

export const ProcessorParkedRecord = defineEntity({
  name: 'ProcessorParked',
  tableName: 'processor_parked',
  indexes: [{ name: 'processor_parked_order_idx', properties: ['processor', 'transactionId', 'globalPosition'] }],
  properties: {
    processor: p.text().primary(),
    eventId: p.uuid().primary().fieldName('event_id'),
    transactionId: p.string().columnType('xid8').fieldName('transaction_id'),
    globalPosition: p.bigint('string').fieldName('global_position'),
    error: p.text(),
    attempts: p.integer(),
    firstFailedAt: p.datetime().columnType('timestamptz').fieldName('first_failed_at'),
    lastFailedAt: p.datetime().columnType('timestamptz').fieldName('last_failed_at'),
    status: p.text(),
    resolvedAt: p.datetime().columnType('timestamptz').nullable().fieldName('resolved_at'),
  },
});
