import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { printedSchema } from '../src/graphql/schema.ts';

describe('the committed schema', () => {
  it('matches the schema the code builds (run `npm run schema` after changing the API)', () => {
    const committed = readFileSync(new URL('../schema/schema.graphql', import.meta.url), 'utf8');
    expect(printedSchema(), 'schema/schema.graphql is stale: run `npm run schema` and commit it').toBe(committed);
  });
});
