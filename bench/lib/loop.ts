import { Samples, round, sleep, summarize, type LatencySummary } from './stats.ts';

export type LoopResult = {
  concurrency: number;
  durationS: number;
  commands: number;
  events: number;
  eventsPerS: number;
  commandsPerS: number;
  latencyMs: LatencySummary;
  errors: number;
  firstError?: string;
};

export type Timer = {
  /** Runs one command; its latency and events count when it starts and ends inside the measured window. */
  command<T>(events: number, work: () => Promise<T>): Promise<T>;
  readonly running: boolean;
};

/**
 * A closed loop: `concurrency` clients, each issuing its next command when the last one answered.
 * A warm-up runs first and is not counted; then commands that start and finish inside the measured
 * window are counted.
 */
export async function closedLoop(options: {
  concurrency: number;
  warmupMs: number;
  durationMs: number;
  client: (index: number, timer: Timer) => Promise<void>;
}): Promise<LoopResult> {
  let phase: 'warmup' | 'measure' | 'stop' = 'warmup';
  let measureStart = Infinity;
  let measureEnd = Infinity;
  const latencies = new Samples();
  let events = 0;
  let errors = 0;
  let firstError: string | undefined;
  const timer: Timer = {
    get running() {
      return phase !== 'stop';
    },
    async command(count, work) {
      const start = performance.now();
      try {
        const result = await work();
        const end = performance.now();
        if (start >= measureStart && end <= measureEnd) {
          latencies.push(end - start);
          events += count;
        }
        return result;
      } catch (error) {
        errors++;
        firstError ??= error instanceof Error ? error.message : String(error);
        throw error;
      }
    },
  };
  const clients = Array.from({ length: options.concurrency }, async (_, index) => {
    while (phase !== 'stop') {
      try {
        await options.client(index, timer);
      } catch {
        // counted by the timer; a failing client backs off a little so errors cannot spin
        await sleep(5);
      }
    }
  });
  await sleep(options.warmupMs);
  phase = 'measure';
  measureStart = performance.now();
  await sleep(options.durationMs);
  measureEnd = performance.now();
  phase = 'stop';
  await Promise.all(clients);
  const durationS = (measureEnd - measureStart) / 1000;
  const latencyMs = summarize(latencies.values());
  return {
    concurrency: options.concurrency,
    durationS: round(durationS, 3),
    commands: latencyMs.count,
    events,
    eventsPerS: round(events / durationS, 1),
    commandsPerS: round(latencyMs.count / durationS, 1),
    latencyMs,
    errors,
    ...(firstError ? { firstError } : {}),
  };
}
