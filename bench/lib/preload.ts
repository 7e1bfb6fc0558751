import { withClient } from './db.ts';

/**
 * Fills `events` with `total` events in SQL (no API): transactions of `perTransaction` events
 * each, so transaction ids advance as they would under real appends. Streams have 10 events each;
 * nine in ten are carts (CartOpened, 8 × CartItemAdded, CartCheckedOut), one in ten a counter
 * (10 × CounterIncremented); payloads have the size and shape the API writes. The indexes and
 * unique constraints are dropped for the load and rebuilt after it with the migration's
 * definitions, and the streams' readers are recorded as the policies would. Then VACUUM ANALYZE and
 * CHECKPOINT, so reads start from settled tables.
 */
export async function preloadEvents(url: string, total: number, perTransaction: number): Promise<{ seconds: number }> {
  const started = Date.now();
  await withClient(url, async (client) => {
    // Time-ordered event ids like the API's (uuidv7() exists from PostgreSQL 18 on).
    const { rows } = await client.query<{ v: number }>(`select current_setting('server_version_num')::int as v`);
    const eventId = rows[0]!.v >= 180000 ? 'uuidv7()' : 'gen_random_uuid()';
    await client.query(`
      create or replace procedure bench_preload(total int, per_tx int) language plpgsql as $$
      declare i int := 0;
      begin
        while i < total loop
          insert into events (event_id, stream_id, stream_type, stream_version, event_type, data, metadata, recorded_at)
          select ${eventId},
                 case when s.counter then 'counter-' else 'cart-' end || s.n,
                 case when s.counter then 'Counter' else 'Cart' end,
                 s.v,
                 case when s.counter then 'CounterIncremented' when s.v = 1 then 'CartOpened' when s.v = 10 then 'CartCheckedOut' else 'CartItemAdded' end,
                 case when s.counter then jsonb_build_object('by', 1)
                      when s.v = 1 then jsonb_build_object('cartId', 'cart-' || s.n, 'customerId', 'customer-' || (s.n % 1000))
                      when s.v = 10 then jsonb_build_object('total', jsonb_build_object('amount', 15992, 'currency', 'EUR'), 'itemCount', 8)
                      else jsonb_build_object('sku', 'sku-' || (s.g % 5), 'name', 'Benchmark widget', 'unitPrice', jsonb_build_object('amount', 1999, 'currency', 'EUR'), 'quantity', 1) end,
                 jsonb_build_object('correlationId', gen_random_uuid(), 'actor', 'anonymous', 'client', 'bench-preload', 'commandName', 'Preload', 'schemaVersion', 1),
                 now() - make_interval(secs => (total - s.g) / 100.0)
          from (select g, g / 10 as n, g % 10 + 1 as v, (g / 10) % 10 = 9 as counter
                from generate_series(i, least(i + per_tx, total) - 1) g) s;
          commit;
          i := i + per_tx;
        end loop;
      end $$`);
    // Load without the indexes and build them afterwards (same definitions, as the migration made
    // them): an order of magnitude faster than maintaining four B-trees row by row.
    const { rows: constraints } = await client.query<{ name: string; definition: string }>(
      `select conname as name, pg_get_constraintdef(oid) as definition from pg_constraint
       where conrelid = 'events'::regclass and contype in ('p', 'u') order by contype`);
    const { rows: indexes } = await client.query<{ name: string; definition: string }>(
      `select indexname as name, indexdef as definition from pg_indexes
       where schemaname = current_schema() and tablename = 'events' and indexname <> all($1::text[])`, [constraints.map((c) => c.name)]);
    for (const index of indexes) await client.query(`drop index ${index.name}`);
    for (const constraint of [...constraints].reverse()) await client.query(`alter table events drop constraint ${constraint.name}`);
    // Only the loader's own commits skip the WAL flush wait; the server's settings stay as they are.
    await client.query('set synchronous_commit = off');
    await client.query('set maintenance_work_mem = \'256MB\'');
    await client.query('call bench_preload($1, $2)', [total, perTransaction]);
    for (const constraint of constraints) await client.query(`alter table events add constraint ${constraint.name} ${constraint.definition}`);
    for (const index of indexes) await client.query(index.definition);
    // Who may read each stream, as the policies' appends record it: a cart its customer and support,
    // a counter every signed-in caller. History with a customer's token joins on this.
    await client.query(`
      insert into stream_readers (stream_id, reader, stream_type)
      select stream_id, reader, stream_type from (
        select stream_id, 'sub:' || (data->>'customerId') as reader, stream_type from events where event_type = 'CartOpened'
        union all select stream_id, 'role:support', stream_type from events where event_type = 'CartOpened'
        union all select distinct stream_id, 'authenticated', stream_type from events where stream_type = 'Counter'
      ) as readers
      on conflict do nothing`);
    await client.query('insert into event_stream_types (event_type, stream_type) select distinct event_type, stream_type from events');
    await client.query('vacuum (analyze) events');
    await client.query('vacuum (analyze) stream_readers');
    await client.query('checkpoint');
  });
  return { seconds: (Date.now() - started) / 1000 };
}
