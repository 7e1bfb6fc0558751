import pg from 'pg';
import type { Logger } from '../../core/logger.ts';
import { CONTROL_CHANNEL, PROGRESS_CHANNEL } from './processorStore.ts';

/** The first key of every processor's advisory lock ("PROC"); the second is hashtext(name). */
export const PROCESSOR_LOCK_CLASS = 0x50524f43;

export type LeaseConnectionOptions = {
  readonly databaseUrl: string;
  readonly logger: Logger;
  /** A processor's checkpoint moved (in any process): `name t g` as advanceCheckpoint notifies it. */
  readonly onProgress: (payload: string) => void;
  /** An admin changed a processor (retry, skip, reset). */
  readonly onControl: (name: string) => void;
  /** The connection broke: every lock it held is gone with it. */
  readonly onLost: () => void;
  /** Up again after a loss; the caller takes its locks again. */
  readonly onReconnected: () => void;
};

/**
 * The process's own connection, outside the pool, that holds the session advisory locks of the
 * processors this process runs (one lock per processor: whoever holds it is the only runner), and
 * LISTENs for processors' progress and admin changes. When the process dies, PostgreSQL ends the
 * session and the locks are free for another process at once; when only the connection breaks,
 * the runners stop at once and the epoch in the checkpoint fences whatever they still had in flight.
 */
export class LeaseConnection {
  private readonly options: LeaseConnectionOptions;
  private client: pg.Client | undefined;
  private stopped = false;

  constructor(options: LeaseConnectionOptions) {
    this.options = options;
  }

  /** The live connection (to claim on), or undefined while reconnecting. */
  get current(): pg.Client | undefined {
    return this.stopped ? undefined : this.client;
  }

  async start(): Promise<void> {
    const client = await this.connect();
    // Stopped while connecting: this client would hold locks nobody ends.
    if (this.stopped) {
      discard(client);
      await client.end().catch(() => undefined);
      return;
    }
    this.client = client;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    const client = this.client;
    this.client = undefined;
    // Ending the session releases every lock it holds.
    await client?.end().catch(() => undefined);
  }

  /** Takes the processor's lock if no session holds it; true when this connection holds it now. */
  async tryLock(name: string): Promise<boolean> {
    const client = this.current;
    if (!client) return false;
    const { rows } = await client.query<{ locked: boolean }>('select pg_try_advisory_lock($1, hashtext($2)) as locked', [PROCESSOR_LOCK_CLASS, name]);
    return rows[0]?.locked === true;
  }

  async unlock(name: string): Promise<void> {
    const client = this.current;
    if (!client) return;
    await client.query('select pg_advisory_unlock($1, hashtext($2))', [PROCESSOR_LOCK_CLASS, name]);
  }

  private async connect(): Promise<pg.Client> {
    const client = new pg.Client({ connectionString: this.options.databaseUrl, application_name: 'processors' });
    client.on('notification', (message) => {
      if (message.channel === PROGRESS_CHANNEL && message.payload) this.options.onProgress(message.payload);
      else if (message.channel === CONTROL_CHANNEL && message.payload) this.options.onControl(message.payload);
    });
    client.on('error', () => this.lost(client));
    client.on('end', () => this.lost(client));
    try {
      await client.connect();
      await client.query(`LISTEN ${PROGRESS_CHANNEL}`);
      await client.query(`LISTEN ${CONTROL_CHANNEL}`);
    } catch (error) {
      discard(client);
      await client.end().catch(() => undefined);
      throw error;
    }
    return client;
  }

  private lost(client: pg.Client): void {
    if (this.stopped || client !== this.client) return;
    this.client = undefined;
    discard(client);
    client.end().catch(() => undefined);
    this.options.logger.error('processors lost their lock connection; they stop and take their locks again once it is back');
    this.options.onLost();
    void this.reconnect();
  }

  private async reconnect(): Promise<void> {
    for (let attempt = 1; !this.stopped && !this.client; attempt++) {
      await new Promise((resolve) => setTimeout(resolve, Math.min(100 * 2 ** attempt, 5000)));
      if (this.stopped) return;
      try {
        const client = await this.connect();
        if (this.stopped) {
          discard(client);
          await client.end().catch(() => undefined);
          return;
        }
        this.client = client;
        this.options.logger.info('processors reconnected their lock connection', { attempt });
        this.options.onReconnected();
      } catch (error) {
        this.options.logger.warn('processors could not reconnect their lock connection', { attempt, error });
      }
    }
  }
}

function discard(client: pg.Client): void {
  client.removeAllListeners('end');
  client.removeAllListeners('error');
  client.on('error', () => undefined);
}
