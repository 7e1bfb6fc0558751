import type { EntitySchema } from '@mikro-orm/core';
import type { InlineProjection } from '../eventStore/projections/projection.ts';
import { EventRecord } from '../eventStore/log/eventRecord.ts';
import { CommandRecord } from '../eventStore/commands/commandRecord.ts';
import { CartRecord, cartProjection } from '../modules/cart/projection.ts';
import { CounterRecord, counterProjection } from '../modules/counter/projection.ts';
import { UserEmailRecord, UserRecord, userEmailReservation, userProjection } from '../modules/user/projection.ts';

/**
 * What each aggregate module contributes to the ORM and to the append transaction. Adding an
 * aggregate means adding its folder, its line here, and its graphql.ts import in src/graphql/schema.ts.
 */
export const entities: readonly EntitySchema<any, any>[] = [
  EventRecord, CommandRecord,
  CartRecord,
  UserRecord, UserEmailRecord,
  CounterRecord,
];

export const inlineProjections: readonly InlineProjection[] = [
  cartProjection,
  // The email claim runs before the users view so a taken email fails before any row is written.
  userEmailReservation, userProjection,
  counterProjection,
];
