import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { CommandObserver } from '../eventStore/commands/commandHandler.ts';
import type { LogFeed } from '../eventStore/feed/feed.ts';
import { FEED_COUNTERS, FEED_GAUGES, LAG_GAUGES } from '../eventStore/feed/feedMetrics.ts';
import type { LogLag } from '../eventStore/feed/lag.ts';
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
 * operations, commands, and the live feed's figures, read from the feed at each scrape.
 */
export function createMetrics(feed: LogFeed): AppMetrics {
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
