import type { EntityManager } from '@mikro-orm/postgresql';
import type { Logger } from '../../core/logger.ts';
import type { UpcasterRegistry } from '../log/upcasters.ts';

export type FeedOptions = {
  /** For reads (catch-up pages and the follower's batches). Used outside any transaction. */
  readonly em: EntityManager;
  /** Connection string for the dedicated LISTEN connection. */
  readonly databaseUrl: string;
  readonly logger: Logger;
  /** Every event the feed pushes is in its type's current shape. */
  readonly upcasters: UpcasterRegistry;
  /**
   * Fallback poll. NOTIFY wakes the follower on every append's commit; the poll covers wake-ups NOTIFY
   * cannot give, such as a transaction that held the log back ending without appending (a rollback).
   */
  readonly pollIntervalMs?: number;
  /** Events the follower reads per query. */
  readonly batchSize?: number;
  /** Events one live subscriber may have waiting before it is moved back to catch-up reading. */
  readonly bufferSize?: number;
  /** Newest events kept in memory, so subscribers a little behind catch up without a query. */
  readonly recentEvents?: number;
  /** Events one catch-up query reads for one subscriber. */
  readonly catchUpPageSize?: number;
  /** How often the follower measures its lag, to warn in the log about transactions holding it back. */
  readonly lagCheckIntervalMs?: number;
  /** Warn when events are held back by a transaction older than this. */
  readonly lagWarningSeconds?: number;
};

export const FEED_DEFAULTS = {
  pollIntervalMs: 500,
  batchSize: 1000,
  bufferSize: 1000,
  catchUpPageSize: 500,
  recentEvents: 10_000,
  lagCheckIntervalMs: 10_000,
  lagWarningSeconds: 10,
} as const;

/** The tuning options, defaults filled in. */
export type FeedSettings = Required<Omit<FeedOptions, 'em' | 'databaseUrl' | 'logger' | 'upcasters'>>;

/** Counters since the process started, for /metrics. */
export type FeedStats = {
  /** Events the follower read from the log and fanned out. */
  eventsRead: number;
  /** Queries the follower ran on the log (each wake-up reads at least once, finding events or not). */
  logReads: number;
  /** Times a live subscriber fell more than its buffer behind and went back to catch-up reading. */
  fallbacks: number;
  /** Catch-up queries run for subscribers. */
  catchUpPages: number;
  /** Catch-up pages served from the recent events held in memory. */
  catchUpPagesFromMemory: number;
  /** Times the LISTEN connection was re-established. */
  reconnects: number;
  /** Follower reads that failed (retried on the next wake-up or poll). */
  readErrors: number;
  /** Subscriptions ended with a FeedClosedError. */
  subscriptionsFailed: number;
};

export const emptyFeedStats = (): FeedStats => ({
  eventsRead: 0,
  logReads: 0,
  fallbacks: 0,
  catchUpPages: 0,
  catchUpPagesFromMemory: 0,
  reconnects: 0,
  readErrors: 0,
  subscriptionsFailed: 0,
});
