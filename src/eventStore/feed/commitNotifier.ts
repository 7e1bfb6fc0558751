import type { EntityManager } from '@mikro-orm/postgresql';
import pg from 'pg';
import type { Logger } from '../../core/logger.ts';
import { query } from '../../db/sql.ts';
import { EVENTS_CHANNEL } from '../log/append.ts';

/** This process's log follower, as the notifier sees it (LogFeed is one). */
export interface LocalFeed {
  /** Reads the log now and hands out what is new. */
  pump(): Promise<void>;
  /** NOTIFYs this backend session sends are this notifier's (`own`), or no longer are: the feed, already pumped, need not read again for them. */
  notifiesFrom?(sender: number, own: boolean): void;
}

const NOTIFY_SQL = `select pg_notify('${EVENTS_CHANNEL}', '')`;

/**
 * Tells log followers that events committed, from outside the writers' transactions.
 *
 * A NOTIFY inside the append's transaction makes PostgreSQL take its global notification-queue lock
 * at commit, which serialises every committing writer and defeats group commit: measured at 32
 * concurrent single-event appends, about a third of the throughput of the same inserts without it.
 * So the append itself does not notify. After each commit (once the turn of the event loop that
 * committed is done) this process wakes its own feed and sends one NOTIFY for the other instances,
 * with at most one in flight: commits that land while it is on its way are covered by one more
 * NOTIFY afterwards.
 *
 * Given `databaseUrl`, the NOTIFY goes over a connection of its own. Through the pool it queued
 * behind the commands: in the live benchmark (4 writers, 500 commits/s, a pool of 4) other
 * processes' followers were woken about 11 times a second, so every event waited up to ~90 ms
 * before any instance read it. If that connection fails, the pool carries the NOTIFY and the next
 * one connects again.
 */
export class CommitNotifier {
  private readonly em: EntityManager;
  private readonly feed: LocalFeed | undefined;
  private readonly logger: Logger;
  private readonly databaseUrl: string | undefined;
  private sending: Promise<void> | undefined;
  /** Commits told this turn of the event loop, whose read and NOTIFY are yet to start. */
  private deferred: Promise<void> | undefined;
  private pending = false;
  private connection: Promise<pg.Client> | undefined;
  private closed = false;
  /** The backend process id of each of this notifier's own connections. */
  private readonly senders = new WeakMap<pg.Client, number>();

  /** `feed`: this process's own feed, if it has one (a process that only writes has none). */
  constructor(options: { em: EntityManager; feed?: LocalFeed; logger: Logger; databaseUrl?: string }) {
    // A fork never joins a transaction of the caller's, so the NOTIFY cannot end up inside one.
    this.em = options.em.fork();
    this.feed = options.feed;
    this.logger = options.logger;
    this.databaseUrl = options.databaseUrl;
  }

  /**
   * Call after a transaction that appended events has committed (never before). The feed's read and
   * the NOTIFY start once the current turn of the event loop is done, so the command's answer, which
   * is usually written in that same turn, leaves first: each of them is a socket write, and on a
   * busy machine a write that wakes PostgreSQL may cost the writer its core. Commits of one turn
   * share one read and one NOTIFY.
   */
  committed(): void {
    this.deferred ??= new Promise<void>((resolve) =>
      setImmediate(() => {
        this.deferred = undefined;
        this.wake();
        resolve();
      }),
    );
  }

  private wake(): void {
    void this.feed?.pump();
    if (this.sending) {
      this.pending = true;
      return;
    }
    this.sending = this.sendUntilSettled();
  }

  /** Resolves once no NOTIFY is waiting or on its way: wait for it before closing the ORM, or its connection leaks. */
  async settled(): Promise<void> {
    await this.deferred;
    await this.sending;
  }

  /** Waits for a NOTIFY on its way, then closes the notifier's own connection; later commits notify through the pool. */
  async close(): Promise<void> {
    await this.settled();
    this.closed = true;
    const connection = this.connection;
    this.connection = undefined;
    await connection?.then((client) => this.forget(client)).catch(() => undefined);
  }

  private async forget(client: pg.Client): Promise<void> {
    this.releaseSender(client);
    await client.end();
  }

  /** Tells the feed this session's NOTIFYs are ours, until it ends (its process id may then be another session's). */
  private async claimSender(client: pg.Client): Promise<void> {
    const [row] = (await client.query<{ pid: number }>('select pg_backend_pid() as pid')).rows;
    this.senders.set(client, row!.pid);
    this.feed?.notifiesFrom?.(row!.pid, true);
    client.once('end', () => this.releaseSender(client));
  }

  private releaseSender(client: pg.Client): void {
    const sender = this.senders.get(client);
    this.senders.delete(client);
    if (sender !== undefined) this.feed?.notifiesFrom?.(sender, false);
  }

  private async notify(): Promise<void> {
    if (this.databaseUrl !== undefined && !this.closed) {
      const connection = (this.connection ??= this.connect(this.databaseUrl));
      try {
        await (await connection).query(NOTIFY_SQL);
        return;
      } catch {
        // Connecting or the connection failed: forget it (the next NOTIFY connects again) and use the pool.
        if (this.connection === connection) this.connection = undefined;
        void connection.then((client) => this.forget(client)).catch(() => undefined);
      }
    }
    await query(this.em, NOTIFY_SQL);
  }

  private async connect(databaseUrl: string): Promise<pg.Client> {
    const client = new pg.Client({ connectionString: databaseUrl, application_name: 'commit-notifier' });
    // A connection lost between NOTIFYs fails the next query, which falls back to the pool.
    client.on('error', (error) => this.logger.warn('the commit notifier lost its database connection', { error }));
    try {
      await client.connect();
      if (this.feed?.notifiesFrom) await this.claimSender(client);
    } catch (error) {
      await client.end().catch(() => undefined);
      throw error;
    }
    return client;
  }

  private async sendUntilSettled(): Promise<void> {
    try {
      do {
        this.pending = false;
        try {
          await this.notify();
        } catch (error) {
          // Other instances still find the events on their fallback poll.
          this.logger.warn('could not NOTIFY other instances of new events', { error });
        }
      } while (this.pending);
    } finally {
      this.sending = undefined;
    }
  }
}
