import { defineConfig } from 'vitest/config';

/** The test projects, by file suffix: `npm run test:unit`, `test:int` and `test:e2e` run one each. */
const suites = {
  unit: ['src/**/*.unit.spec.ts', 'test/**/*.unit.spec.ts'],
  int: ['src/**/*.int.spec.ts', 'test/**/*.int.spec.ts'],
  e2e: ['src/**/*.e2e.spec.ts', 'test/**/*.e2e.spec.ts'],
};

export default defineConfig({
  resolve: {
    // graphql 16 ships CJS (what Node and the libraries load) and ESM (what Vite would pick for our
    // sources); two copies break `instanceof` checks, so everything gets the one Node uses.
    alias: [{ find: /^graphql$/, replacement: 'graphql/index.js' }],
  },
  test: {
    // Spec files run in parallel, each against a database of its own on its worker's own PostgreSQL
    // cluster (test/support/globalSetup.ts). An outside DATABASE_URL is one cluster for all, where
    // one spec file's open transactions would hold back the log other files read: one at a time there.
    fileParallelism: true,
    maxWorkers: process.env.DATABASE_URL ? 1 : 2,
    testTimeout: 60_000,
    hookTimeout: 120_000,
    reporters: ['default'],
    projects: [
      // Unit specs need no database, so their project starts none.
      { extends: true, test: { name: 'unit', include: suites.unit } },
      { extends: true, test: { name: 'int', include: suites.int, globalSetup: ['test/support/globalSetup.ts'] } },
      { extends: true, test: { name: 'e2e', include: suites.e2e, globalSetup: ['test/support/globalSetup.ts'] } },
    ],
  },
});
