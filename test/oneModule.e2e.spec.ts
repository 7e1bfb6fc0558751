import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { counterModule } from '../src/modules/counter/module.ts';
import { startTestServer, type TestServer } from './support/server.ts';
import { until } from './support/until.ts';

/**
 * A module is a unit: an app whose list holds only the counter builds, migrates and serves, with
 * the core (history, live feed) and nothing of the other modules.
 */
let server: TestServer;
beforeAll(async () => {
  server = await startTestServer({ modules: [counterModule] });
});
afterAll(async () => server.close());

describe('an app built from a list holding only the counter module', () => {
  it('has the counter and the core in its schema, and no type of another module', async () => {
    const types = await server.gql<{ __schema: { types: { name: string }[] } }>('{ __schema { types { name } } }');
    const names = types.data!.__schema.types.map((type) => type.name);
    expect(names).toEqual(expect.arrayContaining(['Counter', 'CounterIncremented', 'IncrementCounterResult', 'Event', 'EventConnection', 'Node', 'Stream']));
    expect(names.filter((name) => /Cart|User|Money/.test(name))).toEqual([]);
  });

  it('creates only the event store tables and the counter table', async () => {
    const client = new pg.Client({ connectionString: server.database.url });
    await client.connect();
    try {
      const { rows } = await client.query<{ table_name: string }>(
        `select table_name from information_schema.tables where table_schema = 'public' and table_name <> 'mikro_orm_migrations' order by table_name`,
      );
      expect(rows.map((row) => row.table_name)).toEqual(['commands', 'counters', 'event_stream_types', 'events', 'log_rebases', 'processor_checkpoints', 'processor_parked', 'projection_versions', 'snapshots', 'stream_readers']);
    } finally {
      await client.end();
    }
  });

  it('runs a counter command, its query, history and a live subscription', async () => {
    const live = server.wsClient();
    const events: unknown[] = [];
    let unsubscribe = () => {};
    const subscribed = new Promise<void>((resolve, reject) => {
      unsubscribe = live.subscribe({ query: 'subscription { events(filter: { streamType: "Counter" }) { type streamId version } }' }, {
        next: (value) => {
          events.push(value.data?.events);
          resolve();
        },
        error: reject,
        complete: () => undefined,
      });
    });
    // The subscription starts at the live head, so wait until it is registered before writing.
    await until(async () => (await fetch(server.url.replace('/graphql', '/health')).then((r) => r.json() as Promise<any>)).feed?.subscribers === 1, 'the subscription');
    const result = await server.gql(`mutation { incrementCounter(input: { counterId: "solo", amount: 2 }) { __typename ... on IncrementCounterSuccess { counter { counterId value version } } } }`);
    expect(result.data.incrementCounter).toEqual({ __typename: 'IncrementCounterSuccess', counter: { counterId: 'solo', value: 2, version: 1 } });
    expect((await server.gql('{ counter(id: "solo") { value } }')).data).toEqual({ counter: { value: 2 } });
    // History and the feed both read below the oldest running transaction; once the feed delivered
    // the event, history shows it too.
    await subscribed;
    unsubscribe();
    expect(events).toEqual([{ type: 'CounterIncremented', streamId: 'solo', version: 1 }]);
    const history = await server.gql('{ events(filter: { streamId: "solo" }) { edges { node { type version } } } }');
    expect(history.data.events.edges).toEqual([{ node: { type: 'CounterIncremented', version: 1 } }]);
  });

  it('refuses an operation on a module it does not hold, as invalid against its schema', async () => {
    const result = await server.gql('mutation { openCart(input: { customerId: "x" }) { __typename } }');
    expect(result.errors?.[0]?.message).toMatch(/Cannot query field "openCart"/);
  });
});
