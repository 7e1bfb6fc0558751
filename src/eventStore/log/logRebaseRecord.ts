import { defineEntity, p } from '@mikro-orm/core';

/** Mirrors the log_rebases migration so the ORM knows the whole schema; written only by the repair in rebase.ts. */
export const LogRebaseRecord = defineEntity({
  name: 'LogRebase',
  tableName: 'log_rebases',
  properties: {
    rebaseId: p.integer().primary().autoincrement().generated('identity').fieldName('rebase_id'),
    rebasedAt: p.datetime().columnType('timestamptz').defaultRaw('now()').fieldName('rebased_at'),
    eventsRebased: p.bigint('string').fieldName('events_rebased'),
    eventsAppendedHere: p.bigint('string').fieldName('events_appended_here'),
    lastGlobalPosition: p.bigint('string').fieldName('last_global_position'),
    firstTransactionId: p.string().columnType('xid8').fieldName('first_transaction_id'),
    lastTransactionId: p.string().columnType('xid8').fieldName('last_transaction_id'),
    transactionIdsConsumed: p.bigint('string').fieldName('transaction_ids_consumed'),
  },
});
