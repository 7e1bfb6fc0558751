import { ListeningConnection } from '../../db/listeningConnection.ts';
import type { Logger } from '../../core/logger.ts';
import { EVENTS_CHANNEL } from '../log/append.ts';

/** The application_name of every API's LISTEN session: how the restore repair knows an API is connected. */
export const FEED_APPLICATION_NAME = 'event-feed';

export type ListenerOptions = {
  readonly databaseUrl: string;
  readonly logger: Logger;
  /** A NOTIFY arrived: events committed somewhere; `sender` is the backend process id of the session that sent it. */
  readonly onNotification: (sender: number) => void;
  /** The connection broke; it is already gone (`connected` is false) and reconnecting starts next. */
  readonly onLost: (error: Error) => void;
  /** LISTEN is up again after a loss; commits in between sent no NOTIFY this connection saw. */
  readonly onReconnected: () => void;
};

/**
 * The feed's own connection, outside the pool, that LISTENs for the NOTIFY sent after commits (see
 * commitNotifier.ts). When it breaks it tells the feed at once and reconnects with backoff.
 */
export class LogListener {
  private readonly connection: ListeningConnection;

  constructor(options: ListenerOptions) {
    this.connection = new ListeningConnection({
      databaseUrl: options.databaseUrl,
      applicationName: FEED_APPLICATION_NAME,
      channels: [EVENTS_CHANNEL],
      logger: options.logger,
      describe: 'event feed',
      onLostMeans: 'ending subscriptions and reconnecting',
      onNotification: (_channel, _payload, sender) => options.onNotification(sender),
      onLost: options.onLost,
      onReconnected: options.onReconnected,
    });
  }

  get connected(): boolean {
    return this.connection.client !== undefined;
  }

  /** Connects and LISTENs; throws when it cannot. */
  start(): Promise<void> {
    return this.connection.start();
  }

  stop(): Promise<void> {
    return this.connection.stop();
  }
}
