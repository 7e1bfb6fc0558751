import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));

describe('the test suites', () => {
  it('every spec file names its suite, so `npm run test:unit`, `test:int` or `test:e2e` runs it', () => {
    const specs = ['src', 'test'].flatMap((folder) =>
      readdirSync(`${root}/${folder}`, { recursive: true, encoding: 'utf8' })
        .filter((file) => file.endsWith('.spec.ts'))
        .map((file) => `${folder}/${file}`),
    );
    expect(specs.length).toBeGreaterThan(10);
    // A spec with another suffix would match no project and silently never run.
    expect(specs.filter((file) => !/\.(unit|int|e2e)\.spec\.ts$/.test(file))).toEqual([]);
  });
});
