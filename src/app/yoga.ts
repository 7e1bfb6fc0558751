import type http from 'node:http';
import { renderGraphiQL } from '@graphql-yoga/render-graphiql';
import type { GraphQLSchema } from 'graphql';
import { createYoga, type Plugin, type YogaInitialContext } from 'graphql-yoga';
import type { Logger } from '../core/logger.ts';
import type { GraphQLContext } from '../graphql/context.ts';
import type { GraphiqlTab } from '../modules/moduleDefinition.ts';
import { type Headers, nodeHeaders } from './context.ts';

/** Yoga for the schema: GraphiQL when enabled, the app's plugins and error masking, Yoga's logs through ours. */
export function graphqlHandler(deps: {
  schema: GraphQLSchema;
  graphiql: false | { tabs: readonly GraphiqlTab[] };
  makeContext: (headers: Headers, request?: Request, connectionParams?: Readonly<Record<string, unknown>>) => Promise<GraphQLContext>;
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
  return createYoga<{ req?: http.IncomingMessage }, GraphQLContext>({
    schema: deps.schema,
    graphqlEndpoint: '/graphql',
    landingPage: false,
    graphiql: deps.graphiql ? { title: 'Event-sourced GraphQL', subscriptionsProtocol: 'WS', defaultEditorToolsVisibility: true, defaultTabs: [...deps.graphiql.tabs] } : false,
    renderGraphiQL,
    // HTTP operations carry a Fetch Request; WebSocket operations carry the upgrade request as `req`.
    context: (initial: YogaInitialContext & { req?: http.IncomingMessage; connectionParams?: Readonly<Record<string, unknown>> }) =>
      deps.makeContext(initial.request?.headers ?? nodeHeaders(initial.req?.headers ?? {}), initial.request, initial.connectionParams),
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
