import { type ExecutionResult, GraphQLError } from 'graphql';
import { maskError as yogaMaskError } from 'graphql-yoga';
import { DomainError, ValidationError } from '../core/errors.ts';
import { FeedClosedError } from '../eventStore/feed/feed.ts';
import type { Correlation } from './correlation.ts';

/**
 * What clients see of errors outside a result union: the taxonomy's typed errors and FEED_CLOSED as
 * they are, anything else masked as "Unexpected error." and logged with its operation's correlation id.
 */
export function errorMasking(correlation: Correlation) {
  const maskError = (error: unknown, message: string, isDev?: boolean): Error => {
    const original = error instanceof GraphQLError ? error.originalError : error;
    if (original instanceof DomainError) {
      // Domain errors thrown outside a result union (e.g. a bad cursor in a query) are the client's to see.
      const issues = original instanceof ValidationError ? { issues: original.issues } : {};
      return new GraphQLError(original.message, { extensions: { code: original.code, ...issues } });
    }
    // The live feed is reconnecting or shut down: the client should resubscribe, so it must see why.
    if (original instanceof FeedClosedError) return new GraphQLError(original.message, { extensions: original.extensions });
    if (original && !(original instanceof GraphQLError)) correlation.loggerFor(original).error('unexpected error in a GraphQL operation', { error: original });
    return yogaMaskError(error, message, isDev);
  };
  /** The same, for results produced outside Yoga's hooks (shared subscription executions). */
  const maskResult = (result: ExecutionResult): ExecutionResult =>
    result.errors ? { ...result, errors: result.errors.map((error) => maskError(error, 'Unexpected error.') as GraphQLError) } : result;
  return { maskError, maskResult };
}
