import type { ModuleDefinition } from '../moduleDefinition.ts';
import { Migration20261201000100_user_readers } from './migrations/Migration20261201000100_user_readers.ts';
import { userPolicy } from './policy.ts';
import { userGraphiqlTabs } from './graphiql.ts';
import { userGraphQL } from './graphql.ts';
import { Migration20261123030000_users } from './migrations/Migration20261123030000_users.ts';
import { UserEmailRecord, UserRecord, userEmailReservation, userProjection } from './projection.ts';
import { userDecider } from './user.ts';

/** User registration with an email that is unique among all users. */
export const userModule: ModuleDefinition = {
  name: 'user',
  deciders: [userDecider],
  policies: [userPolicy],
  entities: [UserRecord, UserEmailRecord],
  // The email claim runs before the users view so a taken email fails before any row is written.
  projections: [userEmailReservation, userProjection],
  migrations: [{ name: 'Migration20261123030000_users', class: Migration20261123030000_users }, { name: 'Migration20261201000100_user_readers', class: Migration20261201000100_user_readers }],
  graphql: userGraphQL,
  graphiqlTabs: userGraphiqlTabs,
};
