import SchemaBuilder from '@pothos/core';
import ErrorsPlugin from '@pothos/plugin-errors';
import RelayPlugin from '@pothos/plugin-relay';
import type { GraphQLContext } from './context.ts';

/**
 * The one Pothos builder. It defines no types: each module's graphql.ts adds its own, and
 * schema.ts imports them all. Fields are non-null and arguments required unless said otherwise.
 */
export const builder = new SchemaBuilder<{
  Context: GraphQLContext;
  DefaultFieldNullability: false;
  DefaultInputFieldRequiredness: true;
  DefaultEdgesNullability: { list: false; items: false };
  DefaultNodeNullability: false;
  Scalars: {
    DateTime: { Input: Date; Output: Date | string };
    JSON: { Input: unknown; Output: unknown };
    SafeInt: { Input: number; Output: number };
  };
}>({
  plugins: [ErrorsPlugin, RelayPlugin],
  defaultFieldNullability: false,
  defaultInputFieldRequiredness: true,
  relay: {
    clientMutationId: 'omit',
    cursorType: 'String',
    edgesFieldOptions: { nullable: { list: false, items: false }, description: 'The items of this page, each with its cursor, in the order of the list.' },
    nodeFieldOptions: { nullable: false, description: 'The item.' },
    // Every connection shares these; a connection may describe its own types more precisely.
    defaultConnectionTypeOptions: { description: 'One page of a list, with what is needed to fetch the pages before and after it.' },
    defaultEdgeTypeOptions: { description: 'One item of a page and the cursor that points at it.' },
    cursorFieldOptions: { description: 'Points at this item: pass it as `after` or `before` to page from here.' },
    pageInfoFieldOptions: { description: 'Where this page sits in the list, and the cursors to continue from.' },
    pageInfoTypeOptions: { description: 'Where a page sits in its list (Relay cursor connections).' },
    hasNextPageFieldOptions: { description: 'Whether items follow this page: fetch them with `first` and `after: endCursor`.' },
    hasPreviousPageFieldOptions: { description: 'Whether items precede this page: fetch them with `last` and `before: startCursor`.' },
    startCursorFieldOptions: { description: "The first item's cursor (the `after`/`before` given, when the page is empty)." },
    endCursorFieldOptions: { description: "The last item's cursor (the `after`/`before` given, when the page is empty)." },
    firstArgOptions: { description: 'Return at most this many items from the start of the list (or from just after `after`). Capped at the maximum page size.' },
    afterArgOptions: { description: 'Start just after the item with this cursor.' },
    lastArgOptions: { description: 'Return at most this many items from the end of the list (or from just before `before`). Capped at the maximum page size.' },
    beforeArgOptions: { description: 'End just before the item with this cursor.' },
  },
  errors: {
    defaultUnionOptions: { description: 'What a command returned: its success type, or one of the errors (each implements Error) it can end with.' },
  },
});
