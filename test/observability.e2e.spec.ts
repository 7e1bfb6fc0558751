import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../src/core/logger.ts';
import { adminToken } from './support/auth.ts';
import { createTestDatabase } from './support/database.ts';
import { collect, startTestServer, type TestServer } from './support/server.ts';

/** POSTs an operation as an administrator and keeps the response's headers beside its body. */
async function post(server: TestServer, query: string, variables?: Record<string, unknown>, headers: Record<string, string> = {}) {
  const response = await fetch(server.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${adminToken}`, ...headers },
    body: JSON.stringify({ query, variables }),
  });
  return { status: response.status, correlationId: response.headers.get('x-correlation-id'), body: (await response.json()) as any };
}

/** A logger writing into `lines`, parsed, as a log shipper would read stderr. */
function capturedLogs() {
  const lines: Record<string, any>[] = [];
  return { lines, logger: createLogger('info', { write: (line: string) => void lines.push(JSON.parse(line)) }) };
}

type Sample = { readonly name: string; readonly labels: Record<string, string>; readonly value: number };

/** The samples of a Prometheus text exposition. */
function parseMetrics(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match) continue;
    const labels: Record<string, string> = {};
    for (const [, key, value] of (match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[key!] = value!;
    samples.push({ name: match[1]!, labels, value: Number(match[3]) });
  }
  return samples;
}

async function scrape(server: TestServer) {
  const response = await fetch(server.url.replace('/graphql', '/metrics'));
  const text = await response.text();
  const samples = parseMetrics(text);
  /** The value of the one sample named `name` whose labels include `labels`; 0 when there is none yet. */
  const value = (name: string, labels: Record<string, string> = {}) => {
    const found = samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
    if (found.length > 1) throw new Error(`${found.length} samples of ${name} match ${JSON.stringify(labels)}`);
    return found[0]?.value ?? 0;
  };
  return { status: response.status, contentType: response.headers.get('content-type'), text, samples, value };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const INCREMENT = `mutation Increment($input: IncrementCounterInput!) {
  incrementCounter(input: $input) { __typename ... on IncrementCounterSuccess { counter { version } } ... on Error { code } }
}`;
const DECREMENT = `mutation Decrement($input: DecrementCounterInput!) { decrementCounter(input: $input) { __typename ... on Error { code } } }`;
const COUNTER = `query CounterValue($id: ID!) { counter(id: $id) { value version } }`;

describe('correlation ids over HTTP', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(async () => server?.close());

  it('a request without an id gets a new one in the x-correlation-id header, and its events carry the same id', async () => {
    const { correlationId, body } = await post(server, INCREMENT, { input: { counterId: 'correlated' } });
    expect(body.data.incrementCounter.__typename).toBe('IncrementCounterSuccess');
    expect(correlationId).toMatch(UUID);
    // The stream's own events (not the log, whose reads wait for other spec files' open transactions).
    const stream = await post(server, `{ stream(id: "correlated") { events(first: 10) { edges { node { metadata { correlationId } } } } } }`);
    expect(stream.body.data.stream.events.edges).toEqual([{ node: { metadata: { correlationId } } }]);
  });

  it("a client's valid id is echoed back; an invalid one is replaced by a new one", async () => {
    expect((await post(server, '{ __typename }', undefined, { 'x-correlation-id': 'checkout-42.step:1' })).correlationId).toBe('checkout-42.step:1');
    const replaced = await post(server, '{ __typename }', undefined, { 'x-correlation-id': 'has spaces and ünïcode' });
    expect(replaced.correlationId).toMatch(UUID);
  });

  it('each request gets its own id', async () => {
    const ids = await Promise.all([1, 2, 3].map(async () => (await post(server, '{ __typename }')).correlationId));
    expect(new Set(ids).size).toBe(3);
  });

  it('responses refused before any operation ran (malformed JSON, a parse error) carry an id too', async () => {
    const malformed = await fetch(server.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"query": ' });
    expect(malformed.status).toBe(400);
    expect(malformed.headers.get('x-correlation-id')).toMatch(UUID);
    const unparsable = await post(server, '{ counter(id: ', undefined, { 'x-correlation-id': 'typo-1' });
    expect(unparsable.body.errors[0].message).toMatch(/Syntax Error/);
    expect(unparsable.correlationId).toBe('typo-1');
  });
});

describe('an unexpected error in a resolver', () => {
  const logs = capturedLogs();
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ database: await createTestDatabase(), logger: logs.logger });
    // A real failure the resolver cannot foresee: its read model's table is gone from this spec's own database.
    const admin = new pg.Client({ connectionString: server.database.url });
    await admin.connect();
    try {
      await admin.query('drop table counters');
    } finally {
      await admin.end();
    }
  });
  afterAll(async () => {
    await server?.close();
    await server?.database.drop();
  });

  it('is masked for the client and logged once with the request’s correlation id, cause and stack', async () => {
    const { body, correlationId } = await post(server, '{ counter(id: "gone") { value } }', undefined, { 'x-correlation-id': 'broken-read-7' });
    expect(correlationId).toBe('broken-read-7');
    expect(body.errors).toEqual([expect.objectContaining({ message: 'Unexpected error.' })]);
    expect(JSON.stringify(body)).not.toContain('counters');

    const logged = logs.lines.filter((line) => line.message === 'unexpected error in a GraphQL operation');
    expect(logged).toHaveLength(1);
    expect(logged[0]).toMatchObject({ level: 'error', correlationId: 'broken-read-7', error: { stack: expect.stringContaining('counters') } });
  });

  it('a generated id in the header is the one in the log line', async () => {
    const { correlationId } = await post(server, '{ counter(id: "gone-again") { value } }');
    expect(correlationId).toMatch(UUID);
    expect(logs.lines.filter((line) => line.message === 'unexpected error in a GraphQL operation').map((line) => line.correlationId)).toContain(correlationId);
  });
});

describe('/metrics over HTTP', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(async () => server?.close());

  it('counts commands by type and outcome: success, domain error and version conflict', async () => {
    const before = await scrape(server);
    const commands = (command: string, outcome: string) => ({ command, outcome });
    expect((await post(server, INCREMENT, { input: { counterId: 'metered' } })).body.data.incrementCounter.__typename).toBe('IncrementCounterSuccess');
    expect((await post(server, INCREMENT, { input: { counterId: 'metered' } })).body.data.incrementCounter.__typename).toBe('IncrementCounterSuccess');
    expect((await post(server, DECREMENT, { input: { counterId: 'metered', amount: 100 } })).body.data.decrementCounter.code).toBe('COUNTER_BELOW_ZERO');
    expect((await post(server, INCREMENT, { input: { counterId: 'metered', expectedVersion: 7 } })).body.data.incrementCounter.code).toBe('CONCURRENCY');

    const after = await scrape(server);
    const delta = (labels: Record<string, string>) => after.value('eventstore_commands_total', labels) - before.value('eventstore_commands_total', labels);
    expect(delta(commands('IncrementCounter', 'success'))).toBe(2);
    expect(delta(commands('DecrementCounter', 'domain_error'))).toBe(1);
    expect(delta(commands('IncrementCounter', 'version_conflict'))).toBe(1);
    expect(delta(commands('IncrementCounter', 'retry'))).toBe(0);
    expect(after.text).toContain('# TYPE eventstore_commands_total counter');
  });

  it('counts a retry when another writer takes the version a command was about to append', async () => {
    // Another instance's write, played by this spec's own connection: version 1 committed, version 2 held open.
    const other = new pg.Client({ connectionString: server.database.url });
    await other.connect();
    const foreignEvent = (version: number) =>
      other.query(
        `insert into events (event_id, stream_id, stream_type, stream_version, event_type, data) values (gen_random_uuid(), 'contended', 'Counter', $1, 'CounterIncremented', $2)`,
        [version, { amount: 1, value: version }],
      );
    try {
      await foreignEvent(1);
      await other.query('begin');
      await foreignEvent(2);
      const before = await scrape(server);
      const incremented = post(server, INCREMENT, { input: { counterId: 'contended' } });
      // The command read version 1 and now waits on the unique (stream, version) of the open insert.
      await until(async () => (await other.query(`select 1 from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'`)).rowCount! > 0);
      await other.query('commit');
      expect((await incremented).body.data.incrementCounter).toEqual({ __typename: 'IncrementCounterSuccess', counter: { version: 3 } });

      const after = await scrape(server);
      const delta = (outcome: string) =>
        after.value('eventstore_commands_total', { command: 'IncrementCounter', outcome }) - before.value('eventstore_commands_total', { command: 'IncrementCounter', outcome });
      expect(delta('retry')).toBe(1);
      expect(delta('success')).toBe(1);
    } finally {
      await other.end();
    }
  });

  it('counts GraphQL operations by name, type and outcome, and times queries and mutations', async () => {
    const before = await scrape(server);
    await post(server, INCREMENT, { input: { counterId: 'timed' } });
    await post(server, COUNTER, { id: 'timed' });
    await post(server, COUNTER, { id: 'timed' });
    await post(server, '{ counters(first: 1) { edges { node { id } } } }');
    expect((await post(server, 'query Broken { counter(id: "timed") { noSuchField } }')).body.errors[0].message).toMatch(/noSuchField/);

    const after = await scrape(server);
    const delta = (name: string, labels: Record<string, string>) => after.value(name, labels) - before.value(name, labels);
    const operation = (operation_name: string, operation_type: string, outcome: string) => ({ operation_name, operation_type, outcome });
    expect(delta('graphql_operations_total', operation('Increment', 'mutation', 'ok'))).toBe(1);
    expect(delta('graphql_operations_total', operation('CounterValue', 'query', 'ok'))).toBe(2);
    expect(delta('graphql_operations_total', operation('<anonymous>', 'query', 'ok'))).toBe(1);
    expect(delta('graphql_operations_total', operation('Broken', 'query', 'error'))).toBe(1);

    expect(after.text).toContain('# TYPE graphql_operation_duration_seconds histogram');
    expect(delta('graphql_operation_duration_seconds_count', operation('CounterValue', 'query', 'ok'))).toBe(2);
    expect(delta('graphql_operation_duration_seconds_bucket', { ...operation('CounterValue', 'query', 'ok'), le: '+Inf' })).toBe(2);
    expect(after.value('graphql_operation_duration_seconds_sum', operation('CounterValue', 'query', 'ok'))).toBeGreaterThan(0);
    // A refused operation never ran, so it has no execution time.
    expect(after.value('graphql_operation_duration_seconds_count', operation('Broken', 'query', 'error'))).toBe(0);
  });

  it("serves Node's process defaults, event-loop lag and the live feed's gauges, in Prometheus text", async () => {
    const metrics = await scrape(server);
    expect(metrics.status).toBe(200);
    expect(metrics.contentType).toBe('text/plain; version=0.0.4; charset=utf-8');
    for (const name of ['process_cpu_user_seconds_total', 'process_resident_memory_bytes', 'nodejs_heap_size_used_bytes', 'nodejs_external_memory_bytes', 'nodejs_eventloop_lag_seconds', 'nodejs_eventloop_lag_p99_seconds']) {
      expect(metrics.samples.some((sample) => sample.name === name), name).toBe(true);
    }
    expect(metrics.value('process_resident_memory_bytes')).toBeGreaterThan(0);
    expect(metrics.value('eventfeed_connected')).toBe(1);
    expect(metrics.value('eventfeed_subscriptions')).toBe(0);
    expect(metrics.text).toContain('# TYPE eventfeed_events_held_back gauge');
    expect(metrics.text).toContain('# TYPE eventfeed_events_read_total counter');
    for (const name of ['eventfeed_events_behind', 'eventfeed_oldest_transaction_age_seconds', 'eventfeed_position_transaction_id', 'eventfeed_reconnects_total', 'eventfeed_read_errors_total']) {
      expect(metrics.samples.filter((sample) => sample.name === name), name).toHaveLength(1);
    }
  });

  it('shows a live subscription in the feed gauge and counts it as a subscription operation', async () => {
    const watching = { operation_name: 'Watch', operation_type: 'subscription', outcome: 'ok' };
    const before = await scrape(server);
    const watch = collect(server.wsClient(), 'subscription Watch { events(filter: { streamId: "watched" }) { id } }');
    try {
      await until(async () => (await scrape(server)).value('eventfeed_subscriptions') === 1);
      const during = await scrape(server);
      expect(during.value('graphql_operations_total', watching) - before.value('graphql_operations_total', watching)).toBe(1);
    } finally {
      watch.unsubscribe();
    }
    await until(async () => (await scrape(server)).value('eventfeed_subscriptions') === 0);
    expect(watch.errors).toEqual([]);
  });

  it('a second app in the same process keeps metrics of its own', async () => {
    const success = { command: 'IncrementCounter', outcome: 'success' };
    const counterValue = { operation_name: 'CounterValue', operation_type: 'query', outcome: 'ok' };
    const before = await scrape(server);
    await post(server, INCREMENT, { input: { counterId: 'here' } });
    await post(server, COUNTER, { id: 'here' });
    // Only reads on the second app: closing it right after a commit would race that commit's NOTIFY.
    const second = await startTestServer();
    try {
      await post(second, COUNTER, { id: 'elsewhere' });
      await post(second, COUNTER, { id: 'elsewhere' });
      const [mine, theirs] = await Promise.all([scrape(server), scrape(second)]);
      expect(mine.value('eventstore_commands_total', success) - before.value('eventstore_commands_total', success)).toBe(1);
      expect(mine.value('graphql_operations_total', counterValue) - before.value('graphql_operations_total', counterValue)).toBe(1);
      expect(theirs.value('eventstore_commands_total', success)).toBe(0);
      expect(theirs.value('graphql_operations_total', counterValue)).toBe(2);
    } finally {
      await second.close();
    }
  });
});

async function until(condition: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('timed out waiting for the condition');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
