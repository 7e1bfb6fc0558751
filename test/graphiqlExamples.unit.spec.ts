import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { type OperationDefinitionNode, parse, validate } from 'graphql';
import { compose } from '../src/app/composition.ts';
import { modules } from '../src/app/modules.ts';

const { graphiqlTabs } = compose(modules);
import { schema } from '../src/app/schema.ts';

const README = readFileSync(new URL('../README.md', import.meta.url), 'utf8');

/** Every ```graphql block of a markdown text, unindented (blocks inside list items are indented). */
function graphqlBlocks(markdown: string): { line: number; source: string }[] {
  const blocks: { line: number; source: string }[] = [];
  const fence = /^( *)```graphql\n([\s\S]*?)^\1```$/gm;
  for (const match of markdown.matchAll(fence)) {
    const indent = match[1]!.length;
    const source = match[2]!.replace(new RegExp(`^ {0,${indent}}`, 'gm'), '');
    blocks.push({ line: markdown.slice(0, match.index).split('\n').length, source });
  }
  return blocks;
}

/** The README section that walks through the tabs. */
const tour = README.slice(README.indexOf('## A first session in GraphiQL'), README.indexOf('\n## ', README.indexOf('## A first session in GraphiQL') + 1));

const operationsOf = (query: string) => parse(query).definitions.filter((d): d is OperationDefinitionNode => d.kind === 'OperationDefinition');
const operationOf = (query: string): OperationDefinitionNode => {
  const operations = operationsOf(query);
  expect(operations).toHaveLength(1);
  return operations[0]!;
};
/** What GraphiQL calls the tab: its operation's name (several names when a tab holds several operations). */
const tabName = (tab: { query: string }) => operationsOf(tab.query).map((operation) => operation.name?.value ?? '(anonymous)').join(' + ');

describe('the GraphiQL example tabs', () => {
  it.each(graphiqlTabs.map((tab) => [tabName(tab), tab] as const))('%s is one named operation, valid against the schema', (_name, tab) => {
    const errors = validate(schema, parse(tab.query));
    expect(errors.map((error) => error.message)).toEqual([]);
    expect(operationOf(tab.query).name).toBeDefined();
  });

  it('every tab gives a value for each variable its operation requires, as a JSON object', () => {
    for (const tab of graphiqlTabs) {
      const variables = tab.variables === undefined ? {} : (JSON.parse(tab.variables) as Record<string, unknown>);
      expect(variables, tabName(tab)).toBeTypeOf('object');
      const required = (operationOf(tab.query).variableDefinitions ?? []).filter((v) => v.type.kind === 'NonNullType' && !v.defaultValue).map((v) => v.variable.name.value);
      for (const name of required) expect(variables[name], `${tabName(tab)} needs $${name}`).not.toBeUndefined();
      for (const name of Object.keys(variables)) {
        expect((operationOf(tab.query).variableDefinitions ?? []).map((v) => v.variable.name.value), `${tabName(tab)} declares $${name}`).toContain(name);
      }
    }
  });

  it('follow the README tour, tab for tab and in its order', () => {
    const tourNames = [...tour.matchAll(/^\s*\d+\. \*\*(\w+)\*\*/gm)].map((match) => match[1]);
    expect(tourNames.length).toBeGreaterThan(3);
    expect(graphiqlTabs.map(tabName)).toEqual(tourNames);
    // The tour's blocks are those tabs' operations, in the same order.
    const blockNames = graphqlBlocks(tour).map((block) => operationOf(block.source).name?.value);
    expect(blockNames.length).toBeGreaterThan(0);
    expect(blockNames).toEqual(tourNames.filter((name) => blockNames.includes(name)));
  });

  it('cover recent events, a stream history, a cart as of a version and a live subscription', () => {
    const operations = graphiqlTabs.map((tab) => tab.query).join('\n');
    expect(operations).toMatch(/query \w+[^{]*\{\s*events\(/);
    expect(operations).toMatch(/stream\(id: \$id\)/);
    expect(operations).toMatch(/cart\(id: \$id, asOf: \{ version: \$version \}\)/);
    expect(operations).toMatch(/subscription \w+[^{]*\{\s*events\(/);
  });
});

describe('the README', () => {
  const blocks = graphqlBlocks(README);

  it('has GraphQL examples to check', () => {
    expect(blocks.length).toBeGreaterThanOrEqual(4);
  });

  it.each(blocks.map((block) => [block.line, block] as const))('```graphql block at line %i is valid against the schema', (_line, block) => {
    const errors = validate(schema, parse(block.source));
    expect(errors.map((error) => error.message)).toEqual([]);
  });
});
