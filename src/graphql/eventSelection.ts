import { type FieldNode, type GraphQLResolveInfo, Kind, type SelectionSetNode } from 'graphql';
import type { EventColumns } from '../eventStore/log/recorded.ts';

/**
 * The fields of `Event` whose values come from the plain columns and the payload: none reads the
 * metadata. Any other field of an event (`metadata`, or a field an event type declares itself,
 * which may look anywhere in the event) makes the page read every column.
 */
const FIELDS_WITHOUT_METADATA = new Set(['__typename', 'id', 'eventId', 'position', 'streamId', 'streamType', 'version', 'type', 'recordedAt', 'data']);

/** The fields of a connection and of its edges that hold no event data of their own. */
const CONNECTION_FIELDS = new Set(['__typename', 'pageInfo']);
const EDGE_FIELDS = new Set(['__typename', 'cursor']);

/**
 * What a page of an event connection (`edges { node { … } }`) must read of each event, from the
 * query's selection: every column but the metadata when no selected field of a node can look at
 * it, else every column. Fragments and inline fragments count whatever their type condition, and
 * a field under `@skip`/`@include` counts as asked for, so the answer errs towards reading more.
 * A connection or edge field this does not know (a later `nodes` shortcut, say) reads everything.
 */
export function eventColumnsOfConnection(info: GraphQLResolveInfo): EventColumns {
  for (const connectionField of fieldsOf(info.fieldNodes.map((node) => node.selectionSet), info)) {
    const name = connectionField.name.value;
    if (CONNECTION_FIELDS.has(name)) continue;
    if (name !== 'edges') return 'all';
    for (const edgeField of fieldsOf([connectionField.selectionSet], info)) {
      const edgeName = edgeField.name.value;
      if (EDGE_FIELDS.has(edgeName)) continue;
      if (edgeName !== 'node') return 'all';
      for (const nodeField of fieldsOf([edgeField.selectionSet], info)) {
        if (!FIELDS_WITHOUT_METADATA.has(nodeField.name.value)) return 'all';
      }
    }
  }
  return 'withoutMetadata';
}

/** The fields of some selection sets, fragments spread into them; each fragment is visited once. */
function fieldsOf(selectionSets: readonly (SelectionSetNode | undefined)[], info: GraphQLResolveInfo): FieldNode[] {
  const fields: FieldNode[] = [];
  const visited = new Set<string>();
  const visit = (selectionSet: SelectionSetNode | undefined) => {
    for (const selection of selectionSet?.selections ?? []) {
      if (selection.kind === Kind.FIELD) fields.push(selection);
      else if (selection.kind === Kind.INLINE_FRAGMENT) visit(selection.selectionSet);
      else if (!visited.has(selection.name.value)) {
        visited.add(selection.name.value);
        visit(info.fragments[selection.name.value]?.selectionSet);
      }
    }
  };
  for (const selectionSet of selectionSets) visit(selectionSet);
  return fields;
}
