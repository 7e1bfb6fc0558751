import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RecordedEvent } from '../src/core/message.ts';
import { handleCommand } from '../src/eventStore/commands/commandHandler.ts';
import { replayView } from '../src/eventStore/projections/projection.ts';
import { readStream } from '../src/eventStore/log/read.ts';
import { type CounterCommand, counterDecider, type CounterEvent, CounterOutOfRangeError } from '../src/modules/counter/counter.ts';
import { CounterRecord, counterView } from '../src/modules/counter/projection.ts';
import { apiInstance, appUpcasters } from './support/commands.ts';
import { openTestOrm } from './support/database.ts';


let db: Awaited<ReturnType<typeof openTestOrm>>;
beforeAll(async () => {
  db = await openTestOrm(20);
});
afterAll(async () => db?.close());

// One API instance for the spec file, made once the database is open.
let environment: ReturnType<typeof apiInstance>;
beforeAll(() => {
  environment = apiInstance(db.orm);
});
const run = (command: CounterCommand) => handleCommand(environment(), counterDecider, command.data.counterId, command);
const increment = (counterId: string, amount: number): CounterCommand => ({ type: 'IncrementCounter', data: { counterId, amount }, now: new Date() });
const decrement = (counterId: string, amount: number): CounterCommand => ({ type: 'DecrementCounter', data: { counterId, amount }, now: new Date() });

describe('counters projection', () => {
  it('equals a fold of its stream after a long series of increments, decrements and resets', async () => {
    const counterId = 'folded-counter';
    let seed = 11;
    const random = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
    await run(increment(counterId, 5));
    for (let i = 0; i < 50; i++) {
      const roll = random();
      const amount = 1 + Math.floor(random() * 10);
      const command: CounterCommand =
        roll < 0.55 ? increment(counterId, amount) : roll < 0.95 ? decrement(counterId, amount) : { type: 'ResetCounter', data: { counterId }, now: new Date() };
      await run(command).catch((error: unknown) => {
        if (!(error instanceof CounterOutOfRangeError)) throw error; // going below zero is part of the game
      });
    }
    const stream = (await readStream(db.orm.em.fork(), appUpcasters, counterId)) as RecordedEvent<CounterEvent>[];
    const row = await db.orm.em.fork().findOneOrFail(CounterRecord, counterId);
    expect({ ...row }).toEqual(replayView(counterView, stream));
    expect(row.version).toBe(stream.length);
    expect(row.value).toBeGreaterThanOrEqual(0);
  });

  it('concurrent increments of one counter all count', async () => {
    const counterId = 'busy-counter';
    await Promise.all(Array.from({ length: 20 }, (_, i) => run(increment(counterId, i + 1))));
    const row = await db.orm.em.fork().findOneOrFail(CounterRecord, counterId);
    expect(row.value).toBe((20 * 21) / 2);
    expect(row.version).toBe(20);
  });

  it('a refused decrement appends nothing and leaves the projection as it was', async () => {
    const counterId = 'small-counter';
    await run(increment(counterId, 2));
    await expect(run(decrement(counterId, 3))).rejects.toMatchObject({ constructor: CounterOutOfRangeError, code: 'COUNTER_BELOW_ZERO', value: 2 });
    expect(await readStream(db.orm.em.fork(), appUpcasters, counterId)).toHaveLength(1);
    expect(await db.orm.em.fork().findOneOrFail(CounterRecord, counterId)).toMatchObject({ value: 2, version: 1 });
  });
});
