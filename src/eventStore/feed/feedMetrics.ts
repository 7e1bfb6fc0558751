import type { LogFeed } from './feed.ts';
import type { LogLag } from './lag.ts';
import { encodePosition } from '../log/position.ts';

/** The feed's part of /health: whether it is connected, where it is, and what holds it back. */
export async function feedHealth(feed: LogFeed) {
  const lag = await feed.lag();
  return {
    connected: feed.connected,
    subscribers: feed.subscriberCount,
    position: encodePosition(feed.position),
    eventsBehind: lag.eventsBehind,
    eventsHeldBack: lag.eventsHeldBack,
    oldestOpenTransaction: lag.oldestOpenTransaction,
  };
}

type Metric = { name: string; type: 'gauge' | 'counter'; help: string; value: number | bigint };

/** Prometheus text exposition format (version 0.0.4). */
export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** The feed's metrics and the process's memory, in Prometheus text format. */
export async function renderMetrics(feed: LogFeed, lag?: LogLag): Promise<string> {
  const measured = lag ?? (await feed.lag());
  const memory = process.memoryUsage();
  const metrics: Metric[] = [
    { name: 'eventfeed_connected', type: 'gauge', help: 'Whether the LISTEN connection of the event feed is up (1) or reconnecting (0).', value: feed.connected ? 1 : 0 },
    { name: 'eventfeed_subscriptions', type: 'gauge', help: 'Live event feed subscriptions open in this process.', value: feed.subscriberCount },
    { name: 'eventfeed_events_behind', type: 'gauge', help: 'Committed events the follower has not handed out yet (capped at 100000).', value: measured.eventsBehind },
    {
      name: 'eventfeed_events_held_back',
      type: 'gauge',
      help: 'Committed events no reader may see yet because an older transaction is still running (capped at 100000).',
      value: measured.eventsHeldBack,
    },
    {
      name: 'eventfeed_oldest_transaction_age_seconds',
      type: 'gauge',
      help: 'Age of the oldest running transaction with a transaction id; it holds back every event committed after it began writing.',
      value: measured.oldestOpenTransaction?.ageSeconds ?? 0,
    },
    { name: 'eventfeed_position_transaction_id', type: 'gauge', help: 'Transaction id of the last event the follower handed out.', value: feed.position.transactionId },
    { name: 'eventfeed_position_global', type: 'gauge', help: 'Global position (sequence number) of the last event the follower handed out.', value: feed.position.globalPosition },
    { name: 'eventfeed_events_read_total', type: 'counter', help: 'Events the follower read from the log and fanned out.', value: feed.stats.eventsRead },
    { name: 'eventfeed_catch_up_pages_total', type: 'counter', help: 'Catch-up queries run for subscribers (replays after a position, and slow subscribers).', value: feed.stats.catchUpPages },
    { name: 'eventfeed_catch_up_pages_from_memory_total', type: 'counter', help: 'Catch-up pages served from the recent events held in memory, without a query.', value: feed.stats.catchUpPagesFromMemory },
    { name: 'eventfeed_subscriber_fallbacks_total', type: 'counter', help: 'Times a live subscriber fell a full buffer behind and went back to catch-up reading.', value: feed.stats.fallbacks },
    { name: 'eventfeed_subscriptions_failed_total', type: 'counter', help: 'Subscriptions ended with FEED_CLOSED (database connection lost).', value: feed.stats.subscriptionsFailed },
    { name: 'eventfeed_reconnects_total', type: 'counter', help: 'Times the LISTEN connection was re-established.', value: feed.stats.reconnects },
    { name: 'eventfeed_read_errors_total', type: 'counter', help: 'Follower reads of the log that failed.', value: feed.stats.readErrors },
    { name: 'process_resident_memory_bytes', type: 'gauge', help: 'Resident memory size in bytes.', value: memory.rss },
    { name: 'nodejs_heap_used_bytes', type: 'gauge', help: 'V8 heap in use, in bytes.', value: memory.heapUsed },
    { name: 'nodejs_external_memory_bytes', type: 'gauge', help: 'Memory outside the V8 heap held by JavaScript objects (buffers), in bytes.', value: memory.external },
  ];
  return metrics.map((m) => `# HELP ${m.name} ${m.help}\n# TYPE ${m.name} ${m.type}\n${m.name} ${m.value}\n`).join('');
}
