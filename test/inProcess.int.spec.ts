import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp, type App } from '../src/app/app.ts';
import { modules } from '../src/app/modules.ts';
import { silentLogger } from '../src/core/logger.ts';
import { createTestDatabase, type TestDatabase } from './support/database.ts';

/** An app built but never started: it serves HTTP GraphQL in process, through Yoga's fetch, on no port. */
let database: TestDatabase;
let app: App;
beforeAll(async () => {
  database = await createTestDatabase();
  app = await buildApp({
    config: { port: 0, host: '127.0.0.1', graphiql: false, commandRetries: 5, dbPoolSize: 4, auth: { mode: 'off', development: false } },
    databaseUrl: database.url,
    logger: silentLogger,
    modules,
  });
});
afterAll(async () => {
  await app?.stop();
  await database?.drop();
});

const gql = async (query: string, variables?: object) => {
  const response = await app.fetch(
    new Request('http://in-process/graphql', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query, variables }) }),
  );
  expect(response.status).toBe(200);
  return (await response.json()) as { data?: any; errors?: unknown[] };
};

describe('an app used in process', () => {
  it('runs a command and reads its projection without listening on a port', async () => {
    const incremented = await gql('mutation { incrementCounter(input: { counterId: "in-process", amount: 3 }) { __typename ... on IncrementCounterSuccess { counter { value version } } } }');
    expect(incremented).toEqual({ data: { incrementCounter: { __typename: 'IncrementCounterSuccess', counter: { value: 3, version: 1 } } } });
    expect(await gql('{ counter(id: "in-process") { counterId value } }')).toEqual({ data: { counter: { counterId: 'in-process', value: 3 } } });
  });
});
