import { fork, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { ROOT, stopChild } from './server.ts';

/** A load process speaking a small request/answer protocol over IPC. */
export type LoadProcess = {
  readonly pid: number;
  /** Sends `{ type }` (plus fields) and resolves with the first message of type `answer`. */
  ask<T = any>(message: Record<string, unknown> & { type: string }, answer: string, timeoutMs?: number): Promise<T>;
  stop(): Promise<void>;
  readonly child: ChildProcess;
};

export async function startLoadProcess(script: string, argument: unknown, options: { execArgv?: string[] } = {}): Promise<LoadProcess> {
  const child = fork(path.join(ROOT, script), [JSON.stringify(argument)], {
    cwd: ROOT,
    execArgv: options.execArgv ?? [],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    serialization: 'advanced',
  });
  const waitFor = <T>(answer: string, timeoutMs: number) =>
    new Promise<T>((resolve, reject) => {
      const onMessage = (message: any) => {
        if (message?.type !== answer) return;
        cleanup();
        resolve(message as T);
      };
      const onExit = (code: number | null) => {
        cleanup();
        reject(new Error(`${script} exited (${code}) while waiting for "${answer}"`));
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`${script} did not answer "${answer}" within ${timeoutMs} ms`));
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        child.off('message', onMessage);
        child.off('exit', onExit);
      };
      child.on('message', onMessage);
      child.once('exit', onExit);
    });
  await waitFor('ready', 60_000);
  return {
    pid: child.pid!,
    child,
    ask: (message, answer, timeoutMs = 120_000) => {
      const answered = waitFor<any>(answer, timeoutMs);
      child.send(message);
      return answered;
    },
    stop: () => stopChild(child, 5_000),
  };
}
