import { execFileSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The peers (PostGraphile, Emmett) live in a package of their own, `bench/peers`, with its own lock
 * file and node_modules, so that installing the product never installs them. The bench installs
 * them on first use with `npm ci --prefix bench/peers`, and again whenever the lock file is newer
 * than the install.
 *
 * The code that talks to them sits in this folder and imports them by a specifier held in a
 * variable: Node resolves it from here (bench/peers/node_modules), and the product's typecheck,
 * which runs where the peers are not installed (CI), never looks for their types.
 */
export const PEERS_DIR = path.dirname(fileURLToPath(import.meta.url));

let installed = false;

export function ensurePeersInstalled(log: (message: string) => void = () => undefined): void {
  if (installed) return;
  const lock = path.join(PEERS_DIR, 'package-lock.json');
  // npm writes this file at the end of every install: its age says which lock file it installed.
  const marker = path.join(PEERS_DIR, 'node_modules/.package-lock.json');
  if (!existsSync(marker) || statSync(marker).mtimeMs < statSync(lock).mtimeMs) {
    log('installing the peers: npm ci --prefix bench/peers');
    // npm runs on whatever `node` is first on PATH: make that this Node (24), which the peers require.
    const env = { ...process.env, PATH: `${path.dirname(process.execPath)}${path.delimiter}${process.env.PATH ?? ''}` };
    execFileSync('npm', ['ci', '--prefix', PEERS_DIR, '--no-audit', '--no-fund'], { env, stdio: ['ignore', 'ignore', 'inherit'] });
  }
  installed = true;
}

/** Imports a peer package as installed in bench/peers (untyped: see above). */
export async function importPeer<T = any>(specifier: string): Promise<T> {
  ensurePeersInstalled();
  const name: string = specifier;
  return (await import(name)) as T;
}
