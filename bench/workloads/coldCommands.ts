import type { Orm } from '../../src/db/orm.ts';
import { silentLogger } from '../../src/core/logger.ts';
import { compose } from '../../src/app/composition.ts';
import { modules } from '../../src/app/modules.ts';
import { handleCommand } from '../../src/eventStore/commands/commandHandler.ts';
import { SnapshotStore } from '../../src/eventStore/snapshots/snapshots.ts';
import { counterDecider, type CounterCommand } from '../../src/modules/counter/counter.ts';
import { commandEnvironments } from '../lib/environment.ts';
import { withClient } from '../lib/db.ts';
import { Samples, summarize, type LatencySummary } from '../lib/stats.ts';

/**
 * Workload 8: cold commands, the ones a process runs on a stream it remembers nothing of (after a
 * restart, on another instance, or with the state cache off as here). One increment of a counter at
 * a time, timed from the call to the commit: on a 10,000-event counter with the counter module's
 * snapshots (every 100 events), on one without them (the whole stream folded), and on 10-event
 * counters (another one each time, so every command reads ten events).
 */

export type ColdCommandsResult = { longWithSnapshots: LatencySummary; longWithout: LatencySummary; short: LatencySummary };

/** Writes `events` increments to a counter in one statement, as the counter's decider would have (value = version). */
async function seedCounter(url: string, streamId: string, events: number): Promise<void> {
  await withClient(url, (client) =>
    client.query(
      `insert into events (event_id, stream_id, stream_type, stream_version, event_type, data, metadata, recorded_at)
       select gen_random_uuid(), $1, 'Counter', v, 'CounterIncremented', jsonb_build_object('amount', 1, 'value', v), '{"schemaVersion":1}', now()
       from generate_series(1, $2::int) as v`,
      [streamId, events],
    ),
  );
}

async function seedShortCounters(url: string, prefix: string, streams: number, events: number): Promise<void> {
  await withClient(url, (client) =>
    client.query(
      `insert into events (event_id, stream_id, stream_type, stream_version, event_type, data, metadata, recorded_at)
       select gen_random_uuid(), $1 || s, 'Counter', v, 'CounterIncremented', jsonb_build_object('amount', 1, 'value', v), '{"schemaVersion":1}', now()
       from generate_series(1, $2::int) as s, generate_series(1, $3::int) as v`,
      [prefix, streams, events],
    ),
  );
}

const increment = (counterId: string): CounterCommand => ({ type: 'IncrementCounter', data: { counterId, amount: 1 }, now: new Date() });

export async function coldCommandsCell(url: string, orm: Orm, options: { commands: number; run: number }): Promise<ColdCommandsResult> {
  const { snapshots: policies } = compose(modules);
  const snapshots = new SnapshotStore({ policies, logger: silentLogger });
  const withSnapshots = commandEnvironments(orm, { stateCacheMaxBytes: 0, snapshots });
  const without = commandEnvironments(orm, { stateCacheMaxBytes: 0 });
  const long = `long-${options.run}`;
  const full = `full-${options.run}`;
  const short = `short-${options.run}-`;
  // One event short of 10,000, so the first command (not timed) crosses it and leaves the snapshot
  // every later one starts from, as it would on a counter that had been snapshotting all along.
  await seedCounter(url, long, 9_999);
  await seedCounter(url, full, 9_999);
  await seedShortCounters(url, short, options.commands + 1, 9);
  // Each stream's first command through this code (not timed) also gives it its readers and its
  // read-model row, which the seeded events lack; the timed ones then differ only in what they fold.
  await handleCommand(withSnapshots(), counterDecider, long, increment(long));
  await handleCommand(without(), counterDecider, full, increment(full));
  for (let i = 1; i <= options.commands + 1; i++) await handleCommand(without(), counterDecider, `${short}${i}`, increment(`${short}${i}`));
  await snapshots.settled();

  const timed = async (run: () => Promise<unknown>, samples: Samples) => {
    const started = performance.now();
    await run();
    samples.push(performance.now() - started);
  };
  const longSamples = new Samples();
  const fullSamples = new Samples();
  const shortSamples = new Samples();
  // One command of each in turn, each round starting with another kind, so neither a slow moment of
  // the machine nor the 40 ms fold of the stream without snapshots falls on one kind more than the others.
  for (let i = 0; i <= options.commands; i++) {
    const counted = i > 0; // the first round warms connections and code paths
    const sink = (samples: Samples) => (counted ? samples : new Samples());
    const kinds = [
      () => timed(() => handleCommand(withSnapshots(), counterDecider, long, increment(long)), sink(longSamples)),
      () => timed(() => handleCommand(without(), counterDecider, full, increment(full)), sink(fullSamples)),
      () => timed(() => handleCommand(without(), counterDecider, `${short}${i + 1}`, increment(`${short}${i + 1}`)), sink(shortSamples)),
    ];
    for (let k = 0; k < kinds.length; k++) await kinds[(i + k) % kinds.length]!();
  }
  await snapshots.settled();
  return { longWithSnapshots: summarize(longSamples.values()), longWithout: summarize(fullSamples.values()), short: summarize(shortSamples.values()) };
}
