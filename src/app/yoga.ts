import { renderGraphiQL } from '@graphql-yoga/render-graphiql';
import type { GraphQLSchema } from 'graphql';
import { createYoga, type GraphiQLOptions, type Plugin, type YogaInitialContext } from 'graphql-yoga';
import type { Identity } from '../core/identity.ts';
import type { Logger } from '../core/logger.ts';
import type { GraphQLContext } from '../graphql/context.ts';
import type { GraphiqlTab } from '../modules/moduleDefinition.ts';
import type { RequestOrigin } from './callers.ts';
import { type Headers, nodeHeaders } from './context.ts';

/** Yoga for the schema: GraphiQL when enabled, the app's plugins and error masking, Yoga's logs through ours. */
export function graphqlHandler(deps: {
  schema: GraphQLSchema;
  /** `token`: a bearer token GraphiQL opens with, in its headers editor and its WebSocket's connection params. */
  graphiql: false | { tabs: readonly GraphiqlTab[]; token?: string };
  makeContext: (headers: Headers, request?: Request, identity?: Identity) => Promise<GraphQLContext>;
  maskError: (error: unknown, message: string, isDev?: boolean) => Error;
  /** Whether the masking already dealt with an error (logged it if unexpected; a client's mistake otherwise), so Yoga's error line about it is not one. */
  alreadyHandled: (error: unknown) => boolean;
  /** Largest request body; past it Yoga answers 413 (REQUEST_ENTITY_TOO_LARGE) without reading the rest. */
  maxRequestBytes: number;
  /** The CORS headers for a request, or false for none (see OriginPolicy). */
  cors: (request: Request) => false | { origin: string | string[]; credentials: boolean; exposedHeaders: string[] };
  plugins: Plugin[];
  logger: Logger;
}) {
  const { logger } = deps;
  return createYoga<{ req?: RequestOrigin }, GraphQLContext>({
    schema: deps.schema,
    graphqlEndpoint: '/graphql',
    landingPage: false,
    graphiql: deps.graphiql
      ? {
          title: 'Event-sourced GraphQL',
          subscriptionsProtocol: 'WS',
          // The variables first: with a token in the headers GraphiQL would otherwise open on those.
          defaultEditorToolsVisibility: 'variables',
          defaultTabs: [...deps.graphiql.tabs],
          ...(deps.graphiql.token ? graphiqlCredentials(deps.graphiql.token) : {}),
        }
      : false,
    renderGraphiQL,
    // HTTP operations carry a Fetch Request; WebSocket operations carry the upgrade request's headers
    // and connection as `req`, and the identity their connection was verified as.
    context: (initial: YogaInitialContext & { req?: RequestOrigin; identity?: Identity }) =>
      deps.makeContext(initial.request?.headers ?? nodeHeaders(initial.req?.headers ?? {}), initial.request, initial.identity),
    maskedErrors: { maskError: deps.maskError },
    maxRequestBodySize: deps.maxRequestBytes,
    cors: deps.cors,
    // The schema takes no file uploads, so there is no multipart request to parse.
    multipart: false,
    plugins: deps.plugins,
    logging: {
      debug: (...args) => logger.debug(String(args[0]), { args: args.slice(1) }),
      info: (...args) => logger.info(String(args[0]), { args: args.slice(1) }),
      warn: (...args) => logger.warn(String(args[0]), { args: args.slice(1) }),
      // Yoga logs every error its masking changed: a client's typed mistake, or an unexpected error the masking already logged.
      error: (...args) =>
        deps.alreadyHandled(args[0]) ? logger.debug('error answered to the client', { error: args[0] }) : logger.error(String(args[0]), { args: args.slice(1) }),
    },
  });
}

/**
 * GraphiQL options that make it send `token`. Yoga's `headers` fill the headers editor of every tab
 * that has none of its own (all the example tabs), which GraphiQL sends with queries and mutations.
 * Its WebSocket sends no headers (browsers cannot), so the token also goes into the connection
 * params: Yoga's GraphiQL hands its options to the graphql-ws executor, which reads `connectionParams`
 * (not in Yoga's option type). Those params are fixed: a token typed into the headers editor
 * reaches HTTP operations only.
 */
function graphiqlCredentials(token: string): Pick<GraphiQLOptions, 'headers'> {
  const authorization = `Bearer ${token}`;
  return { headers: JSON.stringify({ Authorization: authorization }, null, 2), connectionParams: { authorization } } as Pick<GraphiQLOptions, 'headers'>;
}
