import type { MikroORM } from '@mikro-orm/postgresql';
import type { LogFeed } from '../eventStore/feed/feed.ts';
import { feedHealth } from '../eventStore/feed/feedMetrics.ts';
import type { ReadModels } from '../eventStore/projections/readModels.ts';
import { AFTER_RESTORE_COMMAND, countHiddenEvents, HIDDEN_EVENTS_COUNT_CAP } from '../eventStore/log/rebase.ts';

/** `/health`'s word on the log: events no reader can see because they came from another cluster, and what to run. */
export type LogHealth =
  | { readonly hiddenEvents: 0 }
  | { readonly hiddenEvents: number; readonly problem: string; readonly run: string; readonly docs: string };

export function logHealth(hiddenEvents: number): LogHealth {
  if (hiddenEvents === 0) return { hiddenEvents: 0 };
  return {
    hiddenEvents,
    problem: `${hiddenEvents === HIDDEN_EVENTS_COUNT_CAP ? `at least ${hiddenEvents}` : hiddenEvents} events carry transaction ids this PostgreSQL cluster has not reached (restored or replicated from another cluster): history and live feeds do not show them, and new events sort before them`,
    run: `${AFTER_RESTORE_COMMAND} (with every API process stopped)`,
    docs: 'docs/evolving.md#backup-and-restore',
  };
}

/**
 * `/health`: ok while the database answers, the live feed is connected and every event is visible;
 * degraded otherwise. `readModels` says which read model is current, stale (built by another
 * version of its code) or rebuilding; neither of the last two degrades the status, because the
 * instance serves complete read models either way, and a 503 would take every instance out of the
 * balancer at once.
 */
export async function health(orm: MikroORM, feed: LogFeed, readModels?: ReadModels) {
  try {
    const connection = await orm.em.getConnection().checkConnection();
    // Subscriptions cannot start while the feed reconnects, so that is degraded too.
    const feedStatus = connection.ok ? await feedHealth(feed) : { connected: feed.connected, subscribers: feed.subscriberCount };
    const models = connection.ok && readModels ? await readModels.statuses() : [];
    const log = connection.ok ? logHealth(await countHiddenEvents(orm.em.fork())) : undefined;
    return {
      status: connection.ok && feedStatus.connected && log?.hiddenEvents === 0 ? 'ok' : 'degraded',
      database: connection.ok ? 'up' : 'down',
      feed: feedStatus,
      ...(readModels ? { readModels: Object.fromEntries(models.map((m) => [m.name, { state: m.state, version: m.version, builtVersion: m.builtVersion ?? null }])) } : {}),
      ...(log ? { log } : {}),
    };
  } catch {
    return { status: 'degraded', database: 'down' };
  }
}
