import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { CommandObserver } from '../eventStore/commands/commandHandler.ts';
import type { LogFeed } from '../eventStore/feed/feed.ts';
import { FEED_COUNTERS, FEED_GAUGES, LAG_GAUGES } from '../eventStore/feed/feedMetrics.ts';
import type { LogLag } from '../eventStore/feed/lag.ts';
import type { ProcessorState, Processors } from '../eventStore/processors/processors.ts';
import type { OperationObserver } from '../graphql/operationMetrics.ts';

/** What `/metrics` serves for one API instance, and the observers that feed it. */
export type AppMetrics = {
  /** Counts commands by type and outcome; hand it to the command environments. */
  readonly commands: CommandObserver;
  /** Counts and times GraphQL operations; hand it to the operation metrics plugin. */
  readonly operations: OperationObserver;
  /** The Prometheus text format's content type. */
  readonly contentType: string;
  /** The exposition text. Rejects when the feed's lag cannot be measured (the database did not answer). */
  render(): Promise<string>;
};

/**
 * The instance's metrics in a registry of its own (never prom-client's global one, so two apps in
 * one process, as in the tests, keep apart): Node's process defaults with event-loop lag, GraphQL
 * operations, commands, the live feed's figures, read from the feed at each scrape, and each
 * processor's lag and failures.
 */
export function createMetrics(feed: LogFeed, processors?: Processors): AppMetrics {
  const register = new Registry();
  const registers = [register];
  collectDefaultMetrics({ register });

  const commands = new Counter({
    name: 'eventstore_commands_total',
    help: 'Commands handled, by command type and outcome (success, replayed, domain_error, version_conflict, error); retry counts each re-decision after a version conflict.',
    labelNames: ['command', 'outcome'] as const,
    registers,
  });
  const operationLabels = ['operation_name', 'operation_type', 'outcome'] as const;
  const operations = new Counter({
    name: 'graphql_operations_total',
    help: 'GraphQL operations by name, type and outcome (ok, or error when the result carried errors or the operation was refused).',
    labelNames: operationLabels,
    registers,
  });
  const operationSeconds = new Histogram({
    name: 'graphql_operation_duration_seconds',
    help: 'Execution time of GraphQL queries and mutations, by name, type and outcome.',
    labelNames: operationLabels,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers,
  });

  // One lag query per scrape however many gauges need it (their collects start together).
  let measuring: Promise<LogLag> | undefined;
  const lag = () => (measuring ??= feed.lag().finally(() => (measuring = undefined)));
  for (const figure of FEED_GAUGES) {
    new Gauge({ name: figure.name, help: figure.help, registers, collect() { this.set(figure.value(feed)); } });
  }
  for (const figure of LAG_GAUGES) {
    new Gauge({ name: figure.name, help: figure.help, registers, async collect() { this.set(figure.value(await lag())); } });
  }
  for (const figure of FEED_COUNTERS) {
    // The feed keeps the running totals; the counter shows them as they are.
    new Counter({ name: figure.name, help: figure.help, registers, collect() { this.reset(); this.inc(figure.value(feed.stats)); } });
  }

  if (processors && processors.definitions.length > 0) registerProcessorMetrics(processors, registers);

  return {
    commands: { observe: (command, outcome) => commands.inc({ command, outcome }) },
    operations: {
      observe: ({ name, type, outcome, seconds }) => {
        const labels = { operation_name: name, operation_type: type, outcome };
        operations.inc(labels);
        if (seconds !== undefined) operationSeconds.observe(labels, seconds);
      },
    },
    contentType: register.contentType,
    render: () => register.metrics(),
  };
}

/**
 * Per processor, whichever process runs it: the lag and parked events are read from the database at
 * each scrape (every replica reports the same figures), failures are this process's own count.
 */
function registerProcessorMetrics(processors: Processors, registers: Registry[]): void {
  let reading: Promise<ProcessorState[]> | undefined;
  const states = () => (reading ??= processors.list().finally(() => (reading = undefined)));
  const perProcessor = (name: string, help: string, value: (state: ProcessorState) => number) =>
    new Gauge({
      name,
      help,
      labelNames: ['processor'] as const,
      registers,
      async collect() {
        for (const state of await states()) this.set({ processor: state.name }, value(state));
      },
    });
  perProcessor('processor_lag_events', 'Events matching a processor\'s filter that it has yet to handle (capped at 100000).', (s) => s.lag.events);
  perProcessor('processor_lag_seconds', 'Age of the oldest event a processor has yet to handle; 0 when it is caught up.', (s) => s.lag.seconds);
  perProcessor('processor_parked_events', 'Events a processor parked that wait for a retry or a skip.', (s) => s.parkedCount);
  perProcessor('processor_running', '1 while some process holds the processor and it is not stopped on a parked event.', (s) => (s.status === 'RUNNING' ? 1 : 0));
  new Gauge({
    name: 'processor_read_your_writes_waiting',
    help: 'Queries in this process waiting for an asynchronous read model to pass their consistentWith position.',
    registers,
    collect() {
      this.set(processors.waiting);
    },
  });
  new Counter({
    name: 'processor_failures_total',
    help: 'Failed attempts of a processor\'s handler in this process (each retry that failed counts).',
    labelNames: ['processor'] as const,
    registers,
    collect() {
      this.reset();
      for (const [processor, counters] of processors.counters) this.inc({ processor }, counters.failures);
    },
  });
  new Counter({
    name: 'processor_parked_total',
    help: 'Events this process parked, per processor.',
    labelNames: ['processor'] as const,
    registers,
    collect() {
      this.reset();
      for (const [processor, counters] of processors.counters) this.inc({ processor }, counters.parked);
    },
  });
}
