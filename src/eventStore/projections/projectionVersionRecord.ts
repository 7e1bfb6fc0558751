import { defineEntity, p } from '@mikro-orm/core';

/** Mirrors the projection_versions migration so the ORM knows the whole schema; written in SQL by rebuilds and at start. */
export const ProjectionVersionRecord = defineEntity({
  name: 'ProjectionVersion',
  tableName: 'projection_versions',
  properties: {
    name: p.text().primary(),
    version: p.integer(),
    rebuiltAt: p.datetime().columnType('timestamptz').nullable(),
    rebuiltEvents: p.bigint('number').nullable(),
    rebuildSeconds: p.double().nullable(),
    writePauseMs: p.double().nullable(),
  },
});
