import path from 'node:path';
import { z } from 'zod';
import { LOG_LEVELS, type LogLevel } from '../core/logger.ts';
import { DEFAULT_STATE_CACHE_MAX_BYTES } from '../eventStore/commands/stateCache.ts';
import { PROCESSOR_DEFAULTS, type ProcessorSettings } from '../eventStore/processors/processors.ts';
import { DEFAULT_QUERY_LIMITS, type QueryLimits } from '../graphql/queryLimits.ts';
import { DEFAULT_SHARED_RESULTS_MAX_BYTES } from '../graphql/sharedResults.ts';
import type { AuthSettings } from './authenticator.ts';
import type { MutationRateLimit } from './mutationRateLimit.ts';
import { parseOrigins } from './origins.ts';

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
  /** `GRAPHIQL`; off by default in production. */
  readonly graphiql: boolean;
  /** `LOG_LEVEL` */
  readonly logLevel: LogLevel;
  /** `NODE_ENV` is `production` */
  readonly production: boolean;
  /**
   * How callers are authenticated: `AUTH` and the `JWT_*` variables. `development` when no JWT
   * settings were given outside production, so the well-known development secret is in use.
   */
  readonly auth: AuthSettings & { readonly development: boolean };
  /** What one caller, request or operation may take: the `MAX_*` and `WS_*` variables (README, "Limits"). */
  readonly limits: Limits;
  /** `TRUST_PROXY`: take an anonymous caller's address from the last `X-Forwarded-For` entry (behind a reverse proxy). */
  readonly trustProxy: boolean;
  /** `/health` and `/metrics`: on the API's port unless `OPS_PORT` (on `OPS_HOST`, default `HOST`); behind a bearer token when `OPS_TOKEN` is set. */
  readonly ops: { readonly port: number | undefined; readonly host: string | undefined; readonly token: string | undefined };
  /** `CORS_ORIGINS`: the web origins whose pages may call the API from a browser (`*`: any, without credentials); the API's own always may. */
  readonly corsOrigins: readonly string[];
  /** Forwarding to RabbitMQ: on when `RABBITMQ_URL` is set (README, "Forwarding to RabbitMQ"). */
  readonly rabbitMq: RabbitMqSettings | undefined;
  /** `PROCESSOR_BATCH_SIZE`, `PROCESSOR_MAX_ATTEMPTS`, `PROCESSOR_BACKOFF_MS`, `PROCESSOR_BACKOFF_MAX_MS`, `PROCESSOR_TAKEOVER_INTERVAL_MS`, `PROCESSOR_IDLE_CHECKPOINT_INTERVAL_MS` */
  readonly processors: ProcessorSettings;
  /** `READ_YOUR_WRITES_TIMEOUT_MS`: how long a query with `consistentWith` waits for its read model. */
  readonly readYourWritesTimeoutMs: number;
};

export type RabbitMqSettings = {
  /** `RABBITMQ_URL` */
  readonly url: string;
  /** `RABBITMQ_EXCHANGE` */
  readonly exchange: string;
  /** `RABBITMQ_EVENT_TYPES`; undefined forwards every type. */
  readonly eventTypes: readonly string[] | undefined;
  /** `RABBITMQ_STREAM_TYPES`; undefined forwards every stream type. */
  readonly streamTypes: readonly string[] | undefined;
};

/** How long a query with `consistentWith` waits with READ_YOUR_WRITES_TIMEOUT_MS unset. */
export const DEFAULT_READ_YOUR_WRITES_TIMEOUT_MS = 5000;

export type Limits = {
  /** `MAX_QUERY_DEPTH`, `MAX_QUERY_ALIASES`, `MAX_QUERY_TOKENS`, `MAX_QUERY_DIRECTIVES`, `MAX_QUERY_COST` */
  readonly query: QueryLimits;
  /** `MAX_REQUEST_BYTES`: an HTTP request body past it is refused with 413. */
  readonly requestBytes: number;
  readonly webSocket: {
    /** `WS_MAX_PAYLOAD_BYTES`: a larger message closes its socket (1009), unread. */
    readonly maxPayloadBytes: number;
    /** `WS_MAX_SUBSCRIPTIONS_PER_SOCKET`: operations one socket may run at once; 0 for no limit. */
    readonly subscriptionsPerSocket: number;
    /** `WS_MAX_CONNECTIONS_PER_CALLER`: sockets one caller may hold open in this process; 0 for no limit. */
    readonly connectionsPerCaller: number;
    /** `WS_KEEP_ALIVE_MS`: how often each socket is pinged; one that has not answered the last ping by the next is closed. */
    readonly keepAliveMs: number;
  };
  /** `SHARED_RESULTS_MAX_BYTES`: heap for the results subscribers of one `events` operation share; 0 shares none. */
  readonly sharedResultsBytes: number;
  /** `MUTATION_RATE_LIMIT_PER_MINUTE` (0: off, the default) and `MUTATION_RATE_LIMIT_BURST`: commands per caller. */
  readonly mutationRate: MutationRateLimit;
};

const MiB = 1024 * 1024;

/** The limits with every variable unset. */
export const DEFAULT_LIMITS: Limits = {
  query: DEFAULT_QUERY_LIMITS,
  requestBytes: MiB,
  webSocket: { maxPayloadBytes: MiB, subscriptionsPerSocket: 100, connectionsPerCaller: 100, keepAliveMs: 12_000 },
  sharedResultsBytes: DEFAULT_SHARED_RESULTS_MAX_BYTES,
  mutationRate: { perMinute: 0, burst: 10 },
};

/** Signs the development tokens `npm start` prints when no JWT settings are given outside production. Never use it in production. */
export const DEVELOPMENT_JWT_SECRET = 'development-only-secret-do-not-use-in-production';
export const DEVELOPMENT_JWT_ISSUER = 'eventsourced-graphql-development';

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

const amqpUrl = () =>
  z
    .string()
    .trim()
    .refine((raw) => URL.canParse(raw) && ['amqp:', 'amqps:'].includes(new URL(raw).protocol), {
      error: (issue) => `must be a URL like amqp://user:password@host:5672/vhost (or amqps://), got "${redactUrl(String(issue.input))}"`,
    });

/** Comma-separated names, blanks dropped: `Cart, Counter` is ['Cart', 'Counter']. */
const nameList = () =>
  z
    .string()
    .transform((raw) => raw.split(',').map((name) => name.trim()).filter(Boolean))
    .refine((names) => names.every((name) => /^[A-Za-z0-9_-]+$/.test(name)), {
      error: (issue) => `must be comma-separated names of letters, digits, _ and -, got "${String(issue.input)}"`,
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
  GRAPHIQL: flag().optional().describe('Serve GraphiQL on GET /graphql (true|false, 1|0, yes|no). Default: on, except with NODE_ENV=production.'),
  LOG_LEVEL: z
    .string()
    .trim()
    .toLowerCase()
    .pipe(z.enum(LOG_LEVELS, { error: (issue) => `must be one of ${LOG_LEVELS.join(', ')}, got "${String(issue.input)}"` }))
    .default('info')
    .describe('Lowest level logged as JSON lines on stderr: debug, info, warn or error.'),
  NODE_ENV: z.string().trim().default('development').describe('`production` turns on the production defaults: JWT settings required, GraphiQL off.'),
  AUTH: z
    .enum(['jwt', 'off'], { error: (issue) => `must be jwt or off, got "${String(issue.input)}"` })
    .default('jwt')
    .describe('`jwt` (the default) checks a bearer token on every request; `off` lets every caller act as an administrator (logged as a warning at every start).'),
  JWT_SECRET: z.string().min(32, 'must be at least 32 characters (HS256 needs 256 bits)').optional().describe('Shared secret of HS256 tokens. Give this or JWT_JWKS_URL.'),
  JWT_JWKS_URL: z.url({ error: (issue) => `must be a URL, got "${String(issue.input)}"` }).optional().describe('URL of the identity provider\'s JSON Web Key Set, for RS/ES-signed tokens.'),
  JWT_ISSUER: z.string().trim().optional().describe('Required `iss` of tokens; unchecked when unset.'),
  JWT_AUDIENCE: z.string().trim().optional().describe('Required `aud` of tokens; unchecked when unset.'),
  JWT_ROLES_CLAIM: z.string().trim().default('roles').describe('The token claim listing the caller\'s roles (an array of strings, or one space- or comma-separated string).'),
  JWT_CLOCK_TOLERANCE_SECONDS: wholeNumber(0, 300).default(30).describe('Seconds of clock skew allowed when checking exp and nbf.'),
  MAX_QUERY_DEPTH: wholeNumber(1, 1_000).default(DEFAULT_LIMITS.query.maxDepth).describe('Deepest nesting of selection sets an operation may have (introspection is exempt).'),
  MAX_QUERY_ALIASES: wholeNumber(0, 100_000).default(DEFAULT_LIMITS.query.maxAliases).describe('Aliased fields an operation may have.'),
  MAX_QUERY_TOKENS: wholeNumber(1, 1_000_000).default(DEFAULT_LIMITS.query.maxTokens).describe('Lexical tokens a GraphQL document may have; parsing stops at the first one past it.'),
  MAX_QUERY_DIRECTIVES: wholeNumber(0, 100_000).default(DEFAULT_LIMITS.query.maxDirectives).describe('Directives an operation may have.'),
  MAX_QUERY_COST: wholeNumber(1, 1_000_000_000).default(DEFAULT_LIMITS.query.maxCost).describe('graphql-armor cost an operation may have (objects 2, scalars 1, ×1.5 a level, × a list\'s first/last).'),
  MAX_REQUEST_BYTES: wholeNumber(1024, 1024 * MiB).default(DEFAULT_LIMITS.requestBytes).describe('Largest HTTP request body, in bytes; a larger one is refused with 413 before it is read whole.'),
  WS_MAX_PAYLOAD_BYTES: wholeNumber(1024, 1024 * MiB).default(DEFAULT_LIMITS.webSocket.maxPayloadBytes).describe('Largest WebSocket message, in bytes; a larger one closes its socket with 1009.'),
  WS_MAX_SUBSCRIPTIONS_PER_SOCKET: wholeNumber(0, 1_000_000)
    .default(DEFAULT_LIMITS.webSocket.subscriptionsPerSocket)
    .describe('Operations one WebSocket may run at once; more are refused with TOO_MANY_SUBSCRIPTIONS. 0: no limit.'),
  WS_MAX_CONNECTIONS_PER_CALLER: wholeNumber(0, 1_000_000)
    .default(DEFAULT_LIMITS.webSocket.connectionsPerCaller)
    .describe('WebSockets one caller (token subject, or address when anonymous) may hold open per process; more are closed with 4429. 0: no limit.'),
  WS_KEEP_ALIVE_MS: wholeNumber(100, 3_600_000)
    .default(DEFAULT_LIMITS.webSocket.keepAliveMs)
    .describe('How often each WebSocket is pinged, in ms; a socket that has not answered the previous ping by the next one is closed.'),
  SHARED_RESULTS_MAX_BYTES: wholeNumber(0, 64 * 1024 * MiB)
    .default(DEFAULT_LIMITS.sharedResultsBytes)
    .describe('Heap, in bytes, for the per-event results shared by subscribers of the same events operation; 0 shares none.'),
  MUTATION_RATE_LIMIT_PER_MINUTE: wholeNumber(0, 1_000_000)
    .default(DEFAULT_LIMITS.mutationRate.perMinute)
    .describe('Commands (root mutation fields) one caller may run a minute, per process; past it RATE_LIMITED. 0 (the default): no limit.'),
  MUTATION_RATE_LIMIT_BURST: wholeNumber(1, 1_000_000).default(DEFAULT_LIMITS.mutationRate.burst).describe('Commands one caller may run at once before the rate applies.'),
  OPS_PORT: wholeNumber(0, 65535).optional().describe('Serve /health and /metrics on this port instead of the API\'s (0 picks a free one); unset: on the API\'s port.'),
  OPS_HOST: z.string().trim().optional().describe('Interface for OPS_PORT, e.g. 127.0.0.1 to keep the endpoints off the network; default HOST.'),
  OPS_TOKEN: z.string().trim().min(16, 'must be at least 16 characters').optional().describe('When set, /health and /metrics answer only requests with Authorization: Bearer <OPS_TOKEN>.'),
  CORS_ORIGINS: z
    .string()
    .default('')
    .describe('Comma-separated origins (https://app.example.com) whose pages may call the API from a browser, with credentials; * for any origin, without. Unset: only the API\'s own pages.'),
  RABBITMQ_URL: amqpUrl()
    .optional()
    .describe('When set, a processor forwards every event (or those RABBITMQ_EVENT_TYPES and RABBITMQ_STREAM_TYPES name) to this RabbitMQ, e.g. amqp://user:pass@rabbitmq:5672/.'),
  RABBITMQ_EXCHANGE: z
    .string()
    .trim()
    .refine((name) => /^[A-Za-z0-9_.:-]{1,255}$/.test(name) && !name.startsWith('amq.'), {
      error: (issue) => `must be 1 to 255 letters, digits, -, _, . or : and not start with amq. (RabbitMQ reserves those), got "${String(issue.input)}"`,
    })
    .default('events')
    .describe('The durable topic exchange events are published to, routing key <streamType>.<eventType>; declared if missing.'),
  RABBITMQ_EVENT_TYPES: nameList().optional().describe('Comma-separated event types to forward (e.g. CartCheckedOut,CartOpened); unset: every type.'),
  RABBITMQ_STREAM_TYPES: nameList().optional().describe('Comma-separated stream types to forward (e.g. Cart); unset: every stream type.'),
  PROCESSOR_BATCH_SIZE: wholeNumber(1, 100_000).default(PROCESSOR_DEFAULTS.batchSize).describe('Events a processor handles per batch at most (a processor may set its own).'),
  PROCESSOR_MAX_ATTEMPTS: wholeNumber(1, 1000).default(PROCESSOR_DEFAULTS.maxAttempts).describe('Attempts of an event before a processor parks it (a processor may set its own).'),
  PROCESSOR_BACKOFF_MS: wholeNumber(0, 3_600_000).default(PROCESSOR_DEFAULTS.backoffMs).describe('Pause after a processor\'s first failed attempt; it doubles after each next one.'),
  PROCESSOR_BACKOFF_MAX_MS: wholeNumber(0, 3_600_000).default(PROCESSOR_DEFAULTS.backoffMaxMs).describe('Longest pause between a processor\'s attempts.'),
  PROCESSOR_TAKEOVER_INTERVAL_MS: wholeNumber(50, 600_000)
    .default(PROCESSOR_DEFAULTS.takeoverIntervalMs)
    .describe('How often a process tries to take the lock of a processor no process runs: how soon it takes over from one that died.'),
  PROCESSOR_IDLE_CHECKPOINT_INTERVAL_MS: wholeNumber(10, 600_000)
    .default(PROCESSOR_DEFAULTS.idleCheckpointIntervalMs)
    .describe('How often at most a processor writes a checkpoint that moved only past events it does not match (kept in memory meanwhile).'),
  READ_YOUR_WRITES_TIMEOUT_MS: wholeNumber(0, 600_000)
    .default(DEFAULT_READ_YOUR_WRITES_TIMEOUT_MS)
    .describe('How long a query with consistentWith waits for its asynchronous read model before answering StaleReadError.'),
  TRUST_PROXY: flag().default(false).describe('Behind a reverse proxy: take an anonymous caller\'s address from the last X-Forwarded-For entry.'),
});

/**
 * For the entry points (the server and the scripts): the config from the environment, or the
 * problems on stderr and exit code 2, so a bad setting is one clear message and never a stack trace.
 */
export function loadConfigOrExit(env: Env = process.env): Config {
  try {
    return loadConfig(env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`${error.message}\n`);
    process.exit(2);
  }
}

export function loadConfig(env: Env = process.env): Config {
  // A variable set to blanks counts as unset, so `PORT=` in a compose file means the default.
  const given = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== undefined && value.trim() !== ''));
  const parsed = variables.safeParse(given);
  if (!parsed.success) throw new ConfigError(parsed.error.issues.map((issue) => `${issue.path.join('.')} ${issue.message}`));
  const v = parsed.data;
  const production = v.NODE_ENV === 'production';
  const problems: string[] = [];
  const cors = parseOrigins(v.CORS_ORIGINS);
  problems.push(...cors.problems.map((problem) => `CORS_ORIGINS ${problem}`));
  if (v.JWT_SECRET && v.JWT_JWKS_URL) problems.push('JWT_SECRET and JWT_JWKS_URL are both set: give one');
  const configured = Boolean(v.JWT_SECRET || v.JWT_JWKS_URL);
  if (production && v.AUTH === 'jwt' && !configured) problems.push('JWT_SECRET or JWT_JWKS_URL must be set when NODE_ENV=production (or AUTH=off to run without authentication)');
  if (problems.length > 0) throw new ConfigError(problems);
  const development = v.AUTH === 'jwt' && !configured;
  const auth: Config['auth'] =
    v.AUTH === 'off'
      ? { mode: 'off', development: false }
      : {
          mode: 'jwt',
          development,
          ...(development ? { secret: DEVELOPMENT_JWT_SECRET, issuer: DEVELOPMENT_JWT_ISSUER } : {}),
          ...(v.JWT_SECRET ? { secret: v.JWT_SECRET } : {}),
          ...(v.JWT_JWKS_URL ? { jwksUrl: v.JWT_JWKS_URL } : {}),
          ...(v.JWT_ISSUER ? { issuer: v.JWT_ISSUER } : {}),
          ...(v.JWT_AUDIENCE ? { audience: v.JWT_AUDIENCE } : {}),
          rolesClaim: v.JWT_ROLES_CLAIM,
          clockToleranceSeconds: v.JWT_CLOCK_TOLERANCE_SECONDS,
        };
  return {
    port: v.PORT,
    host: v.HOST,
    databaseUrl: v.DATABASE_URL,
    embeddedDataDir: v.EMBEDDED_PG_DATA_DIR,
    embeddedPort: v.EMBEDDED_PG_PORT,
    dbPoolSize: v.DB_POOL_SIZE,
    commandRetries: v.COMMAND_RETRIES,
    stateCacheMaxBytes: v.STATE_CACHE_MAX_BYTES,
    graphiql: v.GRAPHIQL ?? !production,
    logLevel: v.LOG_LEVEL,
    production,
    auth,
    limits: {
      query: { maxDepth: v.MAX_QUERY_DEPTH, maxAliases: v.MAX_QUERY_ALIASES, maxTokens: v.MAX_QUERY_TOKENS, maxDirectives: v.MAX_QUERY_DIRECTIVES, maxCost: v.MAX_QUERY_COST },
      requestBytes: v.MAX_REQUEST_BYTES,
      webSocket: {
        maxPayloadBytes: v.WS_MAX_PAYLOAD_BYTES,
        subscriptionsPerSocket: v.WS_MAX_SUBSCRIPTIONS_PER_SOCKET,
        connectionsPerCaller: v.WS_MAX_CONNECTIONS_PER_CALLER,
        keepAliveMs: v.WS_KEEP_ALIVE_MS,
      },
      sharedResultsBytes: v.SHARED_RESULTS_MAX_BYTES,
      mutationRate: { perMinute: v.MUTATION_RATE_LIMIT_PER_MINUTE, burst: v.MUTATION_RATE_LIMIT_BURST },
    },
    trustProxy: v.TRUST_PROXY,
    corsOrigins: cors.origins,
    ops: { port: v.OPS_PORT, host: v.OPS_HOST, token: v.OPS_TOKEN },
    rabbitMq: v.RABBITMQ_URL
      ? {
          url: v.RABBITMQ_URL,
          exchange: v.RABBITMQ_EXCHANGE,
          eventTypes: v.RABBITMQ_EVENT_TYPES?.length ? v.RABBITMQ_EVENT_TYPES : undefined,
          streamTypes: v.RABBITMQ_STREAM_TYPES?.length ? v.RABBITMQ_STREAM_TYPES : undefined,
        }
      : undefined,
    processors: {
      batchSize: v.PROCESSOR_BATCH_SIZE,
      maxAttempts: v.PROCESSOR_MAX_ATTEMPTS,
      backoffMs: v.PROCESSOR_BACKOFF_MS,
      backoffMaxMs: v.PROCESSOR_BACKOFF_MAX_MS,
      takeoverIntervalMs: v.PROCESSOR_TAKEOVER_INTERVAL_MS,
      idleCheckpointIntervalMs: v.PROCESSOR_IDLE_CHECKPOINT_INTERVAL_MS,
    },
    readYourWritesTimeoutMs: v.READ_YOUR_WRITES_TIMEOUT_MS,
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
