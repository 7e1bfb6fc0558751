import path from 'node:path';
import type { LogLevel } from '../core/logger.ts';

/**
 * Every setting the service reads, from environment variables, validated once at start.
 * A bad value stops the process with a message naming the variable, what it got and what it takes.
 */
export type Config = {
  /** HTTP and WebSocket port. `PORT=0` picks a free one (the log says which). Default 4000. */
  readonly port: number;
  /** Interface to bind. Default `0.0.0.0` so containers are reachable. */
  readonly host: string;
  /**
   * PostgreSQL to use, e.g. `postgres://user:pass@host:5432/db`. When unset an embedded
   * PostgreSQL is started with its data in `embeddedDataDir`.
   */
  readonly databaseUrl: string | undefined;
  /** Data directory of the embedded PostgreSQL (`EMBEDDED_PG_DATA_DIR`). Default `./.data/postgres`. */
  readonly embeddedDataDir: string;
  /** Port of the embedded PostgreSQL (`EMBEDDED_PG_PORT`); 0 picks a free one. Default 0. */
  readonly embeddedPort: number;
  /** Connections in the pool (`DB_POOL_SIZE`). Default 10. */
  readonly dbPoolSize: number;
  /** Retries of a command without `expectedVersion` after a version conflict (`COMMAND_RETRIES`). Default 5. */
  readonly commandRetries: number;
  /** Serve GraphiQL on GET /graphql (`GRAPHIQL`, true|false). Default true. */
  readonly graphiql: boolean;
  /** `debug`, `info`, `warn` or `error` (`LOG_LEVEL`). Default `info`. */
  readonly logLevel: LogLevel;
};

export class ConfigError extends Error {
  constructor(problems: readonly string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

type Env = Readonly<Record<string, string | undefined>>;

export function loadConfig(env: Env = process.env): Config {
  const problems: string[] = [];

  const integer = (name: string, fallback: number, min: number, max: number): number => {
    const raw = env[name];
    if (raw === undefined || raw.trim() === '') return fallback;
    const value = Number(raw);
    if (!Number.isInteger(value) || value < min || value > max) {
      problems.push(`${name} must be a whole number from ${min} to ${max}, got "${raw}"`);
      return fallback;
    }
    return value;
  };

  const boolean = (name: string, fallback: boolean): boolean => {
    const raw = env[name]?.trim().toLowerCase();
    if (raw === undefined || raw === '') return fallback;
    if (['true', '1', 'yes'].includes(raw)) return true;
    if (['false', '0', 'no'].includes(raw)) return false;
    problems.push(`${name} must be true or false, got "${env[name]}"`);
    return fallback;
  };

  const databaseUrl = env.DATABASE_URL?.trim() || undefined;
  if (databaseUrl !== undefined) {
    let parsed: URL | undefined;
    try {
      parsed = new URL(databaseUrl);
    } catch {
      problems.push(`DATABASE_URL must be a URL like postgres://user:password@host:5432/database, got "${databaseUrl}"`);
    }
    if (parsed && !['postgres:', 'postgresql:'].includes(parsed.protocol)) {
      problems.push(`DATABASE_URL must start with postgres:// or postgresql://, got "${parsed.protocol}//"`);
    }
  }

  const logLevel = (env.LOG_LEVEL?.trim().toLowerCase() || 'info') as LogLevel;
  if (!['debug', 'info', 'warn', 'error'].includes(logLevel)) {
    problems.push(`LOG_LEVEL must be one of debug, info, warn, error, got "${env.LOG_LEVEL}"`);
  }

  const config: Config = {
    port: integer('PORT', 4000, 0, 65535),
    host: env.HOST?.trim() || '0.0.0.0',
    databaseUrl,
    embeddedDataDir: path.resolve(env.EMBEDDED_PG_DATA_DIR?.trim() || '.data/postgres'),
    embeddedPort: integer('EMBEDDED_PG_PORT', 0, 0, 65535),
    dbPoolSize: integer('DB_POOL_SIZE', 10, 1, 500),
    commandRetries: integer('COMMAND_RETRIES', 5, 0, 100),
    graphiql: boolean('GRAPHIQL', true),
    logLevel,
  };
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
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
