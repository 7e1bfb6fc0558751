import pg from 'pg';
import type { Logger } from '../core/logger.ts';

export type ListeningConnectionOptions = {
  readonly databaseUrl: string;
  /** Shown in pg_stat_activity; also how other tools recognise the session. */
  readonly applicationName: string;
  /** LISTENed to on every (re)connection. */
  readonly channels: readonly string[];
  readonly logger: Logger;
  /** What the log lines call this connection, e.g. "event feed". */
  readonly describe: string;
  /** Said on the error line when the connection breaks: what the loss means to its owner. */
  readonly onLostMeans: string;
  /** `sender`: the backend process id of the session that sent the NOTIFY. */
  readonly onNotification: (channel: string, payload: string | undefined, sender: number) => void;
  /** The connection broke; it is already gone (`client` is undefined) and reconnecting starts next. */
  readonly onLost: (error: Error) => void;
  /** Up and LISTENing again after a loss; NOTIFYs sent in between were not seen. */
  readonly onReconnected: () => void;
};

/**
 * A session of its own, outside the pool, that LISTENs on some channels (and may hold session
 * state, such as advisory locks). When it breaks, its owner is told at once and it reconnects with
 * backoff (0.2 s doubling to 5 s) until it is back or stopped.
 */
export class ListeningConnection {
  private readonly options: ListeningConnectionOptions;
  private connection: pg.Client | undefined;
  private stopped = false;

  constructor(options: ListeningConnectionOptions) {
    this.options = options;
  }

  /** The live session, or undefined while reconnecting or once stopped. */
  get client(): pg.Client | undefined {
    return this.stopped ? undefined : this.connection;
  }

  /** Connects and LISTENs; throws when it cannot. */
  async start(): Promise<void> {
    const client = await this.connect();
    // Stopped while connecting: nobody would end this session otherwise.
    if (this.stopped) return end(client);
    this.connection = client;
  }

  /** Ends the session (and with it whatever session state it held). */
  async stop(): Promise<void> {
    this.stopped = true;
    const client = this.connection;
    this.connection = undefined;
    await client?.end().catch(() => undefined);
  }

  private async connect(): Promise<pg.Client> {
    const { databaseUrl, applicationName, channels } = this.options;
    const client = new pg.Client({ connectionString: databaseUrl, application_name: applicationName });
    client.on('notification', (message) => this.options.onNotification(message.channel, message.payload, message.processId));
    client.on('error', (error) => this.lost(client, error));
    client.on('end', () => this.lost(client, new Error(`the ${this.options.describe} connection closed`)));
    try {
      await client.connect();
      for (const channel of channels) await client.query(`LISTEN ${channel}`);
    } catch (error) {
      await end(client);
      throw error;
    }
    return client;
  }

  private lost(client: pg.Client, error: Error): void {
    if (this.stopped || client !== this.connection) return;
    this.connection = undefined;
    void end(client);
    this.options.logger.error(`${this.options.describe} lost its database connection; ${this.options.onLostMeans}`, { error });
    this.options.onLost(error);
    void this.reconnect();
  }

  private async reconnect(): Promise<void> {
    const { logger, describe } = this.options;
    for (let attempt = 1; !this.stopped && !this.connection; attempt++) {
      await new Promise((resolve) => setTimeout(resolve, Math.min(100 * 2 ** attempt, 5000)));
      if (this.stopped) return;
      try {
        const client = await this.connect();
        if (this.stopped) return end(client);
        this.connection = client;
        logger.info(`${describe} reconnected`, { attempt });
        this.options.onReconnected();
      } catch (error) {
        logger.warn(`${describe} could not reconnect`, { attempt, error });
      }
    }
  }
}

/** Ends a session given up on, without reacting to its end, and keeps its late errors from crashing the process. */
async function end(client: pg.Client): Promise<void> {
  client.removeAllListeners('end');
  client.removeAllListeners('error');
  client.on('error', () => undefined);
  await client.end().catch(() => undefined);
}
