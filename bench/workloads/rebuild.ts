import type { Orm } from '../../src/db/orm.ts';
import { silentLogger } from '../../src/core/logger.ts';
import { rebuildWithLock, type RebuildResult } from '../../src/eventStore/projections/rebuild.ts';
import { cartProjection } from '../../src/modules/cart/projection.ts';
import { GraphQLHttpClient } from '../lib/http.ts';
import { Samples, summarize, type LatencySummary } from '../lib/stats.ts';
import { startWriters } from './catchUp.ts';
import { compose } from '../../src/app/composition.ts';
import { modules } from '../../src/app/modules.ts';

const { upcasters } = compose(modules);

export type CartQueryResult = { latency: LatencySummary; errors: number; misses: number };
export type RebuildCellResult = { rebuild: RebuildResult; eventsPerS: number; queries: CartQueryResult; appendedDuringRebuild: number; writerErrors: number };

const CART_QUERY = 'query Cart($id: ID!) { cart(id: $id) { id itemCount version } }';

/** The preloaded carts (bench/lib/preload.ts): streams `cart-<n>`, where every tenth n is a counter instead. */
function randomCartId(logEvents: number): string {
  const streams = Math.floor(logEvents / 10);
  for (;;) {
    const n = Math.floor(Math.random() * streams);
    if (n % 10 !== 9) return `cart-${n}`;
  }
}

/**
 * `concurrency` clients asking for `cart(id)` of random preloaded carts over HTTP until `stop`
 * resolves. A cart that is not there (null) counts as a miss: the read model must be whole throughout.
 */
export async function cartQueries(apiUrl: string, logEvents: number, concurrency: number, stop: Promise<unknown>): Promise<CartQueryResult> {
  const client = new GraphQLHttpClient(apiUrl, concurrency);
  const latencies = new Samples();
  let errors = 0;
  let misses = 0;
  let running = true;
  void stop.finally(() => (running = false));
  try {
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (running) {
          const started = performance.now();
          const response = await client.request(CART_QUERY, { id: randomCartId(logEvents) }).catch(() => undefined);
          latencies.push(performance.now() - started);
          if (!response || response.errors) errors++;
          else if (!response.data?.cart) misses++;
        }
      }),
    );
  } finally {
    client.close();
  }
  return { latency: summarize(latencies.values()), errors, misses };
}

/**
 * Rebuilds the carts read model from the preloaded log (library call, as `npm run rebuild` does)
 * while `writers` writers append cart events through the command handler and `concurrency` clients
 * query `cart(id)` through the API.
 */
export async function rebuildCell(options: { orm: Orm; databaseUrl: string; apiUrl: string; logEvents: number; writers: number; concurrency: number; prefix: string }): Promise<RebuildCellResult> {
  const writers = await startWriters(options.databaseUrl, options.writers, options.prefix);
  let finished!: () => void;
  const done = new Promise<void>((resolve) => (finished = resolve));
  const queries = cartQueries(options.apiUrl, options.logEvents, options.concurrency, done);
  let rebuild: RebuildResult;
  try {
    rebuild = await rebuildWithLock({ orm: options.orm, databaseUrl: options.databaseUrl, projection: cartProjection, upcasters, logger: silentLogger });
  } finally {
    finished();
  }
  const report = await writers.stop();
  return { rebuild, eventsPerS: rebuild.done / rebuild.elapsedSeconds, queries: await queries, appendedDuringRebuild: report.appended, writerErrors: report.errors };
}
