import SchemaBuilder from '@pothos/core';
import ErrorsPlugin from '@pothos/plugin-errors';
import RelayPlugin from '@pothos/plugin-relay';
import ValidationPlugin from '@pothos/plugin-validation';
import { type DomainError, invalidInput } from '../core/errors.ts';
import type { RecordedEvent } from '../core/message.ts';
import type { GraphQLContext } from './context.ts';

export type SchemaTypes = {
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
  // The core interfaces every module may name by string (registered before any module's types).
  Interfaces: { Event: RecordedEvent; Error: DomainError };
};

/**
 * A new Pothos builder. It defines no types: the core GraphQL files and each module add their own
 * (see schema.ts). A builder per schema, not one per process, so an app built from some modules
 * holds exactly their types. Fields are non-null and arguments required unless said otherwise.
 */
export function createBuilder() {
  return new SchemaBuilder<SchemaTypes>({
    plugins: [ErrorsPlugin, ValidationPlugin, RelayPlugin],
    defaultFieldNullability: false,
    defaultInputFieldRequiredness: true,
    validation: {
      validationError: (result) => invalidInput(result.issues.map((issue) => ({ path: issuePath(issue.path), message: issue.message }))) ?? 'Invalid input',
    },
    relay: {
      clientMutationId: 'omit',
      // Objects loaded through node/nodes carry their type, so the Node interface resolves them without isTypeOf.
      brandLoadedObjects: true,
      cursorType: 'String',
      nodeTypeOptions: { description: 'An object with a global id: fetch any of them again with `node(id:)`.' },
      idFieldOptions: { description: 'Global id, unique across every type: the key for client caches and for `node(id:)`.' },
      nodeQueryOptions: { description: 'Any object by its global id (`id`); null when there is none.', args: { id: { description: 'A global id, as any `id` field gives it.' } } },
      nodesQueryOptions: { description: 'Objects by their global ids, in the order given; null for each that does not exist.', args: { ids: { description: 'Global ids, as `id` fields give them.' } } },
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
      // Input refused at the edge is the ValidationError member of a command's result union, like a
      // rule the decider enforces. (Authorization is decided by the command handler, after this.)
      unsafelyHandleInputErrors: true,
      defaultUnionOptions: { description: 'What a command returned: its success type, or one of the errors (each implements Error) it can end with.' },
    },
  });
}

export type Builder = ReturnType<typeof createBuilder>;

/** "input.unitPrice.amount" → "unitPrice.amount": clients name fields of the input they sent. */
function issuePath(path: readonly (PropertyKey | { key: PropertyKey })[] | undefined): string {
  const keys = (path ?? []).map((segment) => String(typeof segment === 'object' ? segment.key : segment));
  return (keys[0] === 'input' ? keys.slice(1) : keys).join('.') || 'input';
}
