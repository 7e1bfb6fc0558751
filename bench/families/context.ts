import type { Row } from '../lib/report.ts';

export type Scale = {
  concurrency: number[];
  commandWarmupMs: number;
  commandDurationMs: number;
  /** Events preloaded for the catch-up and history workloads. */
  logEvents: number;
  /** The small log history is compared against. */
  smallLogEvents: number;
  /** Events per transaction in the preload. */
  eventsPerTransaction: number;
  historyQueries: number;
  /** Events read from the start of the log, page after page, by workload 7. */
  pagingEvents: number;
  liveSubscribers: number;
  /** Subscribers of the live cell where each watches a stream of its own. */
  ownStreamSubscribers: number;
  liveRate: number;
  liveWarmupMs: number;
  liveDurationMs: number;
  idleSubscriptions: number;
  /** Timed cold commands per stream kind and run (workload 8). */
  coldCommands: number;
  /** Events the RabbitMQ forwarder and the bare client each publish per run. */
  forwardEvents: number;
};

export type FamilyContext = {
  readonly serverUrl: string;
  readonly scale: Scale;
  readonly apiPoolSize: number;
  /** Sub-workloads to run (`graphql`, `library`, …); all when undefined. */
  readonly only: Set<string> | undefined;
  /** `startApi` options that turn on CPU profiling of the server child when the run asked for it. */
  profile(name: string): { profileDir?: string; profileName?: string };
  log(message: string): void;
};

export type FamilyResult = { rows: Row[]; notes: string[]; details: Record<string, unknown> };
