import type { MikroORM } from '@mikro-orm/postgresql';
import type { LogFeed } from '../eventStore/feed/feed.ts';
import { feedHealth } from '../eventStore/feed/feedMetrics.ts';

/** `/health`: ok while the database answers and the live feed is connected; degraded otherwise. */
export async function health(orm: MikroORM, feed: LogFeed) {
  try {
    const connection = await orm.em.getConnection().checkConnection();
    // Subscriptions cannot start while the feed reconnects, so that is degraded too.
    const feedStatus = connection.ok ? await feedHealth(feed) : { connected: feed.connected, subscribers: feed.subscriberCount };
    return {
      status: connection.ok && feedStatus.connected ? 'ok' : 'degraded',
      database: connection.ok ? 'up' : 'down',
      feed: feedStatus,
    };
  } catch {
    return { status: 'degraded', database: 'down' };
  }
}
