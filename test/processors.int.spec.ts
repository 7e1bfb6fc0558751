import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { StaleReadError } from '../src/core/errors.ts';
import { systemClock, uuidv7 } from '../src/core/ids.ts';
import { silentLogger } from '../src/core/logger.ts';
import type { RecordedEvent } from '../src/core/message.ts';
import { compose } from '../src/app/composition.ts';
import { modules } from '../src/app/modules.ts';
import { openOrm, type Orm } from '../src/db/orm.ts';
import { query } from '../src/db/sql.ts';
import { CommitNotifier } from '../src/eventStore/feed/commitNotifier.ts';
import { LogFeed } from '../src/eventStore/feed/feed.ts';
import { appendToStream } from '../src/eventStore/log/append.ts';
import { decodePosition, LOG_START } from '../src/eventStore/log/position.ts';
import type { ProcessorDefinition } from '../src/eventStore/processors/processorDefinition.ts';
import { advanceCheckpoint, bumpEpoch, FencedError, readCheckpoint } from '../src/eventStore/processors/processorStore.ts';
import { type ProcessorSettings, Processors } from '../src/eventStore/processors/processors.ts';
import { createTestDatabase, type TestDatabase } from './support/database.ts';
import { until } from './support/until.ts';

const { orm: ormSchema, upcasters } = compose(modules);
let database: TestDatabase;
let admin: pg.Client;
beforeAll(async () => {
  database = await createTestDatabase();
  admin = new pg.Client({ connectionString: database.url });
  await admin.connect();
});
afterAll(async () => {
  await admin?.end();
  await database?.drop();
});

/** One API process as far as processors go: its own pool, log follower and processors. */
type FakeProcess = { orm: Orm; feed: LogFeed; processors: Processors; append(streamId: string, types: readonly string[], streamType?: string): Promise<RecordedEvent[]>; stop(): Promise<void> };
const running: FakeProcess[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((p) => p.stop()));
});

async function startProcess(definitions: readonly ProcessorDefinition[], settings: Partial<ProcessorSettings> = {}): Promise<FakeProcess> {
  const orm = await openOrm({ url: database.url, poolSize: 5, ...ormSchema });
  const feed = new LogFeed({ em: orm.em.fork(), databaseUrl: database.url, logger: silentLogger, upcasters });
  const notifier = new CommitNotifier({ em: orm.em, feed, logger: silentLogger });
  const processors = new Processors({ definitions, em: orm.em, upcasters, feed, databaseUrl: database.url, logger: silentLogger, clock: systemClock, settings: { backoffMs: 5, backoffMaxMs: 50, takeoverIntervalMs: 100, ...settings } });
  await feed.start();
  await processors.start();
  let stopped = false;
  const process: FakeProcess = {
    orm,
    feed,
    processors,
    async append(streamId, types, streamType = streamId.split('-')[0]!) {
      const em = orm.em.fork();
      const [head] = await query<{ v: number }>(em, 'select coalesce(max(stream_version), 0)::int as v from events where stream_id = $1', [streamId]);
      const events = await appendToStream(em, {
        streamId,
        streamType,
        expectedVersion: head!.v,
        events: types.map((type) => ({ id: uuidv7(), type, data: {}, metadata: { correlationId: 'processors', actor: 'test' } })),
        recordedAt: new Date(),
      });
      notifier.committed();
      return events;
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await processors.stop();
      await feed.stop();
      await notifier.settled();
      await orm.close();
    },
  };
  running.push(process);
  return process;
}

/** A transactional processor counting each event it handles in `table`: a duplicate shows as a count of 2. */
async function countingProcessor(name: string, options: Partial<ProcessorDefinition> & { poison?: Set<string>; gate?: () => Promise<void> } = {}): Promise<ProcessorDefinition> {
  const table = `handled_${name.replace(/\W/g, '_')}`;
  await admin.query(`create table if not exists ${table} (event_id uuid primary key, times int not null, seq bigserial)`);
  const { poison, gate, ...rest } = options;
  return {
    name,
    delivery: 'transactional',
    // Each spec's processor reads its own stream type: the log is the whole file's.
    filter: { streamTypes: [name] },
    ...rest,
    async handle(events, { em }) {
      await gate?.();
      for (const event of events) if (poison?.has(event.streamId)) throw new Error(`cannot handle ${event.id}`);
      await query(
        em,
        `insert into ${table} (event_id, times) select unnest($1::uuid[]), 1 on conflict (event_id) do update set times = ${table}.times + 1`,
        [events.map((e) => e.id)],
      );
    },
    async reset(em) {
      await query(em, `delete from ${table}`);
    },
  };
}

const handled = async (name: string) => (await admin.query<{ event_id: string; times: number }>(`select event_id, times from handled_${name} order by seq`)).rows;

describe('a processor reads the log through its checkpoint', () => {
  it('handles every matching event exactly once, in commit order and in batches, woken by the follower', async () => {
    const batches: number[] = [];
    const base = await countingProcessor('ordered', { batchSize: 40, filter: { streamTypes: ['ordered'], eventTypes: ['ThingHappened'] } });
    const definition: ProcessorDefinition = { ...base, handle: async (events, context) => (batches.push(events.length), base.handle(events, context)) };
    const one = await startProcess([definition]);
    const appended: RecordedEvent[] = [];
    for (let i = 0; i < 10; i++) appended.push(...(await one.append(`ordered-${i}`, [...Array(10).fill('ThingHappened'), 'ThingIgnored'])));
    const wanted = appended.filter((e) => e.type === 'ThingHappened').map((e) => e.id);
    await until(async () => (await handled('ordered')).length === wanted.length, 'every event handled');
    const rows = await handled('ordered');
    expect(rows.map((r) => r.event_id)).toEqual(wanted);
    expect(rows.every((r) => r.times === 1)).toBe(true);
    expect(Math.max(...batches)).toBeLessThanOrEqual(40);
    // The checkpoint passes the ignored events too: it reaches the follower's position.
    await until(async () => (await readCheckpoint(one.orm.em.fork(), 'ordered'))!.position.globalPosition >= appended.at(-1)!.globalPosition, 'checkpoint at the end');
  });

  it('runs in exactly one of two processes; when the holder loses its lock, the other takes over from the checkpoint', async () => {
    const definition = await countingProcessor('single');
    const [a, b] = [await startProcess([definition]), await startProcess([definition])];
    await until(async () => a.processors.runs('single') !== b.processors.runs('single'), 'one holder');
    const [holder, other] = a.processors.runs('single') ? [a, b] : [b, a];
    const first = await holder.append('single-1', ['ThingHappened', 'ThingHappened']);
    await until(async () => (await handled('single')).length === 2, 'first events handled');
    // The holder's lock connection ends, as a network cut or a crash would end it.
    await admin.query(`select pg_terminate_backend(pid) from pg_stat_activity where application_name = 'processors' and datname = current_database() and pid in (
      select pid from pg_locks where locktype = 'advisory' and granted)`);
    await until(async () => other.processors.runs('single'), 'the other process takes over', 5000);
    const second = await other.append('single-2', ['ThingHappened']);
    await until(async () => (await handled('single')).length === 3, 'later events handled');
    expect((await handled('single')).map((r) => [r.event_id, r.times])).toEqual([...first, ...second].map((e) => [e.id, 1]));
  });

  it("a holder that lost its lock mid-batch cannot commit that batch once the other process has handled it", async () => {
    let entered = false;
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const slow = await countingProcessor('stale', { gate: () => ((entered = true), held) });
    const a = await startProcess([slow]);
    await until(async () => a.processors.runs('stale'), 'the first process runs it');
    const b = await startProcess([await countingProcessor('stale')]);
    const [event] = await a.append('stale-1', ['ThingHappened']);
    await until(async () => entered, 'the first process is inside the batch');
    await admin.query(`select pg_terminate_backend(l.pid) from pg_locks l join pg_stat_activity s using (pid)
      where l.locktype = 'advisory' and l.granted and s.application_name = 'processors' and s.datname = current_database()`);
    await until(async () => (await handled('stale')).length === 1, 'the second process handled the event');
    // The first holder's handler now goes on and writes, but its checkpoint update finds a newer epoch: all of it rolls back.
    release();
    await a.stop();
    expect(await handled('stale')).toEqual([{ event_id: event!.id, times: 1 }]);
    expect(b.processors.runs('stale')).toBe(true);
  });

  it('an external processor moves its checkpoint only after its handler returned, so a failed batch is handed over again', async () => {
    const delivered: string[] = [];
    let failNext = true;
    const one = await startProcess([
      {
        name: 'outside',
        delivery: 'external',
        filter: { streamTypes: ['outside'] },
        async handle(events) {
          // Half the batch reaches the other system, then the call fails: those events come again.
          delivered.push(...events.slice(0, 1).map((e) => e.id));
          if (failNext) {
            failNext = false;
            throw new Error('the other system went away');
          }
          delivered.push(...events.slice(1).map((e) => e.id));
        },
      },
    ]);
    const events = await one.append('outside-1', ['ThingHappened', 'ThingHappened', 'ThingHappened']);
    await until(async () => new Set(delivered).size === 3, 'every event delivered');
    expect([...new Set(delivered)]).toEqual(events.map((e) => e.id));
    expect(delivered.length).toBeGreaterThan(3);
    expect(await one.processors.parked('outside')).toEqual([]);
  });

  it('a stale holder cannot move the checkpoint once another has claimed it', async () => {
    const definition = await countingProcessor('fenced');
    const one = await startProcess([definition]);
    await until(async () => one.processors.runs('fenced'), 'claimed');
    const stale = (await readCheckpoint(one.orm.em.fork(), 'fenced'))!.epoch;
    await bumpEpoch(one.orm.em.fork(), 'fenced', new Date(), 'someone-else');
    await expect(advanceCheckpoint(one.orm.em.fork(), 'fenced', stale, { transactionId: 1n, globalPosition: 1n }, new Date())).rejects.toBeInstanceOf(FencedError);
  });
});

describe('failures', () => {
  it('a handler that keeps throwing is retried with backoff, then its event is parked, and the processor goes on', async () => {
    const poison = new Set(['poisoned-1']);
    const one = await startProcess([await countingProcessor('poisoned', { poison, maxAttempts: 3 })]);
    const [bad] = await one.append('poisoned-1', ['ThingHappened']);
    // The later events only once the poisoned one has failed on its own: in one batch with them it
    // would fail once more as the batch (a failure counted too) before it is tried alone.
    await until(async () => (one.processors.counters.get('poisoned')?.failures ?? 0) >= 1, 'the poisoned event failed once');
    const good = await one.append('poisoned-2', ['ThingHappened', 'ThingHappened']);
    await until(async () => (await handled('poisoned')).length === 2, 'the events after the poisoned one handled');
    expect((await handled('poisoned')).map((r) => r.event_id)).toEqual(good.map((e) => e.id));
    const [parked] = await one.processors.parked('poisoned');
    expect(parked).toMatchObject({ eventId: bad!.id, attempts: 3, status: 'parked', error: `Error: cannot handle ${bad!.id}` });
    expect(parked!.lastFailedAt.getTime()).toBeGreaterThanOrEqual(parked!.firstFailedAt.getTime());
    expect(one.processors.counters.get('poisoned')).toEqual({ failures: 3, parked: 1 });

    // Fixed: a retry handles it, once, and the parked event is resolved.
    poison.clear();
    await one.processors.retry('poisoned', bad!.id);
    await until(async () => (await handled('poisoned')).length === 3, 'the retried event handled');
    expect((await handled('poisoned')).map((r) => r.times)).toEqual([1, 1, 1]);
    expect(await one.processors.parked('poisoned')).toEqual([]);
    expect((await one.processors.parked('poisoned', { all: true }))[0]).toMatchObject({ eventId: bad!.id, status: 'resolved' });
  });

  it("with onParked 'stop' the processor stops on the parked event until an admin skips it", async () => {
    const poison = new Set(['stopping-1']);
    const one = await startProcess([await countingProcessor('stopping', { poison, maxAttempts: 2, onParked: 'stop' })]);
    const [bad] = await one.append('stopping-1', ['ThingHappened']);
    const after = await one.append('stopping-2', ['ThingHappened']);
    await until(async () => (await one.processors.list())[0]!.status === 'STOPPED', 'stopped');
    expect(await handled('stopping')).toEqual([]);
    await one.processors.skip('stopping', bad!.id);
    await until(async () => (await handled('stopping')).length === 1, 'the next event handled');
    expect((await handled('stopping')).map((r) => r.event_id)).toEqual(after.map((e) => e.id));
    expect((await one.processors.list())[0]).toMatchObject({ status: 'RUNNING', parkedCount: 0 });
    expect((await one.processors.parked('stopping', { all: true }))[0]).toMatchObject({ status: 'skipped' });
  });

  it("with onParked 'stop' a retry that succeeds handles the event, then the ones after it, in order", async () => {
    const poison = new Set(['halting-1']);
    const one = await startProcess([await countingProcessor('halting', { poison, maxAttempts: 2, onParked: 'stop' })]);
    const [bad] = await one.append('halting-1', ['ThingHappened']);
    const after = await one.append('halting-2', ['ThingHappened']);
    await until(async () => (await one.processors.list())[0]!.status === 'STOPPED', 'stopped');
    poison.clear();
    await one.processors.retry('halting', bad!.id);
    await until(async () => (await handled('halting')).length === 2, 'both handled');
    expect((await handled('halting')).map((r) => [r.event_id, r.times])).toEqual([bad!, ...after].map((e) => [e.id, 1]));
    expect((await one.processors.list())[0]).toMatchObject({ status: 'RUNNING', parkedCount: 0 });
  });

  it('a reset to the start empties what the processor keeps and handles everything again, once', async () => {
    const one = await startProcess([await countingProcessor('rebuilt')]);
    const events = await one.append('rebuilt-1', ['ThingHappened', 'ThingHappened', 'ThingHappened']);
    await until(async () => (await handled('rebuilt')).length === 3, 'handled');
    const before = (await handled('rebuilt')).map((r) => [r.event_id, r.times]);
    await one.processors.reset('rebuilt');
    await until(async () => (await readCheckpoint(one.orm.em.fork(), 'rebuilt'))!.position.globalPosition >= events.at(-1)!.globalPosition, 'caught up again');
    expect((await handled('rebuilt')).map((r) => [r.event_id, r.times])).toEqual(before);
    // A reset to a position handles what follows it again (nothing is emptied).
    await one.processors.reset('rebuilt', decodePosition(events[1]!.position));
    await until(async () => (await handled('rebuilt'))[2]!.times === 2, 'the last event handled again');
    await expect(one.processors.reset('rebuilt', { transactionId: 1n, globalPosition: 999_999n })).rejects.toThrow(/not a position of an event/);
  });
});

describe('read-your-writes', () => {
  it('waits until the read model has passed the position, and times out with StaleReadError where it is', async () => {
    let release!: () => void;
    let gate: Promise<void> | undefined = new Promise((resolve) => (release = resolve));
    const one = await startProcess([await countingProcessor('slow', { readModel: 'slowThings', gate: () => gate ?? Promise.resolve() })]);
    const [event] = await one.append('slow-1', ['ThingHappened']);
    const position = decodePosition(event!.position);
    const error = await one.processors.waitFor('slowThings', position, 100).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StaleReadError);
    expect((error as StaleReadError).position).not.toBe(event!.position);
    const waiting = one.processors.waitFor('slowThings', position, 5000);
    gate = undefined;
    release();
    await waiting;
    expect((await handled('slow')).map((r) => r.event_id)).toEqual([event!.id]);
    await one.processors.waitFor('slowThings', LOG_START, 10);
  });
});

describe('shutting down', () => {
  it('a stop while the claim waits on the checkpoint row ends at once, starts no session, and the lock goes with the connection', async () => {
    const definition = await countingProcessor('stopmidclaim');
    await admin.query(
      `insert into processor_checkpoints (name, transaction_id, global_position, epoch, status, owner, claimed_at, updated_at)
       values ($1, '0'::xid8, 0, 0, 'running', null, null, now()) on conflict (name) do nothing`,
      [definition.name],
    );
    // Another process's batch (or an admin change) holding the checkpoint row, for as long as it likes.
    const holder = new pg.Client({ connectionString: database.url });
    await holder.connect();
    try {
      await holder.query('begin');
      await holder.query('select 1 from processor_checkpoints where name = $1 for update', [definition.name]);
      const orm = await openOrm({ url: database.url, poolSize: 5, ...ormSchema });
      const feed = new LogFeed({ em: orm.em.fork(), databaseUrl: database.url, logger: silentLogger, upcasters });
      const processors = new Processors({ definitions: [definition], em: orm.em, upcasters, feed, databaseUrl: database.url, logger: silentLogger, clock: systemClock, settings: { takeoverIntervalMs: 100 } });
      try {
        await feed.start();
        const starting = processors.start();
        await until(
          async () => (await admin.query(`select 1 from pg_stat_activity where datname = current_database() and application_name = 'processors' and wait_event_type = 'Lock'`)).rowCount === 1,
          'the claim to wait on the checkpoint row',
        );
        let bound: NodeJS.Timeout | undefined;
        const outcome = await Promise.race([
          processors.stop().then(() => 'stopped'),
          new Promise<string>((resolve) => (bound = setTimeout(() => resolve('still stopping while the row is held'), 5_000))),
        ]);
        clearTimeout(bound);
        expect(outcome).toBe('stopped');
        await starting;
        expect(processors.runs(definition.name)).toBe(false);
      } finally {
        await processors.stop();
        await feed.stop();
        await orm.close();
      }
    } finally {
      await holder.query('rollback');
      await holder.end();
    }
    // The claim's backend ends once its statement does, and its advisory lock with it.
    await until(async () => (await admin.query(`select 1 from pg_locks where locktype = 'advisory' and database = (select oid from pg_database where datname = current_database())`)).rowCount === 0, 'the lock to be free');
  });
});

describe('checkpoints over events a processor does not match', () => {
  /** Every write of `name`'s checkpoint row from now on, counted by a trigger (claims included). */
  async function countCheckpointWrites(name: string): Promise<() => Promise<number>> {
    await admin.query(`create table if not exists checkpoint_writes (name text not null)`);
    await admin.query(`create or replace function count_checkpoint_write() returns trigger language plpgsql as $$
      begin insert into checkpoint_writes (name) values (new.name); return new; end $$`);
    await admin.query(`create or replace trigger checkpoint_writes_counted after update on processor_checkpoints for each row execute function count_checkpoint_write()`);
    await admin.query(`delete from checkpoint_writes where name = $1`, [name]);
    return async () => (await admin.query<{ n: number }>(`select count(*)::int as n from checkpoint_writes where name = $1`, [name])).rows[0]!.n;
  }
  const listed = async (p: FakeProcess, name: string) => (await p.processors.list()).find((state) => state.name === name)!;

  it('keeps its position in memory over them, writes it with the next batch that matches and when its session ends, and handles nothing twice', async () => {
    const definition = await countingProcessor('sparse', { filter: { streamTypes: ['sparse'], eventTypes: ['ThingHappened'] } });
    const one = await startProcess([definition], { idleCheckpointIntervalMs: 60_000 });
    await until(async () => one.processors.runs('sparse'), 'claimed');
    const writes = await countCheckpointWrites('sparse');

    const ignored: RecordedEvent[] = [];
    for (let i = 0; i < 200; i++) ignored.push(...(await one.append(`sparse-${i}`, ['ThingIgnored'])));
    await until(async () => (await listed(one, 'sparse')).position.globalPosition === ignored.at(-1)!.globalPosition, 'the position passes every ignored event');
    expect(await writes()).toBe(0);
    expect((await readCheckpoint(one.orm.em.fork(), 'sparse'))!.position.globalPosition).toBeLessThan(ignored[0]!.globalPosition);
    expect((await listed(one, 'sparse')).lag.events).toBe(0);

    const [wanted] = await one.append('sparse-wanted', ['ThingHappened']);
    await until(async () => (await handled('sparse')).length === 1, 'the matching event handled');
    expect(await writes()).toBe(1);
    expect((await readCheckpoint(one.orm.em.fork(), 'sparse'))!.position.globalPosition).toBeGreaterThanOrEqual(wanted!.globalPosition);

    const after = await one.append('sparse-after', ['ThingIgnored', 'ThingIgnored']);
    await until(async () => (await listed(one, 'sparse')).position.globalPosition === after.at(-1)!.globalPosition, 'the position passes the later ignored events');
    expect(await writes()).toBe(1);
    await one.stop();
    expect(await writes()).toBe(2);

    // The next holder starts from there; nothing is handed over twice.
    const next = await startProcess([definition], { idleCheckpointIntervalMs: 60_000 });
    await until(async () => next.processors.runs('sparse'), 'claimed again');
    expect((await readCheckpoint(next.orm.em.fork(), 'sparse'))!.position).toEqual(decodePosition(after.at(-1)!.position));
    const [more] = await next.append('sparse-more', ['ThingHappened']);
    await until(async () => (await handled('sparse')).length === 2, 'the next matching event handled');
    expect((await handled('sparse')).map((r) => [r.event_id, r.times])).toEqual([wanted!, more!].map((e) => [e.id, 1]));
  });

  it('writes it at most once an interval while commands it does not match keep coming', async () => {
    const definition = await countingProcessor('quiet', { filter: { streamTypes: ['quiet'], eventTypes: ['ThingHappened'] } });
    const one = await startProcess([definition], { idleCheckpointIntervalMs: 200 });
    await until(async () => one.processors.runs('quiet'), 'claimed');
    const writes = await countCheckpointWrites('quiet');
    const started = Date.now();
    const ignored: RecordedEvent[] = [];
    for (let i = 0; i < 100; i++) ignored.push(...(await one.append(`quiet-${i}`, ['ThingIgnored'])));
    await until(async () => (await readCheckpoint(one.orm.em.fork(), 'quiet'))!.position.globalPosition === ignored.at(-1)!.globalPosition, 'the stored checkpoint follows');
    const elapsed = Date.now() - started;
    expect(await writes()).toBeGreaterThanOrEqual(1);
    expect(await writes()).toBeLessThanOrEqual(Math.floor(elapsed / 200) + 1);
    expect(await handled('quiet')).toEqual([]);
  });

  it('read-your-writes answers at once for a position the processor does not match, in a process that does not run it, and waits for one that a matching event precedes', async () => {
    let release!: () => void;
    let gate: Promise<void> | undefined;
    const definition = await countingProcessor('rare', { readModel: 'rareThings', filter: { streamTypes: ['rare'], eventTypes: ['ThingHappened'] }, gate: () => gate ?? Promise.resolve() });
    const holder = await startProcess([definition], { idleCheckpointIntervalMs: 60_000 });
    await until(async () => holder.processors.runs('rare'), 'claimed');
    const other = await startProcess([definition], { idleCheckpointIntervalMs: 60_000 });

    const [ignored] = await holder.append('rare-1', ['ThingIgnored']);
    // Its checkpoint is not written for it (not for a minute): the answer comes from the events between.
    await other.processors.waitFor('rareThings', decodePosition(ignored!.position), 300);
    await holder.processors.waitFor('rareThings', decodePosition(ignored!.position), 300);
    expect((await readCheckpoint(other.orm.em.fork(), 'rare'))!.position.globalPosition).toBeLessThan(ignored!.globalPosition);

    // A matching event before the position, not handled yet: the read model is not consistent with it.
    gate = new Promise((resolve) => (release = resolve));
    const [wanted] = await holder.append('rare-2', ['ThingHappened']);
    const [later] = await holder.append('rare-3', ['ThingIgnored']);
    const stale = await other.processors.waitFor('rareThings', decodePosition(later!.position), 200).catch((error: unknown) => error);
    expect(stale).toBeInstanceOf(StaleReadError);
    const waiting = other.processors.waitFor('rareThings', decodePosition(later!.position), 5000);
    gate = undefined;
    release();
    await waiting;
    expect((await handled('rare')).map((r) => r.event_id)).toEqual([wanted!.id]);
  });
});
