/**
 * Rebuilds one read model from the log while the API keeps serving, and switches it in atomically
 * (see docs/evolving.md, "Rebuilding read models"). Uses the configuration the API starts with
 * (DATABASE_URL, or the embedded PostgreSQL's data directory when the API is not running on it).
 * A progress bar goes to stderr; a JSON line with the result to stdout.
 *
 *   npm run rebuild -- carts
 *   npm run rebuild -- --list
 *
 * Exit codes: 0 rebuilt, 1 failed (the live tables are as they were), 2 usage, 3 a rebuild of it
 * is already running somewhere.
 */
import { parseArgs } from 'node:util';
import { loadConfigOrExit, redactUrl } from '../src/app/config.ts';
import { openDatabase } from '../src/app/app.ts';
import { compose } from '../src/app/composition.ts';
import { modules } from '../src/app/modules.ts';
import { createLogger } from '../src/core/logger.ts';
import { migrate, openOrm } from '../src/db/orm.ts';
import { ReadModels } from '../src/eventStore/projections/readModels.ts';
import { RebuildInProgressError, type RebuildProgress } from '../src/eventStore/projections/rebuild.ts';

const USAGE = `usage: npm run rebuild -- <read model>   (npm run rebuild -- --list shows them and their versions)`;

function stop(message: string, code = 2): never {
  process.stderr.write(`${message}\n`);
  process.exit(code);
}

let parsed;
try {
  parsed = parseArgs({ options: { list: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h', default: false } }, allowPositionals: true, strict: true });
} catch (error) {
  stop(`${error instanceof Error ? error.message : String(error)}\n${USAGE}`);
}
if (parsed.values.help) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}
const name = parsed.positionals[0];
if (!parsed.values.list && (!name || parsed.positionals.length > 1)) stop(USAGE);

const config = loadConfigOrExit();
// Log lines would tear the progress bar: warnings and errors only.
const logger = createLogger(config.logLevel === 'debug' ? 'debug' : 'warn');
const database = await openDatabase(config, logger);
const composition = compose(modules);
const orm = await openOrm({ url: database.url, poolSize: 4, ...composition.orm });
const readModels = new ReadModels({ orm, databaseUrl: database.url, projections: composition.projections, upcasters: composition.upcasters, logger });
const close = async () => {
  await orm.close();
  await database.embedded?.stop();
};
process.on('SIGINT', () => void readModels.stop());
process.on('SIGTERM', () => void readModels.stop());

let exitCode = 0;
try {
  await migrate(orm);
  await readModels.recordUnversioned();
  if (parsed.values.list) {
    for (const status of await readModels.statuses()) {
      process.stdout.write(`${status.name.padEnd(16)} version ${status.version}, built with ${status.builtVersion ?? '-'}: ${status.state}\n`);
    }
  } else if (!readModels.names.includes(name!)) {
    process.stderr.write(`There is no read model named ${name}; there are: ${readModels.names.join(', ')}\n`);
    exitCode = 2;
  } else {
    process.stderr.write(`Rebuilding ${name} in ${redactUrl(database.url)}\n`);
    const bar = progressBar(process.stderr);
    const result = await readModels.run(name!, bar.update);
    bar.end();
    process.stderr.write(`Rebuilt ${name}: ${result.done} events in ${result.elapsedSeconds.toFixed(1)} s, writes paused ${result.writePauseMs.toFixed(1)} ms at the switch\n`);
    process.stdout.write(`${JSON.stringify({ readModel: name, events: result.done, seconds: result.elapsedSeconds, eventsPerSecond: Math.round(result.eventsPerSecond), writePauseMs: result.writePauseMs })}\n`);
  }
} catch (error) {
  if (error instanceof RebuildInProgressError) {
    process.stderr.write(`${error.message}\n`);
    exitCode = 3;
  } else {
    process.stderr.write(`\nThe rebuild failed; the live read model is as it was: ${error instanceof Error ? error.message : String(error)}\n`);
    exitCode = 1;
  }
} finally {
  await close();
}
process.exit(exitCode);

/** One line redrawn in place on a terminal (a line per second otherwise): bar, done/total, events/s, ETA. */
function progressBar(stream: NodeJS.WriteStream) {
  const width = 30;
  let lastLine = 0;
  let lastPhase = '';
  const format = (p: RebuildProgress) => {
    const fraction = p.total > 0 ? Math.min(p.done / p.total, 1) : p.phase === 'done' ? 1 : 0;
    const filled = Math.round(fraction * width);
    const eta = p.etaSeconds === undefined ? '--' : `${Math.ceil(p.etaSeconds)} s`;
    return `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${(fraction * 100).toFixed(0).padStart(3)}%  ${p.done}/${p.total} events  ${Math.round(p.eventsPerSecond)} events/s  ETA ${eta}  ${p.phase}`;
  };
  return {
    update: (p: RebuildProgress) => {
      if (stream.isTTY) {
        stream.write(`\r${format(p)}\u001b[K`);
      } else if (Date.now() - lastLine >= 1_000 || p.phase !== lastPhase) {
        lastLine = Date.now();
        lastPhase = p.phase;
        stream.write(`${format(p)}\n`);
      }
    },
    end: () => {
      if (stream.isTTY) stream.write('\n');
    },
  };
}
