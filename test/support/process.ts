import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { TEST_AUTH_ENV } from './auth.ts';

export const MAIN = fileURLToPath(new URL('../../src/main.ts', import.meta.url));

export type ServerProcess = {
  readonly child: ChildProcess;
  readonly url: string;
  /** Everything the process wrote to stdout and stderr so far. */
  output(): string;
  /** Resolves with the exit code. */
  readonly exited: Promise<number | null>;
};

/**
 * Runs `node src/main.ts` as `npm start` does and waits for its "API ready" log line. It checks
 * tokens as the test servers do (TEST_AUTH), unless `env` says otherwise: send `tokenFor(…)` ones.
 * `nodeOptions` go before the script, e.g. `--max-old-space-size=128`.
 */
export async function startServerProcess(env: Record<string, string>, options: { timeoutMs?: number; nodeOptions?: readonly string[] } = {}): Promise<ServerProcess> {
  const timeoutMs = options.timeoutMs ?? 60_000;
  const child = spawn(process.execPath, [...(options.nodeOptions ?? []), MAIN], { env: { ...process.env, LOG_LEVEL: 'info', ...TEST_AUTH_ENV, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (chunk) => (output += chunk));
  child.stderr!.on('data', (chunk) => (output += chunk));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start in ${timeoutMs} ms:\n${output}`)), timeoutMs);
    const check = () => {
      const ready = output.split('\n').map(logEntry).find((entry) => entry?.message === 'API ready' && typeof entry.url === 'string');
      if (ready) {
        clearTimeout(timer);
        resolve(ready.url as string);
      }
    };
    child.stdout!.on('data', check);
    child.stderr!.on('data', check);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code} before it was ready:\n${output}`));
    });
  });
  return { child, url, output: () => output, exited };
}

/** Stops a server process with SIGTERM, as an orchestrator would, and kills it if it has not exited `graceMs` later (a process thrashing near its heap limit may never get round to its shutdown). */
export async function stopServerProcess(server: ServerProcess, graceMs = 5_000): Promise<void> {
  if (server.child.exitCode !== null || server.child.signalCode !== null) return;
  server.child.kill('SIGTERM');
  const kill = setTimeout(() => server.child.kill('SIGKILL'), graceMs);
  await server.exited;
  clearTimeout(kill);
}

/** Kills what is left of a spec's server processes at once (its afterAll), and waits for them to exit. */
export async function killServerProcesses(servers: readonly ServerProcess[]): Promise<void> {
  for (const server of servers) if (server.child.exitCode === null && server.child.signalCode === null) server.child.kill('SIGKILL');
  await Promise.all(servers.map((server) => server.exited));
}

/** A JSON log line's fields; undefined for other output (the banner on stdout, a line cut mid-chunk). */
function logEntry(line: string): Record<string, unknown> | undefined {
  try {
    const entry: unknown = JSON.parse(line);
    return typeof entry === 'object' && entry !== null ? (entry as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** Runs `node src/main.ts` to completion (for start-up failures), with TEST_AUTH's settings unless `env` says otherwise. */
export async function runServerProcess(env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  const child = spawn(process.execPath, [MAIN], { env: { ...process.env, ...TEST_AUTH_ENV, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (chunk) => (output += chunk));
  child.stderr!.on('data', (chunk) => (output += chunk));
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  return { code, output };
}

/** Runs a command to completion and returns its exit code and what it printed. */
export function runCommand(command: string, args: readonly string[], options: Pick<SpawnOptions, 'cwd' | 'env'> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, [...args], { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (chunk) => (stdout += chunk));
    child.stderr!.on('data', (chunk) => (stderr += chunk));
    child.once('error', reject);
    child.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}
