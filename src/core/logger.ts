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
  return {
    debug: (message, fields) => (fields ? logger.debug(fields, message) : logger.debug(message)),
    info: (message, fields) => (fields ? logger.info(fields, message) : logger.info(message)),
    warn: (message, fields) => (fields ? logger.warn(fields, message) : logger.warn(message)),
    error: (message, fields) => (fields ? logger.error(fields, message) : logger.error(message)),
    child: (bindings) => wrap(logger.child(bindings)),
  };
}

export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {}, child: () => silentLogger };
