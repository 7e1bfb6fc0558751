import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/app/config.ts';

function problemsOf(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error.message.split('\n').slice(1).map((line) => line.replace(/^ {2}- /, ''));
    throw error;
  }
  throw new Error('the configuration was accepted');
}

describe('configuration from environment variables', () => {
  it('with nothing set, every setting has its default', () => {
    expect(loadConfig({})).toEqual({
      port: 4000,
      host: '0.0.0.0',
      databaseUrl: undefined,
      embeddedDataDir: path.resolve('.data/postgres'),
      embeddedPort: 0,
      dbPoolSize: 10,
      commandRetries: 5,
      stateCacheMaxBytes: 64 * 1024 * 1024,
      graphiql: true,
      logLevel: 'info',
    });
  });

  it('reads every variable, trimming blanks around values', () => {
    expect(
      loadConfig({
        PORT: ' 8080 ',
        HOST: '127.0.0.1',
        DATABASE_URL: ' postgresql://app:secret@db:5432/events ',
        EMBEDDED_PG_DATA_DIR: '/var/lib/es',
        EMBEDDED_PG_PORT: '5433',
        DB_POOL_SIZE: '20',
        COMMAND_RETRIES: '0',
        STATE_CACHE_MAX_BYTES: '0',
        GRAPHIQL: 'No',
        LOG_LEVEL: ' WARN ',
      }),
    ).toEqual({
      port: 8080,
      host: '127.0.0.1',
      databaseUrl: 'postgresql://app:secret@db:5432/events',
      embeddedDataDir: '/var/lib/es',
      embeddedPort: 5433,
      dbPoolSize: 20,
      commandRetries: 0,
      stateCacheMaxBytes: 0,
      graphiql: false,
      logLevel: 'warn',
    });
  });

  it('a variable set to blanks counts as unset', () => {
    expect(loadConfig({ PORT: '', DATABASE_URL: '  ', GRAPHIQL: ' ', LOG_LEVEL: '' })).toMatchObject({ port: 4000, databaseUrl: undefined, graphiql: true, logLevel: 'info' });
  });

  it('takes true/false, 1/0 and yes/no for GRAPHIQL', () => {
    expect(['true', '1', 'YES', 'false', '0', 'no'].map((GRAPHIQL) => loadConfig({ GRAPHIQL }).graphiql)).toEqual([true, true, true, false, false, false]);
  });

  it('reports every bad value at once, each naming its variable, what it got and what it takes', () => {
    expect(
      problemsOf({
        PORT: 'eighty',
        HOST: 'localhost',
        DATABASE_URL: 'mysql://x',
        EMBEDDED_PG_PORT: '70000',
        DB_POOL_SIZE: '0',
        COMMAND_RETRIES: '2.5',
        STATE_CACHE_MAX_BYTES: '64MB',
        GRAPHIQL: 'maybe',
        LOG_LEVEL: 'loud',
      }),
    ).toEqual([
      'PORT must be a whole number from 0 to 65535, got "eighty"',
      'DATABASE_URL must start with postgres:// or postgresql://, got "mysql://"',
      'EMBEDDED_PG_PORT must be a whole number from 0 to 65535, got "70000"',
      'DB_POOL_SIZE must be a whole number from 1 to 500, got "0"',
      'COMMAND_RETRIES must be a whole number from 0 to 100, got "2.5"',
      'STATE_CACHE_MAX_BYTES must be a whole number from 0 to 68719476736, got "64MB"',
      'GRAPHIQL must be true or false, got "maybe"',
      'LOG_LEVEL must be one of debug, info, warn, error, got "loud"',
    ]);
  });

  it('a DATABASE_URL that is not a URL at all says what a good one looks like', () => {
    expect(problemsOf({ DATABASE_URL: 'the usual database' })).toEqual(['DATABASE_URL must be a URL like postgres://user:password@host:5432/database, got "the usual database"']);
  });
});
