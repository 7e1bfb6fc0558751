import { closedLoop, type LoopResult } from '../lib/loop.ts';
import { appendMix, cartEvent, eventMetadata, type Timing } from '../workloads/appendMix.ts';
import { importPeer } from './install.ts';

/**
 * Emmett's PostgreSQL event store used as a library in this process, as the product's command
 * handler is in workload 2: `appendToStream` of one event with the expected stream version (0 for
 * a new stream), each append its own transaction (Emmett opens one per call), on a pool of the
 * same size as the product's. Same mix as every append cell (see appendMix).
 */
export async function emmettAppendCell(url: string, concurrency: number, timing: Timing, poolSize: number): Promise<LoopResult> {
  const { getPostgreSQLEventStore } = await importPeer('@event-driven-io/emmett-postgresql');
  const { default: pg } = await importPeer('pg');
  const pool = new pg.Pool({ connectionString: url, max: poolSize, application_name: 'bench-emmett' });
  const store = getPostgreSQLEventStore(url, { connectionOptions: { pool }, schema: { autoMigration: 'CreateOrUpdate' } });
  try {
    await store.schema.migrate();
    return await closedLoop({
      ...timing,
      concurrency,
      client: appendMix('Cart', async (stream, first) => {
        const event = cartEvent(stream.id, first);
        await store.appendToStream(stream.id, [{ type: event.type, data: event.data, metadata: eventMetadata(event.type) }], { expectedStreamVersion: BigInt(stream.version) });
      }),
    });
  } finally {
    await store.close();
    await pool.end().catch(() => undefined);
  }
}
