import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * core ← eventStore ← graphql ← modules ← app: each layer may import only its own and lower ones,
 * and a module never imports another module. (`src/db` is infrastructure at the core's level.)
 */
const SRC = path.resolve(import.meta.dirname, '../src');
const LAYERS = ['core', 'eventStore', 'graphql', 'modules', 'app'] as const;

function layerOf(file: string): { layer: (typeof LAYERS)[number]; module?: string } {
  const [top, next] = path.relative(SRC, file).split(path.sep);
  if (top === 'core' || top === 'db') return { layer: 'core' };
  if (top === 'eventStore' || top === 'graphql' || top === 'app') return { layer: top };
  if (top === 'modules') return next && !next.endsWith('.ts') ? { layer: 'modules', module: next } : { layer: 'modules' };
  if (top === 'main.ts') return { layer: 'app' };
  throw new Error(`${file} is in no layer`);
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(full);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.spec.ts') ? [full] : [];
  });
}

function relativeImports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(/(?:^|\n)\s*(?:import|export)[^'"]*?from\s+'(\.{1,2}\/[^']+)'/g)].map((match) => path.resolve(path.dirname(file), match[1]!));
}

describe('the layers', () => {
  it('point one way: no file imports from a layer above its own, nor one module from another', () => {
    const violations: string[] = [];
    for (const file of sourceFiles(SRC)) {
      const from = layerOf(file);
      for (const target of relativeImports(file)) {
        if (!target.startsWith(SRC)) continue;
        const to = layerOf(target);
        const upward = LAYERS.indexOf(to.layer) > LAYERS.indexOf(from.layer);
        const sideways = from.module !== undefined && to.module !== undefined && from.module !== to.module;
        if (upward || sideways) violations.push(`${path.relative(SRC, file)} → ${path.relative(SRC, target)}`);
      }
    }
    expect(violations).toEqual([]);
  });

  it('name the modules in one list only: nothing outside src/modules and src/app/modules.ts imports a module', () => {
    const namers = sourceFiles(SRC)
      .filter((file) => layerOf(file).layer !== 'modules')
      .filter((file) => relativeImports(file).some((target) => layerOf(target).module !== undefined))
      .map((file) => path.relative(SRC, file));
    expect(namers).toEqual([path.join('app', 'modules.ts')]);
  });
});
