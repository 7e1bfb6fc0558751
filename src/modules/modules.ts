import type { EntitySchema } from '@mikro-orm/core';
import type { InlineProjection } from '../eventStore/projection.ts';
import { EventRecord } from '../eventStore/eventRecord.ts';
import { CartRecord, cartProjection } from './cart/projection.ts';

/**
 * What each aggregate module contributes to the ORM and to the append transaction. Adding an
 * aggregate means adding its folder, its line here, and its graphql.ts import in src/graphql/schema.ts.
 */
export const entities: readonly EntitySchema<any, any>[] = [EventRecord, CartRecord];

export const inlineProjections: readonly InlineProjection[] = [cartProjection];
