import { lexicographicSortSchema, printSchema } from 'graphql';
import { builder } from './builder.ts';
import './scalars.ts';
import './roots.ts';
import './errors.ts';
import '../eventStore/graphql.ts';
import '../modules/cart/graphql.ts';
import '../modules/counter/graphql.ts';
import '../modules/user/graphql.ts';

export const schema = builder.toSchema({ sortSchema: true });

/** The SDL committed at schema/schema.graphql. */
export const printedSchema = (): string => printSchema(lexicographicSortSchema(schema)) + '\n';
