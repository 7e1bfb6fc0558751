import { type ExecutionResult, GraphQLError } from 'graphql';
import { maskError as yogaMaskError } from 'graphql-yoga';
import { DomainError, ValidationError } from '../core/errors.ts';
import { FeedClosedError } from '../eventStore/feed/feed.ts';
import type { Correlation } from './correlation.ts';

/** "Did you mean …?" in GraphQL's messages (validation, and variable values such as enum names). */
const SUGGESTION = /\s*Did you mean [^?]*\?/g;

/**
 * What clients see of errors outside a result union: the taxonomy's typed errors and FEED_CLOSED as
 * they are, anything else masked as "Unexpected error." and logged with its operation's correlation id.
 *
 * Log levels: an unexpected error is logged here, at error level, once. A client's mistake (a typed
 * error it can act on) is never logged at error level, so no client can fill the error log; Yoga logs
 * every error whose masking changed it, and `alreadyHandled` tells its logger which of those were
 * decided here (see src/app/yoga.ts). In production no error carries `extensions.originalError`
 * (Yoga puts the JSON parser's message there) or a "Did you mean …?" suggestion.
 */
export function errorMasking(correlation: Correlation, options: { production: boolean } = { production: false }) {
  const handled = new WeakSet<object>();
  const forClient = (error: Error): Error => (options.production && error instanceof GraphQLError ? withoutDetails(error) : error);
  const maskError = (error: unknown, message: string, isDev?: boolean): Error => {
    if (typeof error === 'object' && error !== null) handled.add(error);
    const original = error instanceof GraphQLError ? error.originalError : error;
    if (original instanceof DomainError) {
      // Domain errors thrown outside a result union (e.g. a bad cursor in a query) are the client's to see.
      const issues = original instanceof ValidationError ? { issues: original.issues } : {};
      return new GraphQLError(original.message, { extensions: { code: original.code, ...issues } });
    }
    // The live feed is reconnecting or shut down: the client should resubscribe, so it must see why.
    if (original instanceof FeedClosedError) return new GraphQLError(original.message, { extensions: original.extensions });
    if (original && !(original instanceof GraphQLError)) correlation.loggerFor(original).error('unexpected error in a GraphQL operation', { error: original });
    return forClient(yogaMaskError(error, message, isDev && !options.production));
  };
  /** The same, for results produced outside Yoga's hooks (shared subscription executions). */
  const maskResult = (result: ExecutionResult): ExecutionResult =>
    result.errors ? { ...result, errors: result.errors.map((error) => maskError(error, 'Unexpected error.') as GraphQLError) } : result;
  /** Whether `error` went through the masking: then Yoga's own error-level line about it is a repeat (logged here if unexpected) or a client's mistake. */
  const alreadyHandled = (error: unknown): boolean => typeof error === 'object' && error !== null && handled.has(error);
  return { maskError, maskResult, alreadyHandled };
}

/** The error as a client in production may see it: no `originalError` extension, no suggestion. */
function withoutDetails(error: GraphQLError): GraphQLError {
  // graphql-jit's errors (a refused variable, for one) may come without extensions at all.
  const { originalError, ...extensions } = (error.extensions ?? {}) as Record<string, unknown>;
  const message = error.message.replace(SUGGESTION, '');
  if (message === error.message && originalError === undefined) return error;
  // Yoga answers an error whose originalError is not GraphQL's with its own status (400 for bad JSON)
  // even to application/json clients, where `spec` errors are 200: keep that status without the extension.
  const http = extensions.http as { spec?: boolean; status?: number } | undefined;
  if (originalError !== undefined && http?.spec) extensions.http = { ...http, spec: false };
  return new GraphQLError(message, { nodes: error.nodes, source: error.source, positions: error.positions, path: error.path, extensions });
}
