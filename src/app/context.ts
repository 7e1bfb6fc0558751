import type http from 'node:http';
import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import type { Clock, IdGenerator } from '../core/ids.ts';
import type { Logger } from '../core/logger.ts';
import type { CommandEnvironment } from '../eventStore/commands/commandHandler.ts';
import type { LogFeed } from '../eventStore/feed/feed.ts';
import type { UpcasterRegistry } from '../eventStore/log/upcasters.ts';
import type { ReadModels } from '../eventStore/projections/readModels.ts';
import type { Processors } from '../eventStore/processors/processors.ts';
import type { EventMetadata } from '../core/message.ts';
import type { GraphQLContext } from '../graphql/context.ts';
import { GraphQLError } from 'graphql';
import { actorOf, type Identity } from '../core/identity.ts';
import { AuthenticationError, type Authenticator, bearerToken } from './authenticator.ts';
import type { Correlation } from './correlation.ts';

export type Headers = { get(name: string): string | null | undefined };

/**
 * Builds each operation's context: the caller's identity, its correlation id and the child logger
 * that carries it, an EntityManager of its own, and the command environment that stamps both on
 * every event. Over HTTP the identity comes from the request's bearer token: one that does not
 * verify refuses the operation as UNAUTHENTICATED (HTTP 401); no token is an anonymous caller, whom
 * the policies then refuse what needs more. A WebSocket connection verified its token once, when it
 * connected, and passes the identity it found.
 */
export function contextFactory(deps: {
  orm: MikroORM;
  clock: Clock;
  ids: IdGenerator;
  logger: Logger;
  feed: LogFeed;
  upcasters: UpcasterRegistry;
  readModels: ReadModels;
  processors: Processors;
  readYourWritesTimeoutMs: number;
  correlation: Correlation;
  authenticator: Authenticator;
  environmentFor: (em: EntityManager, metadata: EventMetadata, identity: Identity) => CommandEnvironment;
}): (headers: Headers, request?: Request, verified?: Identity) => Promise<GraphQLContext> {
  return async (headers, request, verified) => {
    const identity = verified ?? (await identify(deps.authenticator, headers));
    const correlationId = deps.correlation.idFor(headers, request);
    const em = lazyFork(deps.orm);
    const client = headers.get('user-agent')?.slice(0, 200);
    return {
      em,
      clock: deps.clock,
      ids: deps.ids,
      identity,
      logger: deps.logger.child({ correlationId }),
      correlationId,
      feed: deps.feed,
      upcasters: deps.upcasters,
      readModels: deps.readModels,
      processors: deps.processors,
      readYourWritesTimeoutMs: deps.readYourWritesTimeoutMs,
      commands: deps.environmentFor(em, { correlationId, actor: actorOf(identity), ...(client ? { client } : {}) }, identity),
    };
  };
}

async function identify(authenticator: Authenticator, headers: Headers): Promise<Identity> {
  try {
    return await authenticator.authenticate(bearerToken(headers.get('authorization')));
  } catch (error) {
    if (!(error instanceof AuthenticationError)) throw error;
    throw new GraphQLError(error.message, { extensions: { code: 'UNAUTHENTICATED', reason: error.reason, http: { status: 401 } } });
  }
}

/**
 * An EntityManager fork made on first use. Every operation gets its own fork, but most
 * subscriptions never touch the ORM, and with ten thousand open a fork each was most of their memory.
 */
function lazyFork(orm: MikroORM): EntityManager {
  let fork: EntityManager | undefined;
  return new Proxy(orm.em, {
    get(_target, property) {
      fork ??= orm.em.fork();
      const value = Reflect.get(fork, property, fork);
      return typeof value === 'function' ? value.bind(fork) : value;
    },
  });
}

/** Node's incoming headers behind the Fetch `get`, for WebSocket upgrade requests. */
export function nodeHeaders(headers: http.IncomingHttpHeaders): Headers {
  return {
    get(name: string) {
      const value = headers[name.toLowerCase()];
      return Array.isArray(value) ? value[0] : value;
    },
  };
}
