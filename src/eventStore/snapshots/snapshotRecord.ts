import { defineEntity, p } from '@mikro-orm/core';

/** Mirrors the snapshots migration so the ORM knows the whole schema; read and written only in SQL (see snapshots.ts). */
export const SnapshotRecord = defineEntity({
  name: 'Snapshot',
  tableName: 'snapshots',
  properties: {
    streamId: p.text().primary(),
    snapshotVersion: p.integer().primary(),
    streamVersion: p.integer().primary(),
    streamType: p.text(),
    state: p.json<unknown>().columnType('jsonb'),
    takenAt: p.datetime().columnType('timestamptz').defaultRaw('now()'),
  },
});
