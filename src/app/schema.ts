import { printSortedSchema } from '../graphql/schema.ts';
import { compose } from './composition.ts';
import { modules } from './modules.ts';

/** The app's schema, as `npm run schema` commits it at schema/schema.graphql. */
export const schema = compose(modules).schema;

export const printedSchema = (): string => printSortedSchema(schema);
