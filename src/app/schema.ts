import { lexicographicSortSchema, printSchema } from 'graphql';
import { builder } from '../graphql/builder.ts';
import '../graphql/scalars.ts';
import '../graphql/roots.ts';
import '../graphql/errors.ts';
import '../graphql/events.ts';
import '../modules/cart/graphql.ts';
import '../modules/counter/graphql.ts';
import '../modules/user/graphql.ts';

export const schema = builder.toSchema({ sortSchema: true });

/** The SDL committed at schema/schema.graphql. */
export const printedSchema = (): string => printSchema(lexicographicSortSchema(schema)) + '\n';
