import pg from 'pg';
import type { Logger } from '../../core/logger.ts';
import { EVENTS_CHANNEL } from '../log/append.ts';

/** The application_name of every API's LISTEN session: how the restore repair knows an API is connected. */
export const FEED_APPLICATION_NAME = 'event-feed';

export type ListenerOptions = {
  readonly databaseUrl: string;
  readonly logger: Logger;
  /** A NOTIFY arrived: events committed somewhere. */
  readonly onNotification: () => void;
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
  private readonly options: ListenerOptions;
  private client: pg.Client | undefined;
  private stopped = false;

  constructor(options: ListenerOptions) {
    this.options = options;
  }

  get connected(): boolean {
    return this.client !== undefined && !this.stopped;
  }

  /** Connects and LISTENs; throws when it cannot. */
  async start(): Promise<void> {
    this.client = await this.connect();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => undefined);
  }

  private async connect(): Promise<pg.Client> {
    const client = new pg.Client({ connectionString: this.options.databaseUrl, application_name: FEED_APPLICATION_NAME });
    client.on('notification', () => this.options.onNotification());
    client.on('error', (error) => this.lost(client, error));
    client.on('end', () => this.lost(client, new Error('the LISTEN connection closed')));
    try {
      await client.connect();
      await client.query(`LISTEN ${EVENTS_CHANNEL}`);
    } catch (error) {
      discard(client);
      await client.end().catch(() => undefined);
      throw error;
    }
    return client;
  }

  /** Without the connection live delivery can't be trusted: tell the feed, then reconnect. */
  private lost(client: pg.Client, error: Error): void {
    if (this.stopped || client !== this.client) return;
    this.client = undefined;
    discard(client);
    client.end().catch(() => undefined);
    this.options.logger.error('event feed lost its database connection; ending subscriptions and reconnecting', { error });
    this.options.onLost(error);
    void this.reconnect();
  }

  private async reconnect(): Promise<void> {
    for (let attempt = 1; !this.stopped && !this.client; attempt++) {
      await new Promise((resolve) => setTimeout(resolve, Math.min(100 * 2 ** attempt, 5000)));
      if (this.stopped) return;
      try {
        const client = await this.connect();
        if (this.stopped) {
          // Shut down while connecting: nobody would end this connection otherwise.
          discard(client);
          await client.end().catch(() => undefined);
          return;
        }
        this.client = client;
        this.options.logger.info('event feed reconnected', { attempt });
        this.options.onReconnected();
      } catch (error) {
        this.options.logger.warn('event feed reconnect failed', { attempt, error });
      }
    }
  }
}

/** Stops reacting to a connection being given up, and keeps its late errors from crashing the process. */
function discard(client: pg.Client): void {
  client.removeAllListeners('end');
  client.removeAllListeners('error');
  client.on('error', () => undefined);
}
