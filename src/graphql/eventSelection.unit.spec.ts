import { describe, expect, it } from 'vitest';
import { type FieldNode, type FragmentDefinitionNode, type GraphQLResolveInfo, Kind, type OperationDefinitionNode, parse } from 'graphql';
import { eventColumnsOfConnection } from './eventSelection.ts';

/** What the resolver of the query's first field sees of its selection: its field nodes and the document's fragments. */
function infoOf(source: string): GraphQLResolveInfo {
  const document = parse(source);
  const operation = document.definitions.find((d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION)!;
  const fragments = Object.fromEntries(
    document.definitions.filter((d): d is FragmentDefinitionNode => d.kind === Kind.FRAGMENT_DEFINITION).map((d) => [d.name.value, d]),
  );
  return { fieldNodes: [operation.selectionSet.selections[0] as FieldNode], fragments } as unknown as GraphQLResolveInfo;
}

describe('the columns a page of events reads', () => {
  it.each([
    ['the fields of the bench page', '{ events { edges { node { eventId streamId version type recordedAt data } } pageInfo { endCursor hasNextPage } } }'],
    ['aliases', '{ events { e: edges { n: node { id: eventId at: recordedAt payload: data } } } }'],
    ['cursors and __typename', '{ events { __typename edges { cursor __typename node { __typename position streamType } } } }'],
    ['only pageInfo', '{ events { pageInfo { hasNextPage } } }'],
    ['named and inline fragments, nested', 'query { events { ...C } } fragment C on EventConnection { edges { ... on EventEdge { node { ...E } } } } fragment E on Event { type ... on CartItemAdded { data } }'],
  ])('all but the metadata for %s', (_name, source) => {
    expect(eventColumnsOfConnection(infoOf(source))).toBe('withoutMetadata');
  });

  it.each([
    ['metadata', '{ events { edges { node { eventId metadata { actor } } } } }'],
    ['metadata under an alias', '{ events { edges { node { m: metadata { actor } } } } }'],
    ['metadata in a fragment on one event type', 'query { events { edges { node { ...F } } } } fragment F on Event { type ... on CartOpened { metadata { actor } } }'],
    ['a field an event type declares itself', '{ events { edges { node { ... on CartItemAdded { sku } } } } }'],
    ['an edge field it does not know', '{ events { edges { somethingNew node { type } } } }'],
    ['a connection field it does not know', '{ events { nodes { type } } }'],
    ['metadata under @skip, which may be asked for', 'query ($s: Boolean!) { events { edges { node { type metadata @skip(if: $s) { actor } } } } }'],
  ])('every column for %s', (_name, source) => {
    expect(eventColumnsOfConnection(infoOf(source))).toBe('all');
  });

  it('merges every node of the field when it is asked for twice', () => {
    const document = parse('{ events { edges { node { type } } } events { edges { node { metadata { actor } } } } }');
    const [first, second] = (document.definitions[0] as OperationDefinitionNode).selectionSet.selections as FieldNode[];
    expect(eventColumnsOfConnection({ fieldNodes: [first!, second!], fragments: {} } as unknown as GraphQLResolveInfo)).toBe('all');
  });
});
