import type pg from 'pg';
import { ListeningConnection } from '../../db/listeningConnection.ts';
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
  private readonly connection: ListeningConnection;

  constructor(options: LeaseConnectionOptions) {
    this.connection = new ListeningConnection({
      databaseUrl: options.databaseUrl,
      applicationName: 'processors',
      channels: [PROGRESS_CHANNEL, CONTROL_CHANNEL],
      logger: options.logger,
      describe: 'processors\' lock connection',
      onLostMeans: 'the processors stop and take their locks again once it is back',
      onNotification: (channel, payload) => {
        if (!payload) return;
        if (channel === PROGRESS_CHANNEL) options.onProgress(payload);
        else if (channel === CONTROL_CHANNEL) options.onControl(payload);
      },
      onLost: () => options.onLost(),
      onReconnected: options.onReconnected,
    });
  }

  /** The live connection (to claim on), or undefined while reconnecting. */
  get current(): pg.Client | undefined {
    return this.connection.client;
  }

  /** Connects and LISTENs; a stop while connecting ends the new session, which would hold locks nobody ends. */
  start(): Promise<void> {
    return this.connection.start();
  }

  /** Ending the session releases every lock it holds. */
  stop(): Promise<void> {
    return this.connection.stop();
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
}
