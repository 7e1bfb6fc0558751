import { Migration } from '@mikro-orm/migrations';

/**
 * The users read model and the email reservations.
 *
 * `user_emails` is not a view of one stream: it is the cross-stream rule "an email belongs to at
 * most one user", kept as a primary key that registration inserts into inside the append
 * transaction. It stays apart from `users` so rebuilding the read model can never loosen the rule.
 */
export class Migration20261123030000_users extends Migration {
  override name = 'Migration20261123030000_users';

  override up(): void {
    this.addSql(`
      create table users (
        id text primary key,
        email text not null,
        name text not null,
        status text not null,
        version integer not null,
        registered_at timestamptz not null,
        updated_at timestamptz not null,
        deactivated_at timestamptz null
      )`);
    this.addSql(`create index users_listing_idx on users (registered_at desc, id desc)`);
    this.addSql(`create index users_status_idx on users (status, registered_at desc, id desc)`);
    this.addSql(`create index users_email_idx on users (email)`);

    this.addSql(`
      create table user_emails (
        email text primary key check (email = lower(email)),
        user_id text not null,
        claimed_at timestamptz not null
      )`);
  }

  override down(): void {
    this.addSql('drop table if exists user_emails');
    this.addSql('drop table if exists users');
  }
}
