import { execFile, spawn } from 'node:child_process';
import { open } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { until } from './until.ts';

const run = promisify(execFile);

/**
 * The machine's own PostgreSQL, Debian's `postgresql` service, as every machine these specs run on
 * has it: 127.0.0.1:5432, user postgres, trusted from loopback. It is a cluster of its own, apart
 * from the embedded ones the specs otherwise use (and of another major version, which its own
 * `pg_dump` can read): what a spec needs to move a database between clusters with pg_dump.
 */
export const MACHINE_POSTGRES = { host: '127.0.0.1', port: 5432, user: 'postgres' } as const;
export const MACHINE_POSTGRES_URL = `postgres://${MACHINE_POSTGRES.user}@${MACHINE_POSTGRES.host}:${MACHINE_POSTGRES.port}/postgres`;

const STARTUP_TIMEOUT_MS = 60_000;
/** Where the command that starts the cluster writes its output. */
const SETUP_LOG = path.join(os.tmpdir(), 'machine-postgres-test-setup.log');

/** Why a connection failed, or undefined when the server answered a query. */
async function connectFailure(): Promise<Error | undefined> {
  const client = new pg.Client({ connectionString: MACHINE_POSTGRES_URL, connectionTimeoutMillis: 2_000 });
  try {
    await client.connect();
    await client.query('select 1');
    return undefined;
  } catch (error) {
    return error as Error;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Nothing listens (yet), or the server is still starting up or shutting down: worth starting, or waiting for. */
function notRunning(error: Error & { code?: string }): boolean {
  return ['ECONNREFUSED', 'ECONNRESET', '57P03'].includes(error.code ?? '') || /timeout|Connection terminated/i.test(error.message);
}

/**
 * Makes sure the machine's PostgreSQL answers on 127.0.0.1:5432 (one connection when it does). When
 * nothing answers, starts the Debian cluster that owns port 5432 (`pg_lsclusters`) with
 * `pg_ctlcluster --skip-systemctl-redirect`, as root, and waits until it accepts connections. It
 * does not install or reconfigure the service: without one, or when it refuses the `postgres` user
 * from loopback, this fails saying so (a spec that needs it is never skipped).
 */
export async function ensureMachinePostgres(log: (line: string) => void = (line) => process.stderr.write(`${line}\n`)): Promise<void> {
  const failure = await connectFailure();
  if (!failure) return;
  const where = `${MACHINE_POSTGRES.host}:${MACHINE_POSTGRES.port}`;
  if (!notRunning(failure)) {
    throw new Error(`The machine's PostgreSQL on ${where} refused user ${MACHINE_POSTGRES.user} (${failure.message}): the specs expect "host all all 127.0.0.1/32 trust" in its pg_hba.conf.`);
  }
  const cluster = await clusterOnPort(MACHINE_POSTGRES.port);
  if (!cluster) {
    throw new Error(
      `No PostgreSQL answers on ${where} (${failure.message}) and pg_lsclusters lists no cluster on port ${MACHINE_POSTGRES.port}. Install and start one, e.g. on Debian or Ubuntu: sudo apt-get install postgresql, with "host all all 127.0.0.1/32 trust" in its pg_hba.conf.`,
    );
  }
  if (cluster.status !== 'online') {
    if (process.getuid?.() !== 0) throw new Error(`The machine's PostgreSQL ${cluster.version}/${cluster.name} is ${cluster.status}; start it: sudo pg_ctlcluster ${cluster.version} ${cluster.name} start`);
    log(`machine postgres: nothing answers on ${where}; starting cluster ${cluster.version}/${cluster.name} (it keeps running after the tests, as the service would)`);
    // Not through systemctl: these machines run no init system.
    await runToExit('pg_ctlcluster', ['--skip-systemctl-redirect', cluster.version, cluster.name, 'start']);
  }
  await until(async () => !(await connectFailure()), `the machine's PostgreSQL to accept connections on ${where} (see ${SETUP_LOG} and /var/log/postgresql)`, STARTUP_TIMEOUT_MS);
}

type Cluster = { version: string; name: string; status: string };

/** The Debian cluster configured for `port`, from `pg_lsclusters` (undefined without postgresql-common or such a cluster). */
async function clusterOnPort(port: number): Promise<Cluster | undefined> {
  let listed: string;
  try {
    ({ stdout: listed } = await run('pg_lsclusters', ['--no-header'], { timeout: 30_000 }));
  } catch {
    return undefined;
  }
  // Ver Cluster Port Status Owner Data-directory Log-file
  const clusters = listed
    .split('\n')
    .map((line) => line.trim().split(/\s+/))
    .filter((fields) => fields.length >= 4);
  const found = clusters.find((fields) => Number(fields[2]) === port);
  return found ? { version: found[0]!, name: found[1]!, status: found[3]! } : undefined;
}

/**
 * Runs a command until it exits, its output appended to SETUP_LOG. Not through pipes: the server
 * it starts keeps the descriptors it inherited, and a pipe it held would never close.
 */
async function runToExit(command: string, args: readonly string[]): Promise<void> {
  const output = await open(SETUP_LOG, 'a');
  try {
    await new Promise<void>((resolve, reject) => {
      const child = spawn(command, [...args], { stdio: ['ignore', output.fd, output.fd] });
      child.once('error', reject);
      child.once('exit', (code, signal) => (code === 0 ? resolve() : reject(new Error(`${command} ${args.join(' ')} exited with ${code ?? signal}; see ${SETUP_LOG}`))));
    });
  } finally {
    await output.close();
  }
}
