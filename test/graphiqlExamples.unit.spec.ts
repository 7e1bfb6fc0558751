import { describe, expect, it } from 'vitest';
import { parse, validate } from 'graphql';
import { coreGraphiqlTabs as graphiqlTabs } from '../src/graphql/graphiqlExamples.ts';
import { schema } from '../src/app/schema.ts';

describe('the GraphiQL example tabs', () => {
  it.each(graphiqlTabs.map((tab) => [tab.query.split('\n').find((line) => /^(query|mutation|subscription)\b/.test(line)) ?? tab.query.slice(0, 40), tab] as const))(
    '%s is valid against the schema',
    (_name, tab) => {
      const errors = validate(schema, parse(tab.query));
      expect(errors.map((error) => error.message)).toEqual([]);
    },
  );

  it('every tab variables text is a JSON object', () => {
    for (const tab of graphiqlTabs) {
      if (tab.variables !== undefined) expect(JSON.parse(tab.variables)).toBeTypeOf('object');
    }
  });

  it('cover recent events, a stream history, a cart as of a version and a live subscription', () => {
    const operations = graphiqlTabs.map((tab) => tab.query).join('\n');
    expect(operations).toMatch(/query \w+[^{]*\{\s*events\(/);
    expect(operations).toMatch(/stream\(id: \$id\)/);
    expect(operations).toMatch(/cart\(id: \$id, asOf: \{ version: \$version \}\)/);
    expect(operations).toMatch(/subscription \w+[^{]*\{\s*events\(/);
  });
});
