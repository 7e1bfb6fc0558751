import { Migration } from '@mikro-orm/migrations';

/**
 * Snapshots of aggregate states (see commands/snapshots.ts), keyed by stream, snapshot version and
 * stream version: a cold command finds the newest snapshot of the shape its decider reads with one
 * probe of the primary key, and a changed shape (a new snapshot version) never meets an old one.
 * Only a cache of what the log already says: the table may be emptied at any time.
 */
export class Migration20261202020000_snapshots extends Migration {
  override name = 'Migration20261202020000_snapshots';

  override up(): void {
    this.addSql(`
      create table if not exists snapshots (
        stream_id text not null,
        snapshot_version integer not null,
        stream_version integer not null,
        stream_type text not null,
        state jsonb not null,
        taken_at timestamptz not null default now(),
        constraint snapshots_pkey primary key (stream_id, snapshot_version, stream_version)
      )`);
  }

  override down(): void {
    this.addSql('drop table if exists snapshots');
  }
}
