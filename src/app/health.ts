import type { MikroORM } from '@mikro-orm/postgresql';
import type { LogFeed } from '../eventStore/feed/feed.ts';
import { feedHealth } from '../eventStore/feed/feedMetrics.ts';
import type { ReadModels } from '../eventStore/projections/readModels.ts';

/**
 * `/health`: ok while the database answers and the live feed is connected; degraded otherwise.
 * `readModels` says which read model is current, stale (built by another version of its code) or
 * rebuilding; neither of the last two degrades the status, because the instance serves complete
 * read models either way, and a 503 would take every instance out of the balancer at once.
 */
export async function health(orm: MikroORM, feed: LogFeed, readModels?: ReadModels) {
  try {
    const connection = await orm.em.getConnection().checkConnection();
    // Subscriptions cannot start while the feed reconnects, so that is degraded too.
    const feedStatus = connection.ok ? await feedHealth(feed) : { connected: feed.connected, subscribers: feed.subscriberCount };
    const models = connection.ok && readModels ? await readModels.statuses() : [];
    return {
      status: connection.ok && feedStatus.connected ? 'ok' : 'degraded',
      database: connection.ok ? 'up' : 'down',
      feed: feedStatus,
      ...(readModels ? { readModels: Object.fromEntries(models.map((m) => [m.name, { state: m.state, version: m.version, builtVersion: m.builtVersion ?? null }])) } : {}),
    };
  } catch {
    return { status: 'degraded', database: 'down' };
  }
}
