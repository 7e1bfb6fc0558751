import { defineEntity, p } from '@mikro-orm/core';

/**
 * The `commands` table: one row per command run with a client-chosen `commandId`, written in the
 * append's transaction (see idempotency.ts, which reads and writes it with SQL on the hot path).
 */
export const CommandRecord = defineEntity({
  name: 'CommandRecord',
  tableName: 'commands',
  properties: {
    commandId: p.text().primary(),
    commandName: p.text(),
    streamId: p.text(),
    streamType: p.text(),
    /** SHA-256 of what the command asked for, to tell a replay from a reused id. */
    contentHash: p.text(),
    eventIds: p.array<string>().columnType('uuid[]'),
    streamVersion: p.integer(),
    recordedAt: p.datetime().columnType('timestamptz'),
  },
});
