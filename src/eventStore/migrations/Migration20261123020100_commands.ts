import { Migration } from '@mikro-orm/migrations';

/**
 * Idempotent commands: one row per command a client sent with its own `commandId`, written in the
 * append's transaction. The primary key settles a race between two runs of the same command: the
 * second insert waits for the first transaction, fails, rolls back, and the second run then
 * answers with the first one's result. `content_hash` tells a replay from a reuse of the id.
 */
export class Migration20261123020100_commands extends Migration {
  override name = 'Migration20261123020100_commands';

  override up(): void {
    this.addSql(`
      create table commands (
        command_id text primary key,
        command_name text not null,
        stream_id text not null,
        stream_type text not null,
        content_hash text not null,
        event_ids uuid[] not null,
        stream_version integer not null,
        recorded_at timestamptz not null
      )`);
  }

  override down(): void {
    this.addSql('drop table if exists commands');
  }
}
