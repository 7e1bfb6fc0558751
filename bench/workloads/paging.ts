import pg from 'pg';
import { HISTORY_PAGE } from '../../src/graphql/history.ts';
import { GraphQLHttpClient } from '../lib/http.ts';
import { Samples, round, summarize, type LatencySummary } from '../lib/stats.ts';

/**
 * Workload 7: read the first `total` events of the log from its start, page after page, one
 * request at a time over one keep-alive connection, as a client exporting or rebuilding from the
 * log would. Every system reads the same rows with the same fields.
 */

export type PagingResult = { events: number; pages: number; serverCpuMsPerPage?: number; seconds: number; eventsPerS: number; pageMs: LatencySummary; pageSize: number; errors: number; firstError?: string };

/** What a client asks for; the product cuts larger pages to its maximum. */
export const REQUESTED_PAGE = 1000;
/** The page the product actually serves: the smaller of the two. */
export const PRODUCT_PAGE = Math.min(REQUESTED_PAGE, HISTORY_PAGE.maxSize);

const PRODUCT_QUERY = `query Page($after: String) {
  events(first: ${PRODUCT_PAGE}, after: $after) {
    edges { node { eventId streamId version type recordedAt data } }
    pageInfo { endCursor hasNextPage }
  }
}`;
const POSTGRAPHILE_QUERY = `query Page($after: Cursor) {
  allEvents(first: ${REQUESTED_PAGE}, after: $after, orderBy: PRIMARY_KEY_ASC) {
    edges { node { eventId streamId streamVersion eventType recordedAt data } }
    pageInfo { endCursor hasNextPage }
  }
}`;

/** Pages read before the measured window. */
export const PAGING_WARMUP_PAGES = 3;

type Page = { count: number; next: string | undefined };

async function readAll(total: number, pageSize: number, page: (after: string | undefined) => Promise<Page>): Promise<PagingResult> {
  // Warm-up, not counted: a few pages from the start (plans, caches, JIT).
  let after: string | undefined;
  for (let i = 0; i < PAGING_WARMUP_PAGES; i++) after = (await page(after)).next;
  const samples = new Samples();
  let events = 0;
  let pages = 0;
  let errors = 0;
  let firstError: string | undefined;
  after = undefined;
  const started = performance.now();
  while (events < total) {
    const pageStarted = performance.now();
    try {
      const { count, next } = await page(after);
      samples.push(performance.now() - pageStarted);
      events += count;
      pages++;
      if (!next || count === 0) break;
      after = next;
    } catch (error) {
      errors++;
      firstError ??= error instanceof Error ? error.message : String(error);
      break;
    }
  }
  const seconds = (performance.now() - started) / 1000;
  return { events, pages, seconds: round(seconds, 3), eventsPerS: round(events / seconds, 1), pageMs: summarize(samples.values()), pageSize, errors, ...(firstError ? { firstError } : {}) };
}

function graphqlPager(http: GraphQLHttpClient, query: string, field: string) {
  return async (after: string | undefined): Promise<Page> => {
    const response = await http.request(query, after ? { after } : {});
    const connection = response.data?.[field];
    if (response.errors?.length || !connection) throw new Error(`${field} failed: ${JSON.stringify(response.errors ?? response.data)}`);
    return { count: connection.edges.length, next: connection.pageInfo.hasNextPage ? connection.pageInfo.endCursor : undefined };
  };
}

/** The product: `events(first, after)` through the API, as an administrator. */
export async function productPagingCell(apiUrl: string, total: number): Promise<PagingResult> {
  const http = new GraphQLHttpClient(apiUrl, 1);
  try {
    return await readAll(total, PRODUCT_PAGE, graphqlPager(http, PRODUCT_QUERY, 'events'));
  } finally {
    http.close();
  }
}

/** PostGraphile: its generated `allEvents` connection in primary-key order, pages of 1,000. */
export async function postgraphilePagingCell(apiUrl: string, total: number): Promise<PagingResult> {
  const http = new GraphQLHttpClient(apiUrl, 1);
  try {
    return await readAll(total, REQUESTED_PAGE, graphqlPager(http, POSTGRAPHILE_QUERY, 'allEvents'));
  } finally {
    http.close();
  }
}

const RAW_PAGE = `
  select event_id, stream_id, stream_version, event_type, recorded_at, data, transaction_id::text as t, global_position::text as g
  from events
  where (transaction_id, global_position) > ($1::text::xid8, $2::bigint) and transaction_id < pg_snapshot_xmin(pg_current_snapshot())
  order by transaction_id, global_position
  limit $3`;

/**
 * The raw limit: the product's keyset on commit order (the statement history pages with), named
 * and prepared, pages of 1,000, the same fields, through bare `pg` on one connection.
 */
export async function rawPagingCell(url: string, total: number): Promise<PagingResult> {
  const client = new pg.Client({ connectionString: url, application_name: 'bench-raw-paging' });
  await client.connect();
  try {
    return await readAll(total, REQUESTED_PAGE, async (after) => {
      const [t, g] = after ? after.split(':') : ['0', '0'];
      const { rows } = await client.query<{ t: string; g: string }>({ name: 'bench_raw_page', text: RAW_PAGE, values: [t, g, REQUESTED_PAGE] });
      const last = rows[rows.length - 1];
      return { count: rows.length, next: rows.length === REQUESTED_PAGE && last ? `${last.t}:${last.g}` : undefined };
    });
  } finally {
    await client.end();
  }
}
