import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, DEFAULT_LIMITS, DEVELOPMENT_JWT_ISSUER, DEVELOPMENT_JWT_SECRET, loadConfig } from '../src/app/config.ts';

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
      production: false,
      // No JWT settings outside production: the development secret, so `npm start` works as it is.
      auth: { mode: 'jwt', development: true, secret: DEVELOPMENT_JWT_SECRET, issuer: DEVELOPMENT_JWT_ISSUER, rolesClaim: 'roles', clockToleranceSeconds: 30 },
      limits: DEFAULT_LIMITS,
      trustProxy: false,
      corsOrigins: [],
      ops: { port: undefined, host: undefined, token: undefined },
      rabbitMq: undefined,
      processors: { batchSize: 500, maxAttempts: 5, backoffMs: 200, backoffMaxMs: 30_000, takeoverIntervalMs: 1000, idleCheckpointIntervalMs: 1000 },
      readYourWritesTimeoutMs: 5000,
    });
  });

  it('forwards to RabbitMQ only when RABBITMQ_URL is set, to the events exchange unless told otherwise, every type unless told which', () => {
    expect(loadConfig({ RABBITMQ_EXCHANGE: 'shop', RABBITMQ_EVENT_TYPES: 'CartOpened' }).rabbitMq).toBeUndefined();
    expect(loadConfig({ RABBITMQ_URL: 'amqp://guest:guest@rabbitmq:5672/' }).rabbitMq).toEqual({
      url: 'amqp://guest:guest@rabbitmq:5672/',
      exchange: 'events',
      eventTypes: undefined,
      streamTypes: undefined,
    });
    expect(
      loadConfig({ RABBITMQ_URL: ' amqps://app:secret@mq.example.com/shop ', RABBITMQ_EXCHANGE: 'shop.events', RABBITMQ_EVENT_TYPES: 'CartCheckedOut, CartOpened,', RABBITMQ_STREAM_TYPES: 'Cart' })
        .rabbitMq,
    ).toEqual({ url: 'amqps://app:secret@mq.example.com/shop', exchange: 'shop.events', eventTypes: ['CartCheckedOut', 'CartOpened'], streamTypes: ['Cart'] });
    expect(problemsOf({ RABBITMQ_URL: 'http://admin:hunter2@rabbitmq:15672/', RABBITMQ_EXCHANGE: 'amq.topic', RABBITMQ_EVENT_TYPES: 'Cart.Opened' })).toEqual([
      'RABBITMQ_URL must be a URL like amqp://user:password@host:5672/vhost (or amqps://), got "http://admin:***@rabbitmq:15672/"',
      'RABBITMQ_EXCHANGE must be 1 to 255 letters, digits, -, _, . or : and not start with amq. (RabbitMQ reserves those), got "amq.topic"',
      'RABBITMQ_EVENT_TYPES must be comma-separated names of letters, digits, _ and -, got "Cart.Opened"',
    ]);
  });

  it('reads the processors\' batch size, attempts, backoff and takeover interval, and the read-your-writes wait', () => {
    const config = loadConfig({
      PROCESSOR_BATCH_SIZE: '50',
      PROCESSOR_MAX_ATTEMPTS: '3',
      PROCESSOR_BACKOFF_MS: '10',
      PROCESSOR_BACKOFF_MAX_MS: '1000',
      PROCESSOR_TAKEOVER_INTERVAL_MS: '250',
      PROCESSOR_IDLE_CHECKPOINT_INTERVAL_MS: '2000',
      READ_YOUR_WRITES_TIMEOUT_MS: '2000',
    });
    expect(config.processors).toEqual({ batchSize: 50, maxAttempts: 3, backoffMs: 10, backoffMaxMs: 1000, takeoverIntervalMs: 250, idleCheckpointIntervalMs: 2000 });
    expect(config.readYourWritesTimeoutMs).toBe(2000);
    expect(problemsOf({ PROCESSOR_MAX_ATTEMPTS: '0' })).toEqual(['PROCESSOR_MAX_ATTEMPTS must be a whole number from 1 to 1000, got "0"']);
  });

  it('in production, serves GraphiQL only when GRAPHIQL=true says so', () => {
    const production = { NODE_ENV: 'production', JWT_SECRET: 'a-production-secret-of-at-least-32-chars' };
    expect(loadConfig(production).graphiql).toBe(false);
    expect(loadConfig({ ...production, GRAPHIQL: 'true' }).graphiql).toBe(true);
    expect(loadConfig({}).graphiql).toBe(true);
  });

  it('reads where /health and /metrics are served and the token guarding them', () => {
    expect(loadConfig({ OPS_PORT: '9090', OPS_HOST: '127.0.0.1', OPS_TOKEN: 'a-token-of-16-chars-or-more' }).ops).toEqual({ port: 9090, host: '127.0.0.1', token: 'a-token-of-16-chars-or-more' });
    expect(problemsOf({ OPS_TOKEN: 'short' })).toEqual(['OPS_TOKEN must be at least 16 characters']);
  });

  it('reads CORS_ORIGINS as origins, and names what is not one', () => {
    expect(loadConfig({ CORS_ORIGINS: ' https://shop.example.com, http://localhost:5173/ ' }).corsOrigins).toEqual(['https://shop.example.com', 'http://localhost:5173']);
    expect(loadConfig({ CORS_ORIGINS: '*' }).corsOrigins).toEqual(['*']);
    expect(problemsOf({ CORS_ORIGINS: 'https://shop.example.com/app,shop.example.com' })).toEqual([
      'CORS_ORIGINS "https://shop.example.com/app" is not an origin like https://app.example.com (scheme, host and port only)',
      'CORS_ORIGINS "shop.example.com" is not an origin like https://app.example.com (scheme, host and port only)',
    ]);
  });

  it('reads the limits', () => {
    const { limits } = loadConfig({ MAX_QUERY_DEPTH: '4', MAX_QUERY_ALIASES: '0', MAX_QUERY_TOKENS: '500', MAX_QUERY_DIRECTIVES: '3', MAX_QUERY_COST: '1000' });
    expect(limits.query).toEqual({ maxDepth: 4, maxAliases: 0, maxTokens: 500, maxDirectives: 3, maxCost: 1000 });
    expect(problemsOf({ MAX_QUERY_DEPTH: '0' })).toEqual(['MAX_QUERY_DEPTH must be a whole number from 1 to 1000, got "0"']);
    const transport = loadConfig({
      MAX_REQUEST_BYTES: '65536',
      WS_MAX_PAYLOAD_BYTES: '2048',
      WS_MAX_SUBSCRIPTIONS_PER_SOCKET: '0',
      WS_MAX_CONNECTIONS_PER_CALLER: '5',
      WS_KEEP_ALIVE_MS: '30000',
      SHARED_RESULTS_MAX_BYTES: '0',
      TRUST_PROXY: 'true',
      MUTATION_RATE_LIMIT_PER_MINUTE: '60',
      MUTATION_RATE_LIMIT_BURST: '5',
    });
    expect(transport.limits).toMatchObject({
      requestBytes: 65536,
      webSocket: { maxPayloadBytes: 2048, subscriptionsPerSocket: 0, connectionsPerCaller: 5, keepAliveMs: 30000 },
      sharedResultsBytes: 0,
      mutationRate: { perMinute: 60, burst: 5 },
    });
    expect(transport.trustProxy).toBe(true);
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
        NODE_ENV: 'production',
        JWT_SECRET: 'a-production-secret-of-at-least-32-chars',
        JWT_ISSUER: 'https://id.example.com/',
        JWT_AUDIENCE: 'shop-api',
        JWT_ROLES_CLAIM: 'https://example.com/roles',
        JWT_CLOCK_TOLERANCE_SECONDS: '10',
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
      production: true,
      auth: {
        mode: 'jwt',
        development: false,
        secret: 'a-production-secret-of-at-least-32-chars',
        issuer: 'https://id.example.com/',
        audience: 'shop-api',
        rolesClaim: 'https://example.com/roles',
        clockToleranceSeconds: 10,
      },
      limits: DEFAULT_LIMITS,
      trustProxy: false,
      corsOrigins: [],
      ops: { port: undefined, host: undefined, token: undefined },
      processors: { batchSize: 500, maxAttempts: 5, backoffMs: 200, backoffMaxMs: 30_000, takeoverIntervalMs: 1000, idleCheckpointIntervalMs: 1000 },
      readYourWritesTimeoutMs: 5000,
    });
  });

  it('in production, refuses to start without JWT settings unless authentication is switched off', () => {
    expect(() => loadConfig({ NODE_ENV: 'production' })).toThrow(/JWT_SECRET or JWT_JWKS_URL must be set when NODE_ENV=production/);
    expect(loadConfig({ NODE_ENV: 'production', AUTH: 'off' }).auth).toEqual({ mode: 'off', development: false });
  });

  it('takes a JWKS URL instead of a secret, but not both', () => {
    expect(loadConfig({ JWT_JWKS_URL: 'https://id.example.com/.well-known/jwks.json' }).auth).toMatchObject({ mode: 'jwt', development: false, jwksUrl: 'https://id.example.com/.well-known/jwks.json' });
    expect(() => loadConfig({ JWT_JWKS_URL: 'https://id.example.com/jwks', JWT_SECRET: 'a-production-secret-of-at-least-32-chars' })).toThrow(/both set/);
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
