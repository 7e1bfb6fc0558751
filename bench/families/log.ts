import { openOrm } from '../../src/db/orm.ts';
import { compose } from '../../src/app/composition.ts';
import { modules } from '../../src/app/modules.ts';
import { createDatabase, waitForProcessorsAtHead } from '../lib/db.ts';
import { preloadEvents } from '../lib/preload.ts';
import { row, type Row } from '../lib/report.ts';
import { startApi } from '../lib/server.ts';
import { ensurePeersInstalled } from '../peers/install.ts';
import { copyEventsForPostGraphile, createPostGraphileEventsTable, startPostGraphile } from '../peers/postgraphile.ts';
import type { LatencySummary } from '../lib/stats.ts';
import { catchUpCell, rawCursorReadCell, type CatchUpResult, type RawReadResult } from '../workloads/catchUp.ts';
import { noopProcessorCell, type NoopProcessorResult } from '../workloads/processors.ts';
import { BENCH_CUSTOMER, detectHistoryQuery, FILTERS, graphqlHistoryCell, historyQueries, libraryHistoryCell, rawHistoryCell, type FilterName } from '../workloads/history.ts';
import { PAGING_WARMUP_PAGES, postgraphilePagingCell, PRODUCT_PAGE, productPagingCell, rawPagingCell, REQUESTED_PAGE, type PagingResult } from '../workloads/paging.ts';
import type { FamilyContext, FamilyResult } from './context.ts';

const { orm: ormSchema } = compose(modules);

const W3 = '3. Catch-up read';
const W6 = '6. History';
const W7 = '7. Paging the log';
const W11 = '11. Processors';
const WRITERS = 4;

const mean = (values: readonly number[]) => values.reduce((a, b) => a + b, 0) / values.length;
const fmtCount = (n: number) => (n >= 1_000_000 ? `${n / 1_000_000}M` : n >= 1000 ? `${n / 1000}k` : String(n));

/** Workloads 3, 6 and 7 on a preloaded log (and, for 6, a small log to compare against). */
export async function logFamily(ctx: FamilyContext): Promise<FamilyResult> {
  const { scale } = ctx;
  const only = (name: string) => !ctx.only || ctx.only.has('log') || ctx.only.has(name);
  const rows: Row[] = [];
  const notes: string[] = [];
  const details: Record<string, unknown> = {};

  ctx.log(`preloading ${scale.logEvents} events (${scale.eventsPerTransaction} per transaction)`);
  const bigUrl = await createDatabase(ctx.serverUrl, 'bench_log');
  details.preload = { events: scale.logEvents, eventsPerTransaction: scale.eventsPerTransaction, ...(await preloadEvents(bigUrl, scale.logEvents, scale.eventsPerTransaction)) };
  notes.push(`The ${fmtCount(scale.logEvents)}-event log was loaded in SQL (INSERT … SELECT generate_series, ${scale.eventsPerTransaction} events per transaction, in ${(details.preload as any).seconds.toFixed(0)} s), not through the API; streams of 10 events, 90 % carts and 10 % counters, payloads the size the API writes.`);

  if (only('history')) {
    const smallUrl = await createDatabase(ctx.serverUrl, 'bench_log_small');
    await preloadEvents(smallUrl, scale.smallLogEvents, scale.eventsPerTransaction);
    const history: Record<string, Record<FilterName, { api: LatencySummary[]; raw: LatencySummary[] }>> = {};
    let via = 'GraphQL';
    for (const [label, url] of [[fmtCount(scale.smallLogEvents), smallUrl], [fmtCount(scale.logEvents), bigUrl]] as const) {
      const queries = await historyQueries(url, scale.historyQueries);
      const api = await startApi({ databaseUrl: url, ...ctx.profile(`history-${label}`) });
      const orm = await openOrm({ url, poolSize: 2, ...ormSchema });
      const cells = (history[label] = {} as Record<FilterName, { api: LatencySummary[]; raw: LatencySummary[] }>);
      try {
        // As for paging: the API first runs its processors over the preloaded log, in the process
        // that serves the measured queries (the 30 ms run-1 p99s of an earlier run).
        const caughtUp = await waitForProcessorsAtHead(url);
        ctx.log(`history ${label}: the API's processors reached the log head in ${caughtUp.seconds.toFixed(0)} s`);
        const shape = await detectHistoryQuery(api.url);
        if ('missing' in shape) via = `library readLog (${shape.missing})`;
        for (let run = 0; run < 2; run++) {
          for (const filter of FILTERS) {
            ctx.log(`history ${label} filter=${filter} run ${run + 1}`);
            const cell = (cells[filter] ??= { api: [], raw: [] });
            cell.raw.push(await rawHistoryCell(url, queries[filter]));
            cell.api.push('missing' in shape ? await libraryHistoryCell(orm, queries[filter]) : await graphqlHistoryCell(api.url, shape, queries[filter]));
          }
        }
      } finally {
        await orm.close();
        await api.stop();
      }
    }
    if (via !== 'GraphQL') notes.push(`History: measured through ${via}; the GraphQL figure needs Query.events(first, after, filter).`);
    const small = fmtCount(scale.smallLogEvents);
    const big = fmtCount(scale.logEvents);
    for (const filter of FILTERS) {
      const b = history[big]![filter];
      const s = history[small]![filter];
      const cell =
        filter === 'customer' ? `no filter, a customer's token (${BENCH_CUSTOMER}: their carts and every counter)`
        : filter === 'customerCarts' ? `filter: streamType Cart, a customer's token`
        : filter === 'customerCheckouts' ? `filter: types CartCheckedOut, a customer's token`
        : `filter: ${filter}`;
      rows.push(row({ workload: W6, cell: `${cell}, ${big} log`, figure: `p50 (${via === 'GraphQL' ? 'GraphQL' : 'readLog'})`, unit: 'ms', runs: b.api.map((x) => x.p50), raw: b.raw.map((x) => x.p50), rawLabel: 'same keyset SELECT, bare pg' }));
      rows.push(row({ workload: W6, cell: `${cell}, ${big} log`, figure: `p99 (${via === 'GraphQL' ? 'GraphQL' : 'readLog'})`, unit: 'ms', runs: b.api.map((x) => x.p99), raw: b.raw.map((x) => x.p99), rawLabel: 'same keyset SELECT, bare pg',
        target: { text: '< 10 ms', worse: 'higher', check: (worst) => worst < 10 } }));
      rows.push(row({ workload: W6, cell: `${cell}, ${small} log`, figure: 'p99', unit: 'ms', runs: s.api.map((x) => x.p99), raw: s.raw.map((x) => x.p99) }));
      const growth = b.api.map((x, i) => x.p99 / s.api[i]!.p99);
      const rawGrowth = b.raw.map((x, i) => x.p99 / s.raw[i]!.p99);
      rows.push(row({ workload: W6, cell, figure: `p99 ${big} ÷ p99 ${small}`, unit: '×', runs: growth, raw: rawGrowth,
        target: { text: 'flat: ≤ 1.5×', worse: 'higher', check: (worst) => worst <= 1.5 } }));
    }
    details.history = { via, cells: history };
  }

  // Before the catch-up, whose writers append to this log: every system pages the same rows.
  if (only('paging')) {
    ensurePeersInstalled(ctx.log);
    const total = Math.min(scale.pagingEvents, scale.logEvents);
    const cells = { product: [] as PagingResult[], postgraphile: [] as PagingResult[], raw: [] as PagingResult[] };
    await createPostGraphileEventsTable(bigUrl);
    await copyEventsForPostGraphile(bigUrl, total);
    const api = await startApi({ databaseUrl: bigUrl, ...ctx.profile('paging') });
    const postgraphile = await startPostGraphile({ databaseUrl: bigUrl, poolSize: ctx.apiPoolSize, ...ctx.profile('paging-postgraphile') });
    // The server's CPU time per page served (the warm-up pages included): on a shared machine the
    // rate moves with the neighbours' load, the work a page costs the server much less.
    const withCpu = async (server: { cpuMs(): Promise<number> }, cell: () => Promise<PagingResult>): Promise<PagingResult> => {
      const before = await server.cpuMs();
      const result = await cell();
      return { ...result, serverCpuMsPerPage: ((await server.cpuMs()) - before) / (result.pages + PAGING_WARMUP_PAGES) };
    };
    try {
      const caughtUp = await waitForProcessorsAtHead(bigUrl);
      ctx.log(`paging: the API's processors reached the log head in ${caughtUp.seconds.toFixed(0)} s`);
      for (let run = 0; run < 2; run++) {
        ctx.log(`paging ${total} events: raw run ${run + 1}`);
        cells.raw.push(await rawPagingCell(bigUrl, total));
        ctx.log(`paging ${total} events: product events(first: ${PRODUCT_PAGE}) run ${run + 1}`);
        cells.product.push(await withCpu(api, () => productPagingCell(api.url, total)));
        ctx.log(`paging ${total} events: PostGraphile allEvents(first: ${REQUESTED_PAGE}) run ${run + 1}`);
        cells.postgraphile.push(await withCpu(postgraphile, () => postgraphilePagingCell(postgraphile.url, total)));
      }
    } finally {
      await postgraphile.stop();
      await api.stop();
    }
    const cell = `${fmtCount(total)} events from the start, one page at a time`;
    const rawLabel = `named keyset SELECT on commit order, pages of ${REQUESTED_PAGE.toLocaleString('en-US')}, bare pg`;
    const peerLabel = `PostGraphile allEvents(first: ${REQUESTED_PAGE.toLocaleString('en-US')}, after)`;
    const worstPeer = Math.min(...cells.postgraphile.map((x) => x.eventsPerS));
    rows.push(row({ workload: W7, cell, figure: 'events/s', unit: 'ev/s', runs: cells.product.map((x) => x.eventsPerS), raw: cells.raw.map((x) => x.eventsPerS), rawLabel,
      peers: [{ label: peerLabel, runs: cells.postgraphile.map((x) => x.eventsPerS) }],
      note: `events(first: ${PRODUCT_PAGE}, after) through the API${PRODUCT_PAGE < REQUESTED_PAGE ? ` (the product's largest page; PostGraphile and raw take ${REQUESTED_PAGE.toLocaleString('en-US')})` : ''}`,
      target: { text: '≥ PostGraphile', worse: 'lower', check: (worst) => worst >= worstPeer } }));
    rows.push(row({ workload: W7, cell, figure: 'p99 per page', unit: 'ms', runs: cells.product.map((x) => x.pageMs.p99), raw: cells.raw.map((x) => x.pageMs.p99), rawLabel,
      peers: [{ label: peerLabel, runs: cells.postgraphile.map((x) => x.pageMs.p99) }],
      ...(PRODUCT_PAGE < REQUESTED_PAGE ? { note: `the product's pages hold ${PRODUCT_PAGE}, the others' ${REQUESTED_PAGE.toLocaleString('en-US')}` } : {}) }));
    rows.push(row({ workload: W7, cell, figure: 'server CPU per page', unit: 'ms', runs: cells.product.map((x) => x.serverCpuMsPerPage ?? Number.NaN),
      peers: [{ label: peerLabel, runs: cells.postgraphile.map((x) => x.serverCpuMsPerPage ?? Number.NaN) }],
      note: 'user + system time of the server process over the cell, per page (warm-up pages included)' }));
    const failed = Object.entries(cells).flatMap(([name, runs]) => runs.filter((x) => x.errors || x.events < total).map((x) => `${name}: ${x.events} of ${total} events${x.firstError ? `, "${x.firstError}"` : ''}`));
    if (failed.length) notes.push(`Paging: ${failed.join('; ')}`);
    details.paging = { total, ...cells };
  }

  if (only('catchup')) {
    const orm = await openOrm({ url: bigUrl, poolSize: ctx.apiPoolSize, ...ormSchema });
    const raw: RawReadResult[] = [];
    const feed: CatchUpResult[] = [];
    try {
      for (let run = 0; run < 2; run++) {
        ctx.log(`raw cursor read run ${run + 1}`);
        raw.push(await rawCursorReadCell(bigUrl, WRITERS, `raw${run}`));
        ctx.log(`catch-up through FeedSubscription run ${run + 1}`);
        feed.push(await catchUpCell(bigUrl, orm, WRITERS, `catchup${run}`));
      }
    } finally {
      await orm.close();
    }
    const rawRate = raw.map((x) => x.eventsPerS);
    rows.push(row({ workload: W3, cell: `${fmtCount(scale.logEvents)} events, ${WRITERS} writers`, figure: 'events/s (FeedSubscription catch-up → readLog)', unit: 'ev/s', runs: feed.map((x) => x.eventsPerS), raw: rawRate, rawLabel: 'server-side cursor, FETCH 10000',
      target: { text: '≥ 0.5 × raw', worse: 'lower', check: (worst) => worst / mean(rawRate) >= 0.5 } }));
    rows.push(row({ workload: W3, cell: `${fmtCount(scale.logEvents)} events, ${WRITERS} writers`, figure: 'lost + repeated + out of order', unit: 'events', runs: feed.map((x) => x.lost + x.repeated + x.outOfOrder),
      target: { text: '0', worse: 'higher', check: (worst) => worst === 0 },
      note: feed.map((x, i) => `run ${i + 1}: ${x.delivered} delivered of ${x.inTable} in the table, ${x.appendedDuringRead} appended during the read, lost ${x.lost}, repeated ${x.repeated}, out of order ${x.outOfOrder}`).join('; ') }));
    details.catchUp = { raw, feed };
  }

  if (only('processor')) {
    const orm = await openOrm({ url: bigUrl, poolSize: ctx.apiPoolSize, ...ormSchema });
    const raw: RawReadResult[] = [];
    const noop: NoopProcessorResult[] = [];
    try {
      for (let run = 0; run < 2; run++) {
        ctx.log(`raw cursor read (no writers) run ${run + 1}`);
        raw.push(await rawCursorReadCell(bigUrl, 0, `rawp${run}`));
        ctx.log(`no-op processor over the log run ${run + 1}`);
        noop.push(await noopProcessorCell(bigUrl, orm, `bench-noop-${run}`));
      }
    } finally {
      await orm.close();
    }
    const rawRate = raw.map((x) => x.eventsPerS);
    rows.push(row({ workload: W11, cell: `no-op processor, ${fmtCount(scale.logEvents)} events, batches of ${noop[0]!.batchSize}`, figure: 'events/s (batches from the follower, memory or readLog, + a checkpoint transaction each)', unit: 'ev/s',
      runs: noop.map((x) => x.eventsPerS), raw: rawRate, rawLabel: 'server-side cursor, FETCH 10000',
      target: { text: '≥ 0.5 × raw', worse: 'lower', check: (worst) => worst / mean(rawRate) >= 0.5 },
      note: noop.map((x, i) => `run ${i + 1}: ${x.handled} handled of ${x.events} in ${x.seconds} s`).join('; ') }));
    details.noopProcessor = { raw, noop };
  }
  return { rows, notes, details };
}
