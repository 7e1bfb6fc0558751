import { Migration } from '@mikro-orm/migrations';

/**
 * The version of each inline projection's code that its live tables were built with, and what its
 * last rebuild took. A projection whose declared version differs is stale until it is rebuilt
 * (see src/eventStore/projections/rebuild.ts). Whether a rebuild is running is not stored: the
 * rebuild's advisory lock says so, and it disappears with a crashed process.
 */
export class Migration20261202030000_projection_versions extends Migration {
  override name = 'Migration20261202030000_projection_versions';

  override up(): void {
    this.addSql(`
      create table if not exists projection_versions (
        name text primary key,
        version integer not null,
        rebuilt_at timestamptz null,
        rebuilt_events bigint null,
        rebuild_seconds double precision null,
        write_pause_ms double precision null
      )`);
  }

  override down(): void {
    this.addSql('drop table if exists projection_versions');
  }
}
