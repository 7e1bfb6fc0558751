import path from 'node:path';
import { z } from 'zod';
import { LOG_LEVELS, type LogLevel } from '../core/logger.ts';
import { DEFAULT_STATE_CACHE_MAX_BYTES } from '../eventStore/commands/stateCache.ts';

/**
 * Every setting the service reads, from environment variables, checked once at start against the
 * schema below (where each variable is described). A bad value stops the process with a message
 * naming the variable, what it got and what it takes; all bad values are reported at once.
 */
export type Config = {
  /** `PORT` */
  readonly port: number;
  /** `HOST` */
  readonly host: string;
  /** `DATABASE_URL`; undefined starts the embedded PostgreSQL. */
  readonly databaseUrl: string | undefined;
  /** `EMBEDDED_PG_DATA_DIR`, resolved to an absolute path. */
  readonly embeddedDataDir: string;
  /** `EMBEDDED_PG_PORT` */
  readonly embeddedPort: number;
  /** `DB_POOL_SIZE` */
  readonly dbPoolSize: number;
  /** `COMMAND_RETRIES` */
  readonly commandRetries: number;
  /** `STATE_CACHE_MAX_BYTES` */
  readonly stateCacheMaxBytes: number;
  /** `GRAPHIQL` */
  readonly graphiql: boolean;
  /** `LOG_LEVEL` */
  readonly logLevel: LogLevel;
};

export class ConfigError extends Error {
  constructor(problems: readonly string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

type Env = Readonly<Record<string, string | undefined>>;

// Each check's message completes "<VARIABLE> …", so every problem reads the same way.
const wholeNumber = (min: number, max: number) =>
  z
    .string()
    .refine((raw) => Number.isInteger(Number(raw)) && Number(raw) >= min && Number(raw) <= max, {
      error: (issue) => `must be a whole number from ${min} to ${max}, got "${String(issue.input)}"`,
    })
    .transform(Number);

const flag = () =>
  z
    .string()
    .trim()
    .pipe(z.stringbool({ truthy: ['true', '1', 'yes'], falsy: ['false', '0', 'no'], case: 'insensitive', error: (issue) => `must be true or false, got "${String(issue.input)}"` }));

const postgresUrl = () =>
  z
    .string()
    .trim()
    .refine((raw) => URL.canParse(raw), {
      error: (issue) => `must be a URL like postgres://user:password@host:5432/database, got "${String(issue.input)}"`,
      abort: true,
    })
    .refine((raw) => ['postgres:', 'postgresql:'].includes(new URL(raw).protocol), {
      error: (issue) => `must start with postgres:// or postgresql://, got "${new URL(String(issue.input)).protocol}//"`,
    });

/** The variables, their defaults and what each means (the README's configuration table says the same). */
const variables = z.object({
  PORT: wholeNumber(0, 65535).default(4000).describe('HTTP and WebSocket port. 0 picks a free one (the log says which).'),
  HOST: z.string().trim().default('0.0.0.0').describe('Interface to bind; the default 0.0.0.0 makes containers reachable.'),
  DATABASE_URL: postgresUrl()
    .optional()
    .describe('PostgreSQL to use, e.g. postgres://user:pass@host:5432/db. Unset starts an embedded PostgreSQL with its data in EMBEDDED_PG_DATA_DIR.'),
  EMBEDDED_PG_DATA_DIR: z.string().trim().default('.data/postgres').transform((dir) => path.resolve(dir)).describe('Data directory of the embedded PostgreSQL.'),
  EMBEDDED_PG_PORT: wholeNumber(0, 65535).default(0).describe('Port of the embedded PostgreSQL; 0 picks a free one.'),
  DB_POOL_SIZE: wholeNumber(1, 500).default(10).describe('Connections in the pool.'),
  COMMAND_RETRIES: wholeNumber(0, 100).default(5).describe('Re-decisions of a command after a version conflict when the caller set no expectedVersion.'),
  STATE_CACHE_MAX_BYTES: wholeNumber(0, 64 * 1024 ** 3)
    .default(DEFAULT_STATE_CACHE_MAX_BYTES)
    .describe('Estimated heap, in bytes, for the aggregate states this process remembers after its commits (so a command skips reading its stream); 0 remembers none.'),
  GRAPHIQL: flag().default(true).describe('Serve GraphiQL on GET /graphql (true|false, 1|0, yes|no).'),
  LOG_LEVEL: z
    .string()
    .trim()
    .toLowerCase()
    .pipe(z.enum(LOG_LEVELS, { error: (issue) => `must be one of ${LOG_LEVELS.join(', ')}, got "${String(issue.input)}"` }))
    .default('info')
    .describe('Lowest level logged as JSON lines on stderr: debug, info, warn or error.'),
});

export function loadConfig(env: Env = process.env): Config {
  // A variable set to blanks counts as unset, so `PORT=` in a compose file means the default.
  const given = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== undefined && value.trim() !== ''));
  const parsed = variables.safeParse(given);
  if (!parsed.success) throw new ConfigError(parsed.error.issues.map((issue) => `${issue.path.join('.')} ${issue.message}`));
  const v = parsed.data;
  return {
    port: v.PORT,
    host: v.HOST,
    databaseUrl: v.DATABASE_URL,
    embeddedDataDir: v.EMBEDDED_PG_DATA_DIR,
    embeddedPort: v.EMBEDDED_PG_PORT,
    dbPoolSize: v.DB_POOL_SIZE,
    commandRetries: v.COMMAND_RETRIES,
    stateCacheMaxBytes: v.STATE_CACHE_MAX_BYTES,
    graphiql: v.GRAPHIQL,
    logLevel: v.LOG_LEVEL,
  };
}

/** The URL with its password hidden, for logs. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '<unparseable url>';
  }
}
