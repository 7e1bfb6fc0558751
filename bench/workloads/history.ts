import pg from 'pg';
import { encodePosition } from '../../src/eventStore/log/position.ts';
import { EVENT_COLUMNS } from '../../src/eventStore/log/recorded.ts';
import { GraphQLHttpClient } from '../lib/http.ts';
import { benchToken } from '../lib/server.ts';
import { Samples, summarize, type LatencySummary } from '../lib/stats.ts';

export type HistoryFilter = { streamId?: string; streamType?: string; types?: string[] };
/** `as`: a customer's subject, for pages read with that customer's token (and, raw, their readers). */
export type HistoryQuery = { after: { transactionId: string; globalPosition: string }; filter?: HistoryFilter; as?: string };
export type FilterName = 'none' | 'streamId' | 'streamType' | 'types' | 'customer' | 'customerCarts' | 'customerCheckouts';
export const FILTERS: FilterName[] = ['none', 'streamId', 'streamType', 'types', 'customer', 'customerCarts', 'customerCheckouts'];
/** The cells read with the customer's token: their readable streams are a few carts among everyone's and every counter. */
export const CUSTOMER_FILTERS: ReadonlySet<FilterName> = new Set(['customer', 'customerCarts', 'customerCheckouts']);

/** The customer whose token reads the `customer` cell: the preload gives them 90 carts, and every counter is theirs to see. */
export const BENCH_CUSTOMER = 'customer-7';
/** The principals that customer counts as (see principalsOf): what the raw limit filters on. */
const customerReaders = (subject: string) => ['authenticated', `sub:${subject}`, 'role:customer'];

/**
 * `count` random starting points per filter, all in the last 90 % of the log ("deep"): no filter,
 * the stream of the event at that point, the rarer stream type (Counter, 10 % of the preload) and
 * a rarer event type (CartCheckedOut, 9 %), and everything one customer may see, read with their token,
 * unfiltered, filtered to carts and filtered to checkouts (the filters under which a customer's
 * streams are rare among the filter's events).
 */
export async function historyQueries(url: string, count: number): Promise<Record<FilterName, HistoryQuery[]>> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows: [bounds] } = await client.query<{ max: string }>('select max(global_position)::text as max from events');
    const max = Number(bounds!.max);
    const wanted = Array.from({ length: count * FILTERS.length }, () => Math.floor(max * 0.1 + Math.random() * max * 0.9));
    const { rows } = await client.query<{ t: string; g: string; stream_id: string }>(
      'select transaction_id::text as t, global_position::text as g, stream_id from events where global_position = any($1::bigint[])', [wanted]);
    const queries = Object.fromEntries(FILTERS.map((name) => [name, []])) as unknown as Record<FilterName, HistoryQuery[]>;
    rows.forEach((row, index) => {
      const name = FILTERS[index % FILTERS.length]!;
      const after = { transactionId: row.t, globalPosition: row.g };
      const filter: HistoryFilter | undefined =
        name === 'streamId' ? { streamId: row.stream_id }
        : name === 'streamType' ? { streamType: 'Counter' }
        : name === 'customerCarts' ? { streamType: 'Cart' }
        : name === 'types' || name === 'customerCheckouts' ? { types: ['CartCheckedOut'] }
        : undefined;
      queries[name].push({ after, ...(filter ? { filter } : {}), ...(CUSTOMER_FILTERS.has(name) ? { as: BENCH_CUSTOMER } : {}) });
    });
    return queries;
  } finally {
    await client.end();
  }
}

export type HistoryShape = { field: string; document: string };

/** Finds the history query on the schema (`Query.events`), or says why there is none. */
export async function detectHistoryQuery(apiUrl: string): Promise<HistoryShape | { missing: string }> {
  const http = new GraphQLHttpClient(apiUrl, 1);
  try {
    const response = await http.request(`{ __schema { queryType { fields { name args { name } type { kind name ofType { kind name ofType { kind name } } } } } } }`);
    const fields = response.data?.__schema?.queryType?.fields as { name: string; args: { name: string }[]; type: any }[] | undefined;
    const field = fields?.find((f) => f.name === 'events');
    if (!field) return { missing: 'the schema has no Query.events yet' };
    const args = new Set(field.args.map((a) => a.name));
    if (!args.has('first') || !args.has('after')) return { missing: `Query.events takes (${[...args].join(', ')}), not first/after` };
    let type = field.type;
    while (type.ofType) type = type.ofType;
    const typeInfo = await http.request(`query($name: String!) { __type(name: $name) { fields { name } } }`, { name: type.name });
    const typeFields = new Set<string>((typeInfo.data?.__type?.fields ?? []).map((f: { name: string }) => f.name));
    const selection = 'eventId position type streamId version recordedAt';
    const filterArg = args.has('filter') ? ', filter: $filter' : '';
    const body = typeFields.has('edges') ? `edges { cursor node { ${selection} } } pageInfo { endCursor hasNextPage }` : selection;
    return {
      field: 'events',
      document: `query History($after: String${args.has('filter') ? ', $filter: EventFilter' : ''}) { events(first: 100, after: $after${filterArg}) { ${body} } }`,
    };
  } finally {
    http.close();
  }
}

/** Latency of each history query through the API, one at a time over one keep-alive connection. */
export async function graphqlHistoryCell(apiUrl: string, shape: HistoryShape, queries: HistoryQuery[]): Promise<LatencySummary & { errors: number; firstError?: string }> {
  const customer = queries[0]?.as;
  const http = customer ? new GraphQLHttpClient(apiUrl, 1, await benchToken(customer, ['customer'])) : new GraphQLHttpClient(apiUrl, 1);
  const samples = new Samples();
  let errors = 0;
  let firstError: string | undefined;
  try {
    for (const q of queries.slice(0, 20)) await http.request(shape.document, variables(q)); // warm-up
    for (const q of queries) {
      const started = performance.now();
      const response = await http.request(shape.document, variables(q));
      samples.push(performance.now() - started);
      if (response.errors?.length || !response.data?.events) {
        errors++;
        firstError ??= JSON.stringify(response.errors ?? response.data);
      }
    }
  } finally {
    http.close();
  }
  return { ...summarize(samples.values()), errors, ...(firstError ? { firstError } : {}) };
}

function variables(q: HistoryQuery) {
  return {
    after: encodePosition({ transactionId: BigInt(q.after.transactionId), globalPosition: BigInt(q.after.globalPosition) }),
    ...(q.filter ? { filter: q.filter } : {}),
  };
}

/**
 * The raw-SQL limit for a history page: the statement readLog issues (keyset on commit order below
 * the xmin horizon, same filters, 100 rows), through bare node `pg` on one connection.
 */
export async function rawHistoryCell(url: string, queries: HistoryQuery[]): Promise<LatencySummary> {
  const client = new pg.Client({ connectionString: url, application_name: 'bench-raw-history' });
  await client.connect();
  const run = (q: HistoryQuery) => {
    const params: unknown[] = [q.after.transactionId, q.after.globalPosition, 100];
    const conditions = ['(transaction_id, global_position) > ($1::text::xid8, $2::bigint)', 'transaction_id < pg_snapshot_xmin(pg_current_snapshot())'];
    if (q.filter?.streamId !== undefined) conditions.push(`stream_id = $${params.push(q.filter.streamId)}`);
    if (q.filter?.streamType !== undefined) conditions.push(`stream_type = $${params.push(q.filter.streamType)}`);
    if (q.filter?.types !== undefined) conditions.push(`event_type = any($${params.push(q.filter.types)}::text[])`);
    if (q.as !== undefined) conditions.push(`stream_id in (select stream_id from stream_readers where reader = any($${params.push(customerReaders(q.as))}::text[]))`);
    return client.query(`select ${EVENT_COLUMNS} from events where ${conditions.join(' and ')} order by transaction_id, global_position limit $3`, params);
  };
  const samples = new Samples();
  try {
    for (const q of queries.slice(0, 20)) await run(q);
    for (const q of queries) {
      const started = performance.now();
      await run(q);
      samples.push(performance.now() - started);
    }
  } finally {
    await client.end();
  }
  return summarize(samples.values());
}

/** The same pages through the library's readLog, for when the API has no history query yet. */
export async function libraryHistoryCell(orm: import('../../src/db/orm.ts').Orm, queries: HistoryQuery[]): Promise<LatencySummary> {
  const { readLog } = await import('../../src/eventStore/log/read.ts');
  const { upcasters } = (await import('../../src/app/composition.ts')).compose((await import('../../src/app/modules.ts')).modules);
  const run = (q: HistoryQuery) =>
    readLog(orm.em.fork(), upcasters, { after: { transactionId: BigInt(q.after.transactionId), globalPosition: BigInt(q.after.globalPosition) }, limit: 100, ...(q.filter ? { filter: q.filter } : {}) });
  const samples = new Samples();
  for (const q of queries.slice(0, 20)) await run(q);
  for (const q of queries) {
    const started = performance.now();
    await run(q);
    samples.push(performance.now() - started);
  }
  return summarize(samples.values());
}
