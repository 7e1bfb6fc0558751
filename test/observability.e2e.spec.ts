import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../src/core/logger.ts';
import { createTestDatabase } from './support/database.ts';
import { startTestServer, type TestServer } from './support/server.ts';

/** POSTs an operation and keeps the response's headers beside its body. */
async function post(server: TestServer, query: string, variables?: Record<string, unknown>, headers: Record<string, string> = {}) {
  const response = await fetch(server.url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify({ query, variables }) });
  return { status: response.status, correlationId: response.headers.get('x-correlation-id'), body: (await response.json()) as any };
}

/** A logger writing into `lines`, parsed, as a log shipper would read stderr. */
function capturedLogs() {
  const lines: Record<string, any>[] = [];
  return { lines, logger: createLogger('info', { write: (line: string) => void lines.push(JSON.parse(line)) }) };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const INCREMENT = `mutation Increment($input: IncrementCounterInput!) {
  incrementCounter(input: $input) { __typename ... on IncrementCounterSuccess { counter { version } } ... on Error { code } }
}`;

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
    const events = await post(server, `query($id: String!) { events(first: 10, filter: { correlationId: $id }) { edges { node { streamId } } } }`, { id: correlationId });
    expect(events.body.data.events.edges).toEqual([{ node: { streamId: 'correlated' } }]);
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
