import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ValidationError } from '../src/core/errors.ts';
import { uuidv7Generator } from '../src/core/ids.ts';
import { query } from '../src/db/sql.ts';
import { FEED_APPLICATION_NAME } from '../src/eventStore/feed/listener.ts';
import { appendToStream } from '../src/eventStore/log/append.ts';
import { encodePosition, type LogPosition } from '../src/eventStore/log/position.ts';
import { readHistory } from '../src/eventStore/log/read.ts';
import { ApiConnectedError, countHiddenEvents, rebaseLog, type StoredPositionColumns } from '../src/eventStore/log/rebase.ts';
import { handedOutPosition } from '../src/graphql/cursors.ts';
import { openTestOrm } from './support/database.ts';
import { appUpcasters } from './support/commands.ts';

/*
 * A restore writes rows exactly as they were, transaction ids included: these specs insert rows
 * with the ids another cluster gave them (10,000,000,000 and up, the figure the issue measured),
 * as COPY does, and repair them. test/afterRestore.e2e.spec.ts does it across two real clusters.
 */

let db: Awaited<ReturnType<typeof openTestOrm>>;
beforeAll(async () => {
  db = await openTestOrm(4);
});
afterAll(async () => db?.close());
afterEach(async () => {
  await query(db.orm.em.fork(), 'truncate events, stream_readers, log_rebases');
  await query(db.orm.em.fork(), 'drop table if exists checkpoints');
});

const em = () => db.orm.em.fork();
const FAR = 10_000_000_000n;
const CHECKPOINTS: StoredPositionColumns = { table: 'checkpoints', transactionIdColumn: 'transaction_id', globalPositionColumn: 'global_position' };

type Restored = { readonly transactionId: bigint; readonly streamId: string; readonly version: number };

/** Inserts rows as a restore does, with their stored transaction ids, in global-position order; returns them with their positions. */
async function restore(rows: readonly Restored[]): Promise<(Restored & { globalPosition: bigint; eventId: string })[]> {
  const inserted = [];
  for (const row of rows) {
    const eventId = uuidv7Generator.uuid();
    const [result] = await query<{ global_position: string }>(
      em(),
      `insert into events (transaction_id, event_id, stream_id, stream_type, stream_version, event_type, data)
       values ($1::text::xid8, $2::uuid, $3, 'Restored', $4, 'Happened', '{}'::jsonb) returning global_position`,
      [row.transactionId.toString(), eventId, row.streamId, row.version],
    );
    inserted.push({ ...row, eventId, globalPosition: BigInt(result!.global_position) });
  }
  return inserted;
}

/** Commit order as the origin cluster had it. */
const commitOrder = <T extends { transactionId: bigint; globalPosition: bigint }>(rows: readonly T[]) =>
  [...rows].sort((a, b) => (a.transactionId === b.transactionId ? Number(a.globalPosition - b.globalPosition) : a.transactionId < b.transactionId ? -1 : 1));

const history = async () => readHistory(em(), appUpcasters, { direction: 'forward', limit: 10_000 });

const append = (streamId: string, expectedVersion: number) =>
  appendToStream(em(), {
    streamId,
    streamType: 'Restored',
    expectedVersion,
    recordedAt: new Date(),
    events: [{ id: uuidv7Generator.uuid(), type: 'Happened', data: {}, metadata: {} }],
  });

const nextTransactionId = async () => BigInt((await query<{ next: string }>(em(), 'select pg_snapshot_xmax(pg_current_snapshot())::text as next'))[0]!.next);

describe('a log restored from a cluster whose transaction ids run higher', () => {
  it('is hidden until repaired; the repair shows every event in the original commit order, keeps unmoved cursors and stored positions, and later appends sort last', async () => {
    // Interleaved like concurrent writers: transactions took positions in one order and committed in another.
    const low = (await nextTransactionId()) - 50n;
    const visible = await restore([
      { transactionId: low, streamId: 'old', version: 1 },
      { transactionId: low + 1n, streamId: 'old', version: 2 },
    ]);
    const hidden = await restore([
      { transactionId: FAR + 5n, streamId: 'a', version: 1 },
      { transactionId: FAR + 3n, streamId: 'b', version: 1 },
      { transactionId: FAR + 5n, streamId: 'a', version: 2 },
      { transactionId: FAR + 9n, streamId: 'c', version: 1 },
      { transactionId: FAR + 7n, streamId: 'b', version: 2 },
      { transactionId: FAR + 7n, streamId: 'b', version: 3 },
      { transactionId: FAR + 4_000_000_000n, streamId: 'c', version: 2 },
    ]);
    expect(await countHiddenEvents(em())).toBe(hidden.length);
    expect((await history()).map((e) => e.id)).toEqual(visible.map((e) => e.eventId));

    // An API that ran before the repair appended here: its event got an id below the hidden ones.
    const [appendedHere] = await append('a', 2);
    expect((await history()).map((e) => e.id)).toEqual([...visible, ...[{ eventId: appendedHere!.id }]].map((e) => e.eventId));

    await query(em(), 'create table checkpoints (name text primary key, transaction_id xid8 not null, global_position bigint not null)');
    const checkpointAt = { hidden: hidden[3]!, appended: appendedHere! };
    await query(
      em(),
      `insert into checkpoints values ('start', '0', 0), ('hidden', $1::text::xid8, $2), ('appended', $3::text::xid8, $4), ('visible', $5::text::xid8, $6)`,
      [
        checkpointAt.hidden.transactionId.toString(), checkpointAt.hidden.globalPosition.toString(),
        checkpointAt.appended.transactionId.toString(), checkpointAt.appended.globalPosition.toString(),
        visible[1]!.transactionId.toString(), visible[1]!.globalPosition.toString(),
      ],
    );

    const report = await rebaseLog(em(), { storedPositions: [CHECKPOINTS] });
    expect(report).toMatchObject({ hiddenEvents: hidden.length, rebasedEvents: hidden.length + 1, appendedHere: 1, storedPositions: { checkpoints: 2 } });

    const after = await history();
    expect(await countHiddenEvents(em())).toBe(0);
    expect(after.map((e) => e.id)).toEqual([...visible, ...commitOrder(hidden), { eventId: appendedHere!.id }].map((e) => e.eventId));
    // Transactions that took positions in order share a new id; the order needs only a few.
    expect(new Set(after.slice(visible.length).map((e) => e.transactionId)).size).toBeLessThan(hidden.length + 1);
    // Streams read in version order through the log, as a rebuild from the log reads them.
    const versions = after.filter((e) => e.streamId === 'a').map((e) => e.version);
    expect(versions).toEqual([1, 2, 3]);
    // Events that did not move keep their positions.
    expect(after.slice(0, visible.length).map((e) => [e.transactionId, e.globalPosition])).toEqual(visible.map((e) => [e.transactionId, e.globalPosition]));

    const checkpoints = await query<{ name: string; transaction_id: string; global_position: string }>(em(), 'select name, transaction_id::text, global_position::text from checkpoints order by name');
    const positionOf = (eventId: string) => after.find((e) => e.id === eventId)!;
    expect(checkpoints).toEqual([
      { name: 'appended', transaction_id: positionOf(appendedHere!.id).transactionId.toString(), global_position: appendedHere!.globalPosition.toString() },
      { name: 'hidden', transaction_id: positionOf(checkpointAt.hidden.eventId).transactionId.toString(), global_position: checkpointAt.hidden.globalPosition.toString() },
      { name: 'start', transaction_id: '0', global_position: '0' },
      { name: 'visible', transaction_id: visible[1]!.transactionId.toString(), global_position: visible[1]!.globalPosition.toString() },
    ]);

    const [later] = await append('c', 2);
    expect((await history()).at(-1)!.id).toBe(later!.id);

    // A cursor of a moved event is refused with what to do; one of an event that stayed still works.
    const moved: LogPosition = hidden[0]!;
    await expect(handedOutPosition(em(), encodePosition(moved), 'after')).rejects.toThrow(ValidationError);
    await expect(handedOutPosition(em(), encodePosition(moved), 'after')).rejects.toThrow(/re-based.*start again from the beginning/);
    const kept = visible[1]!;
    expect(await handedOutPosition(em(), encodePosition(kept), 'after')).toEqual({ transactionId: kept.transactionId, globalPosition: kept.globalPosition });
    // A cursor that was never handed out keeps its own refusal.
    await expect(handedOutPosition(em(), encodePosition({ transactionId: 5n, globalPosition: 10_000n }), 'after')).rejects.toThrow(/not a position this API handed out/);
  });

  it('random interleavings of many transactions keep their commit order exactly', async () => {
    // A small deterministic generator, so a failure can be replayed.
    let seed = 7;
    const random = (below: number) => ((seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648), seed % below);
    for (let round = 0; round < 5; round++) {
      const transactions = 5 + random(60);
      // 200 rows of up to 180 transactions, whose positions were taken in random order across the transactions, as concurrent writers take them.
      const rows = Array.from({ length: 200 }, (_, i) => ({ transactionId: FAR + BigInt(random(transactions) * 1_000 + random(3)), streamId: `r-${round}-${i}`, version: 1 }));
      const hidden = await restore(rows);
      await rebaseLog(em(), { storedPositions: [] });
      expect((await history()).map((e) => e.id)).toEqual(commitOrder(hidden).map((e) => e.eventId));
      await query(em(), 'truncate events, log_rebases');
    }
  });

  it('an event appended here into a gap of the restored positions still moves after every restored event', async () => {
    // Logical replication does not carry the sequence, so an append may take a position the origin
    // left unused (a rolled-back transaction's): its position then lies among the restored ones.
    const restored = await restore([
      { transactionId: FAR + 1n, streamId: 'gap', version: 1 },
      { transactionId: FAR + 2n, streamId: 'gap', version: 2 },
    ]);
    const gap = restored[1]!.globalPosition + 1n;
    await query(em(), `select setval(pg_get_serial_sequence('events', 'global_position'), $1::bigint + 1, false)`, [gap.toString()]);
    await restore([{ transactionId: FAR + 3n, streamId: 'gap', version: 3 }]);
    await query(em(), `select setval(pg_get_serial_sequence('events', 'global_position'), $1::bigint, false)`, [gap.toString()]);
    const [appended] = await append('gap', 3);
    expect(appended!.globalPosition).toBe(gap);

    const report = await rebaseLog(em(), { storedPositions: [] });
    expect(report).toMatchObject({ hiddenEvents: 3, appendedHere: 1 });
    expect((await history()).map((e) => e.version)).toEqual([1, 2, 3, 4]);
  });

  it('a second run changes nothing', async () => {
    await restore([
      { transactionId: FAR + 2n, streamId: 'a', version: 1 },
      { transactionId: FAR + 1n, streamId: 'a', version: 2 },
    ]);
    const first = await rebaseLog(em(), { storedPositions: [] });
    expect(first.rebasedEvents).toBe(2);
    const positions = (await history()).map((e) => encodePosition(e));
    const second = await rebaseLog(em(), { storedPositions: [] });
    expect(second).toMatchObject({ hiddenEvents: 0, rebasedEvents: 0, transactionIds: undefined });
    expect((await history()).map((e) => encodePosition(e))).toEqual(positions);
    expect((await query<{ runs: number }>(em(), 'select count(*)::int as runs from log_rebases'))[0]!.runs).toBe(1);
  });

  it('when the new ids do not fit below the cluster\'s counter, the repair takes transaction ids until they do', async () => {
    // The last kept event sits just below the counter, and every hidden transaction took its position
    // after the next one did, so each needs an id of its own.
    const transactions = 300;
    const hidden = await restore(Array.from({ length: transactions }, (_, i) => ({ transactionId: FAR + BigInt(transactions - i), streamId: `s-${i}`, version: 1 })));
    await restore([{ transactionId: (await nextTransactionId()) - 1n, streamId: 'kept', version: 1 }]);
    const report = await rebaseLog(em(), { storedPositions: [] });
    expect(report.transactionIdsConsumed).toBeGreaterThanOrEqual(transactions);
    expect(report.transactionIds!.last - report.transactionIds!.first + 1n).toBe(BigInt(transactions));
    expect(report.transactionIds!.last).toBeLessThan(await nextTransactionId());
    expect((await history()).slice(1).map((e) => e.id)).toEqual(commitOrder(hidden).map((e) => e.eventId));
  });

  it('refuses to run while an API is connected, and changes nothing', async () => {
    await restore([{ transactionId: FAR, streamId: 'a', version: 1 }]);
    const feedSession = new pg.Client({ connectionString: db.database.url, application_name: FEED_APPLICATION_NAME });
    await feedSession.connect();
    try {
      await expect(rebaseLog(em(), { storedPositions: [] })).rejects.toThrow(ApiConnectedError);
      expect(await countHiddenEvents(em())).toBe(1);
    } finally {
      await feedSession.end();
    }
  });
});
