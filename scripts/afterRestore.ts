/**
 * Repairs an event log restored (pg_dump/pg_restore) or replicated (logical replication) from another
 * PostgreSQL cluster: re-bases the events' transaction ids below this cluster's counter, keeping
 * their commit order, so that history and live feeds show every event again and new events sort
 * after them. See docs/evolving.md, "Backup and restore".
 *
 *   npm run db:after-restore          (stop every API process first; DATABASE_URL as the API has it)
 *
 * Without DATABASE_URL it starts the embedded PostgreSQL on EMBEDDED_PG_DATA_DIR, as `npm start`
 * does. It migrates the database first, as the API would at start. Safe to run again: a log with
 * nothing to repair is left as it is. Exit codes: 0 done (or nothing to do), 3 refused because an
 * API is connected, 2 bad arguments or configuration, 1 anything else.
 */
import { openDatabase } from '../src/app/app.ts';
import { compose } from '../src/app/composition.ts';
import { loadConfigOrExit, redactUrl } from '../src/app/config.ts';
import { modules } from '../src/app/modules.ts';
import { createLogger } from '../src/core/logger.ts';
import { migrate, openOrm } from '../src/db/orm.ts';
import { ApiConnectedError, rebaseLog } from '../src/eventStore/log/rebase.ts';
import { storedPositions } from '../src/eventStore/storage.ts';

const say = (line: string) => process.stdout.write(`${line}\n`);

const USAGE = `usage: npm run db:after-restore
  Re-bases the transaction ids of events restored or replicated from another PostgreSQL cluster, so that
  history and live feeds show them again (docs/evolving.md, "Backup and restore"). Stop every API process
  first. Reads DATABASE_URL (or starts the embedded PostgreSQL on EMBEDDED_PG_DATA_DIR), as the API does.`;
const args = process.argv.slice(2);
if (args.length > 0) {
  const help = args.every((arg) => arg === '--help' || arg === '-h');
  (help ? process.stdout : process.stderr).write(`${help ? '' : `unknown arguments: ${args.join(' ')}\n`}${USAGE}\n`);
  process.exit(help ? 0 : 2);
}

const config = loadConfigOrExit();
const logger = createLogger(config.logLevel === 'info' ? 'warn' : config.logLevel);
const database = await openDatabase(config, logger);
let exitCode = 0;
try {
  say(`db:after-restore on ${redactUrl(database.url)}`);
  const orm = await openOrm({ url: database.url, poolSize: 2, ...compose(modules).orm });
  try {
    const applied = await migrate(orm);
    if (applied.length > 0) say(`applied migrations: ${applied.join(', ')}`);
    const report = await rebaseLog(orm.em.fork(), { storedPositions, onProgress: (message) => say(`  ${message}`) });
    if (report.sequenceMovedTo !== undefined) say(`moved the global_position sequence up to ${report.sequenceMovedTo}: it lagged behind the log (logical replication does not carry sequences)`);
    if (report.transactionIds === undefined) {
      say('nothing to re-base: every event is visible and later events sort after them');
    } else {
      say(`re-based ${report.rebasedEvents} events (${report.hiddenEvents} were hidden, ${report.appendedHere} appended here since the restore) onto transaction ids ${report.transactionIds.first}..${report.transactionIds.last}`);
      if (report.transactionIdsConsumed > 0) say(`took ${report.transactionIdsConsumed} transaction ids to make room below the counter`);
      for (const [table, rewritten] of Object.entries(report.storedPositions)) say(`rewrote ${rewritten} stored positions in ${table}`);
      say('done: every event is visible again. Cursors of moved events from before now get a VALIDATION error telling clients to start again (docs/evolving.md).');
    }
  } finally {
    await orm.close();
  }
} catch (error) {
  if (error instanceof ApiConnectedError) {
    process.stderr.write(`refused: ${error.message}\n`);
    exitCode = 3;
  } else {
    process.stderr.write(`failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    exitCode = 1;
  }
} finally {
  await database.embedded?.stop();
}
process.exit(exitCode);
