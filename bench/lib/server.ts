import { spawn, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { mintToken } from '../../src/app/authenticator.ts';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** The API's JWT settings in every run: a secret of the bench's own, so its clients can sign their tokens. */
const BENCH_AUTH = { secret: 'bench-only-secret-that-is-long-enough-for-hs256', issuer: 'eventsourced-graphql-bench', audience: 'eventsourced-graphql', rolesClaim: 'roles' };
const BENCH_AUTH_ENV = {
  AUTH: 'jwt',
  JWT_SECRET: BENCH_AUTH.secret,
  JWT_JWKS_URL: '',
  JWT_ISSUER: BENCH_AUTH.issuer,
  JWT_AUDIENCE: BENCH_AUTH.audience,
  JWT_ROLES_CLAIM: BENCH_AUTH.rolesClaim,
};

/** A token for the bench's API: `roles` of `subject`, for a day (longer than any run). */
export const benchToken = (subject: string, roles: readonly string[]) => mintToken({ ...BENCH_AUTH, subject, roles, expiresIn: '24h' });

/** What the load clients act as unless told otherwise: an administrator, in the Authorization header (HTTP) and the connection params (WebSocket). */
export const BENCH_ADMIN_TOKEN = await benchToken('bench-admin', ['admin']);

export type ApiProcess = {
  readonly url: string;
  readonly wsUrl: string;
  readonly pid: number;
  /** Resident set size of the server process, in bytes (VmRSS from /proc). */
  rss(): Promise<number>;
  /** Total CPU time (user + system) the process has used, in ms. */
  cpuMs(): Promise<number>;
  stop(): Promise<void>;
};

export type ApiOptions = {
  databaseUrl: string;
  /** Write a V8 CPU profile of the server to this directory when it exits. */
  profileDir?: string;
  profileName?: string;
  env?: Record<string, string>;
  /** More node flags for the server, e.g. `--heapsnapshot-signal=SIGUSR2`. */
  execArgv?: string[];
};

/**
 * The API as `npm start` runs it (`node src/main.ts`), in a child process of its own so the load
 * generator never shares its event loop. Loopback only; the port is picked by the kernel.
 */
export async function startApi(options: ApiOptions): Promise<ApiProcess> {
  const execArgv = options.profileDir
    ? ['--cpu-prof', '--cpu-prof-dir', options.profileDir, ...(options.profileName ? ['--cpu-prof-name', options.profileName] : [])]
    : [];
  execArgv.push(...(options.execArgv ?? []));
  const child = spawn(process.execPath, [...execArgv, 'src/main.ts'], {
    cwd: ROOT,
    // The load generators hold thousands of sockets from one address: no per-caller connection limit.
    env: { ...process.env, ...BENCH_AUTH_ENV, NODE_ENV: 'production', DATABASE_URL: options.databaseUrl, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'warn', WS_MAX_CONNECTIONS_PER_CALLER: '0', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const stderr: string[] = [];
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    stderr.push(chunk);
    if (stderr.length > 200) stderr.shift();
    if (process.env.BENCH_VERBOSE) process.stderr.write(`[api] ${chunk}`);
  });
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`API did not start in 60 s:\n${stderr.join('')}`)), 60_000);
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
      const match = /GraphQL API:\s+(http:\/\/\S+)/.exec(out);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`API exited with ${code} before it was ready:\n${stderr.join('')}`));
    });
  });
  child.stdout!.resume();
  const pid = child.pid!;
  return {
    url,
    wsUrl: url.replace(/^http/, 'ws'),
    pid,
    rss: () => processRss(pid),
    cpuMs: () => processCpuMs(pid),
    stop: () => stopChild(child, 20_000),
  };
}

export async function stopChild(child: ChildProcess, graceMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

export async function processRss(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const match = /VmRSS:\s+(\d+)\s+kB/.exec(status);
  return match ? Number(match[1]) * 1024 : Number.NaN;
}

/** utime + stime of a process from /proc/<pid>/stat, in ms. */
export async function processCpuMs(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  return (ticks * 1000) / 100; // USER_HZ is 100 on Linux
}
