import type { FeedStats, LogFeed } from './feed.ts';
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

/** One figure the feed reports on /metrics, read when scraped. The app turns these into Prometheus series. */
export type FeedFigure<From> = { readonly name: string; readonly help: string; readonly value: (from: From) => number };

/** Gauges read off the feed itself. */
export const FEED_GAUGES: readonly FeedFigure<LogFeed>[] = [
  { name: 'eventfeed_connected', help: 'Whether the LISTEN connection of the event feed is up (1) or reconnecting (0).', value: (feed) => (feed.connected ? 1 : 0) },
  { name: 'eventfeed_subscriptions', help: 'Live event feed subscriptions open in this process.', value: (feed) => feed.subscriberCount },
  { name: 'eventfeed_position_transaction_id', help: 'Transaction id of the last event the follower handed out.', value: (feed) => Number(feed.position.transactionId) },
  { name: 'eventfeed_position_global', help: 'Global position (sequence number) of the last event the follower handed out.', value: (feed) => Number(feed.position.globalPosition) },
];

/** Gauges that need a measurement of the lag (one query for all of them). */
export const LAG_GAUGES: readonly FeedFigure<LogLag>[] = [
  { name: 'eventfeed_events_behind', help: 'Committed events the follower has not handed out yet (capped at 100000).', value: (lag) => lag.eventsBehind },
  {
    name: 'eventfeed_events_held_back',
    help: 'Committed events no reader may see yet because an older transaction is still running (capped at 100000).',
    value: (lag) => lag.eventsHeldBack,
  },
  {
    name: 'eventfeed_oldest_transaction_age_seconds',
    help: 'Age of the oldest running transaction with a transaction id; it holds back every event committed after it began writing.',
    value: (lag) => lag.oldestOpenTransaction?.ageSeconds ?? 0,
  },
];

/** Counters since the process started. */
export const FEED_COUNTERS: readonly FeedFigure<FeedStats>[] = [
  { name: 'eventfeed_events_read_total', help: 'Events the follower read from the log and fanned out.', value: (stats) => stats.eventsRead },
  { name: 'eventfeed_log_reads_total', help: 'Queries the follower ran on the log, finding events or not.', value: (stats) => stats.logReads },
  { name: 'eventfeed_catch_up_pages_total', help: 'Catch-up queries run for subscribers (replays after a position, and slow subscribers).', value: (stats) => stats.catchUpPages },
  { name: 'eventfeed_catch_up_pages_from_memory_total', help: 'Catch-up pages served from the recent events held in memory, without a query.', value: (stats) => stats.catchUpPagesFromMemory },
  { name: 'eventfeed_subscriber_fallbacks_total', help: 'Times a live subscriber fell a full buffer behind and went back to catch-up reading.', value: (stats) => stats.fallbacks },
  { name: 'eventfeed_subscriptions_failed_total', help: 'Subscriptions ended with FEED_CLOSED (database connection lost).', value: (stats) => stats.subscriptionsFailed },
  { name: 'eventfeed_reconnects_total', help: 'Times the LISTEN connection was re-established.', value: (stats) => stats.reconnects },
  { name: 'eventfeed_read_errors_total', help: 'Follower reads of the log that failed.', value: (stats) => stats.readErrors },
];
