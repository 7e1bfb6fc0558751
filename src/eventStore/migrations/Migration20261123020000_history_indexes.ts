import { Migration } from '@mikro-orm/migrations';

/**
 * Indexes for browsing history in commit order. Every history filter is a keyset read ordered by
 * (transaction_id, global_position); an index that starts with the filtered value and continues in
 * that order lets PostgreSQL seek straight to the cursor and read one page, so a deep page costs
 * what the first does. Multi-valued filters (several event types) read each value's index range
 * and merge, see readHistory in src/eventStore/read.ts.
 */
export class Migration20261123020000_history_indexes extends Migration {
  override name = 'Migration20261123020000_history_indexes';

  override up(): void {
    this.addSql('create index events_stream_commit_idx on events (stream_id, transaction_id, global_position)');
    this.addSql('create index events_stream_type_commit_idx on events (stream_type, transaction_id, global_position)');
    this.addSql('create index events_event_type_commit_idx on events (event_type, transaction_id, global_position)');
    this.addSql(`create index events_correlation_commit_idx on events ((metadata->>'correlationId'), transaction_id, global_position)`);
    this.addSql(`create index events_actor_commit_idx on events ((metadata->>'actor'), transaction_id, global_position)`);
    // Time windows: commit order and recording time nearly agree, but not exactly (a slow command
    // records an earlier time than a faster one that commits first), so the window is an exact
    // filter and this index lets the planner find a narrow window without walking the log.
    this.addSql('create index events_recorded_at_idx on events (recorded_at)');
  }

  override down(): void {
    for (const index of ['stream_commit', 'stream_type_commit', 'event_type_commit', 'correlation_commit', 'actor_commit', 'recorded_at']) {
      this.addSql(`drop index if exists events_${index}_idx`);
    }
  }
}
