import { createClient } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { mintToken } from '../src/app/authenticator.ts';
import { createTestDatabase, type TestDatabase } from './support/database.ts';
import { startServerProcess, type ServerProcess } from './support/process.ts';

const SECRET = 'a-production-secret-that-is-long-enough';

let database: TestDatabase;
beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(async () => database?.drop());

/** `node src/main.ts` with NODE_ENV=production, as a deployment runs it. */
const production = (env: Record<string, string> = {}) =>
  startServerProcess({ NODE_ENV: 'production', JWT_SECRET: SECRET, DATABASE_URL: database.url, PORT: '0', HOST: '127.0.0.1', ...env });

async function stop(server: ServerProcess): Promise<void> {
  server.child.kill('SIGTERM');
  await server.exited;
}

/** The JSON log lines the process wrote. */
const logLines = (server: ServerProcess) =>
  server
    .output()
    .split('\n')
    .flatMap((line) => {
      try {
        const entry = JSON.parse(line) as unknown;
        return typeof entry === 'object' && entry !== null ? [entry as { level: string; message: string }] : [];
      } catch {
        return [];
      }
    });

const openGraphiql = (url: string) => fetch(url, { headers: { accept: 'text/html' } });

describe('NODE_ENV=production', () => {
  let server: ServerProcess;
  beforeAll(async () => {
    server = await production();
  });
  afterAll(async () => server && stop(server));

  it('serves no GraphiQL unless asked for', async () => {
    const response = await openGraphiql(server.url);
    expect(response.headers.get('content-type') ?? '').not.toMatch(/text\/html/);
    expect(await response.text()).not.toMatch(/graphiql/i);
  });

  it("answers malformed JSON with a typed 400 that does not echo the parser's message", async () => {
    const response = await fetch(server.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"query": "{ __typename }"' });
    expect(response.status).toBe(400);
    const body = (await response.json()) as { errors: { message: string; extensions: Record<string, unknown> }[] };
    expect(body.errors).toEqual([{ message: 'POST body sent invalid JSON.', extensions: { code: 'BAD_REQUEST' } }]);
  });

  it('logs no client mistake at error level, over HTTP or WebSocket, so no client can fill the error log', async () => {
    const post = (body: string, headers: Record<string, string> = {}) =>
      fetch(server.url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body }).then((response) => response.text());
    const expired = await mintToken({ secret: SECRET, subject: 'late', roles: [], rolesClaim: 'roles', expiresIn: '-1h' });
    await post('{"query": ');
    await post(JSON.stringify({ query: '{ __typename' }));
    await post(JSON.stringify({ query: '{ countr(id: "x") { value } }' }));
    await post(JSON.stringify({ query: '{ events(first: 1, after: "not-a-position") { edges { cursor } } }' }));
    await post(JSON.stringify({ query: 'query($n: Int) { events(first: $n) { edges { cursor } } }', variables: { n: 'many' } }));
    await post(JSON.stringify({ query: '{ __typename }' }), { authorization: 'Bearer not-a-token' });
    await post(JSON.stringify({ query: '{ __typename }' }), { authorization: `Bearer ${expired}` });
    await post(JSON.stringify({ query: `{ ${Array.from({ length: 40 }, (_, i) => `c${i}: counter(id: "x") { value }`).join(' ')} }` }));
    await post(JSON.stringify({ query: '{ __typename }', variables: { padding: 'x'.repeat(2 * 1024 * 1024) } }));

    const client = createClient({ url: server.url.replace(/^http/, 'ws'), webSocketImpl: WebSocket, retryAttempts: 0, connectionParams: { authorization: 'Bearer not-a-token' } });
    const refused = await new Promise<unknown>((resolve) => client.subscribe({ query: 'subscription { events { type } }' }, { next: () => {}, error: resolve, complete: () => resolve(undefined) }));
    await client.dispose();
    expect(refused).toBeDefined();

    // Every request above was answered, so every line about it has been written.
    const errors = logLines(server).filter((line) => line.level === 'error');
    expect(errors).toEqual([]);
  });
});

describe('NODE_ENV=production with GRAPHIQL=true', () => {
  it('serves GraphiQL, because an operator asked for it', async () => {
    const server = await production({ GRAPHIQL: 'true' });
    try {
      const response = await openGraphiql(server.url);
      expect(response.headers.get('content-type')).toMatch(/text\/html/);
      expect(await response.text()).toMatch(/graphiql/i);
    } finally {
      await stop(server);
    }
  });
});
