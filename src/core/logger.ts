import { pino, stdSerializers, stdTimeFunctions, type DestinationStream, type Logger as PinoLogger } from 'pino';

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export type LogFields = Record<string, unknown>;

/**
 * Structured logging, one JSON line per entry on stderr, so operators can ship it anywhere. The call
 * shape is the project's own (message first, then fields) so code does not depend on pino's.
 */
export type Logger = {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  /** A logger that adds `bindings` (e.g. a request's correlation id) to every line it writes. */
  child(bindings: LogFields): Logger;
};

/** Errors with their stack, own fields and cause chain; bigints as strings (JSON has no 64-bit integers). */
function serialiseFields(fields: LogFields): LogFields {
  const out: LogFields = {};
  for (const [key, value] of Object.entries(fields)) out[key] = serialise(value);
  return out;
}

function serialise(value: unknown): unknown {
  if (value instanceof Error) {
    const serialised = stdSerializers.errWithCause(value) as unknown as LogFields;
    // errWithCause keeps only causes that are errors; a string or object cause explains just as much.
    if (value.cause !== undefined && serialised.cause === undefined) serialised.cause = serialise(value.cause);
    return serialised;
  }
  if (typeof value === 'bigint') return value.toString();
  return value;
}

/**
 * A pino logger at `level` writing to `destination` (stderr by default, synchronously so the last
 * lines before `process.exit` are not lost). Tests pass a destination to read the lines back.
 * Lines look like `{"level":"info","time":"…","pid":1,"hostname":"…",…fields,"message":"…"}`.
 */
export function createLogger(level: LogLevel, destination: DestinationStream = pino.destination({ dest: 2, sync: true })): Logger {
  return wrap(
    pino(
      {
        level,
        messageKey: 'message',
        timestamp: stdTimeFunctions.isoTime,
        formatters: { level: (label) => ({ level: label }), bindings: serialiseFields, log: serialiseFields },
      },
      destination,
    ),
  );
}

function wrap(logger: PinoLogger): Logger {
  return new PinoBacked(logger, undefined, undefined);
}

/**
 * The project's call shape over pino. A child is made in pino only when it first writes a line its
 * level lets through: every GraphQL operation gets a child carrying its correlation id, most never
 * write a line, and an idle subscription would otherwise hold a pino child (its bindings serialised,
 * a logger of its own) for as long as it runs. Bindings are read when the child is made.
 */
class PinoBacked implements Logger {
  private made: PinoLogger | undefined;
  private readonly parent: PinoBacked | undefined;
  private readonly bindings: LogFields | undefined;

  constructor(made: PinoLogger | undefined, parent: PinoBacked | undefined, bindings: LogFields | undefined) {
    this.made = made;
    this.parent = parent;
    this.bindings = bindings;
  }

  debug(message: string, fields?: LogFields): void {
    this.write('debug', message, fields);
  }

  info(message: string, fields?: LogFields): void {
    this.write('info', message, fields);
  }

  warn(message: string, fields?: LogFields): void {
    this.write('warn', message, fields);
  }

  error(message: string, fields?: LogFields): void {
    this.write('error', message, fields);
  }

  child(bindings: LogFields): Logger {
    return new PinoBacked(undefined, this, bindings);
  }

  private get pino(): PinoLogger {
    return (this.made ??= this.parent!.pino.child(this.bindings!));
  }

  private write(level: LogLevel, message: string, fields: LogFields | undefined): void {
    // A child has its parent's level (none is ever set on one): the nearest logger already made answers for it.
    let made: PinoBacked = this;
    while (!made.made) made = made.parent!;
    if (!made.made.isLevelEnabled(level)) return;
    const logger = this.pino;
    if (fields) logger[level](fields, message);
    else logger[level](message);
  }
}

export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {}, child: () => silentLogger };
