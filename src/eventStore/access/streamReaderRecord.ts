import { defineEntity, p } from '@mikro-orm/core';

/** Mirrors the stream_readers migration so the ORM knows the whole schema; written only in SQL by the append. */
export const StreamReaderRecord = defineEntity({
  name: 'StreamReader',
  tableName: 'stream_readers',
  indexes: [{ name: 'stream_readers_reader_idx', properties: ['reader', 'streamId'] }],
  properties: {
    streamId: p.text().primary(),
    reader: p.text().primary(),
  },
});
