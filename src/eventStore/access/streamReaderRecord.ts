import { defineEntity, p } from '@mikro-orm/core';

/** Mirrors the stream_readers migrations so the ORM knows the whole schema; written only in SQL by the append. */
export const StreamReaderRecord = defineEntity({
  name: 'StreamReader',
  tableName: 'stream_readers',
  // A reader's streams by type: what history counts and drives a caller's page from (migration 20261202080000).
  indexes: [{ name: 'stream_readers_reader_type_idx', properties: ['reader', 'streamType', 'streamId'] }],
  properties: {
    streamId: p.text().primary(),
    reader: p.text().primary(),
    /** '' when not known (recorded by an earlier release); see migration 20261202080000. */
    streamType: p.text().fieldName('stream_type').default(''),
  },
});

/** Mirrors event_stream_types: which stream types each event type has been appended to (a pair may repeat). */
export const EventStreamTypeRecord = defineEntity({
  name: 'EventStreamType',
  tableName: 'event_stream_types',
  indexes: [{ name: 'event_stream_types_pair_idx', properties: ['eventType', 'streamType'] }],
  properties: {
    id: p.bigint('string').primary().autoincrement().generated('identity'),
    eventType: p.text().fieldName('event_type'),
    streamType: p.text().fieldName('stream_type'),
  },
});
