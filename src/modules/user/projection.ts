import { defineEntity, p } from '@mikro-orm/core';
import type { RecordedEvent } from '../../core/message.ts';
import { assertNever } from '../../core/message.ts';
import { query } from '../../db/sql.ts';
import { inlineStreamView, type InlineProjection, type StreamView } from '../../eventStore/projections/projection.ts';
import { EmailAlreadyRegisteredError, type UserEvent } from './user.ts';

export type UserStatus = 'ACTIVE' | 'DEACTIVATED';

/** The `users` read model, one row per user, as queries return it. */
export type UserView = {
  id: string;
  email: string;
  name: string;
  status: UserStatus;
  version: number;
  registeredAt: Date;
  updatedAt: Date;
  deactivatedAt: Date | null;
};

export const UserRecord = defineEntity({
  name: 'User',
  tableName: 'users',
  // Mirrors migrations/ so the ORM's schema diff against a migrated database stays empty.
  indexes: [
    { name: 'users_listing_idx', columns: [{ name: 'registeredAt', sort: 'desc' }, { name: 'id', sort: 'desc' }] },
    { name: 'users_status_idx', columns: [{ name: 'status', sort: 'asc' }, { name: 'registeredAt', sort: 'desc' }, { name: 'id', sort: 'desc' }] },
    { name: 'users_email_idx', properties: ['email'] },
  ],
  properties: {
    id: p.text().primary(),
    email: p.text(),
    name: p.text(),
    status: p.text().$type<UserStatus>(),
    version: p.integer(),
    registeredAt: p.datetime().columnType('timestamptz'),
    updatedAt: p.datetime().columnType('timestamptz'),
    deactivatedAt: p.datetime().columnType('timestamptz').nullable().$type<Date | null>(),
  },
});

/** The read model as a view of each stream, kept inline by the append and rebuilt by `evolveUserView` for time travel. */
export const userView: StreamView<UserView, UserEvent> = {
  name: 'users',
  streamType: 'User',
  version: 1,
  entity: UserRecord as never,
  evolve: evolveUserView,
  // After a revert the row is the one at the target version, as of the revert: `version` stays the stream's.
  reverted: (view, event) => ({ ...view, version: event.version, updatedAt: event.recordedAt }),
};
export const userProjection = inlineStreamView(userView);

/**
 * The email reservations: an email (normalised, the primary key) and the user holding it. Written
 * only by `userEmailReservation` below, in SQL; declared so the ORM knows the whole schema.
 */
export const UserEmailRecord = defineEntity({
  name: 'UserEmail',
  tableName: 'user_emails',
  checks: [{ name: 'user_emails_email_check', expression: 'email = lower(email)' }],
  properties: {
    email: p.text().primary(),
    userId: p.text(),
    claimedAt: p.datetime().columnType('timestamptz'),
  },
});

/** Pure: the user view after one event. Used live (inline) and for `asOf` rebuilds alike. */
export function evolveUserView(view: UserView | null, event: RecordedEvent<UserEvent>): UserView | null {
  if (event.type === 'UserRegistered') {
    return {
      id: event.data.userId,
      email: event.data.email,
      name: event.data.name,
      status: 'ACTIVE',
      version: event.version,
      registeredAt: event.recordedAt,
      updatedAt: event.recordedAt,
      deactivatedAt: null,
    };
  }
  if (view === null) return null;
  const touched = { version: event.version, updatedAt: event.recordedAt };
  switch (event.type) {
    case 'UserRenamed':
      return { ...view, ...touched, name: event.data.name };
    case 'UserDeactivated':
      return { ...view, ...touched, status: 'DEACTIVATED', deactivatedAt: event.recordedAt };
    default:
      return assertNever(event);
  }
}


/**
 * Claims a registration's email in `user_emails` (email is its primary key), in the append
 * transaction. Of two registrations of one email, the second's insert waits for the first
 * transaction: if that commits, the insert does nothing, and throwing here rolls the second
 * command back, events and all; if it rolls back, the second one gets the email. No window exists
 * in which both could win, whatever the number of processes. Deactivation keeps the claim.
 */
const CLAIM_EMAIL_SQL = `
  insert into user_emails (email, user_id, claimed_at) values ($1, $2, $3)
  on conflict (email) do nothing
  returning email`;

export const userEmailReservation: InlineProjection = {
  name: 'user_emails',
  streamTypes: ['User'],
  // Rebuilt from the registrations in commit order, like any projection; it remembers nothing, so
  // the rebuild may run this very object.
  rebuild: { version: 1, entities: [UserEmailRecord], fresh: () => userEmailReservation },
  // Only a registration claims anything; for other user events there is nothing to write, which
  // keeps renames and deactivations on the one-statement append path.
  plan: (_em, events) => (events.some((event) => event.type === 'UserRegistered') ? undefined : { sql: () => [], rows: [] }),
  async apply(em, events) {
    for (const event of events as readonly RecordedEvent<UserEvent>[]) {
      if (event.streamType !== 'User' || event.type !== 'UserRegistered') continue;
      const claimed = await query(em, CLAIM_EMAIL_SQL, [event.data.email, event.streamId, event.recordedAt]);
      if (claimed.length === 0) throw new EmailAlreadyRegisteredError(event.data.email);
    }
  },
};
