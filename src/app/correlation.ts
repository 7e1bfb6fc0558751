import { handleStreamOrSingleExecutionResult, type Plugin } from 'graphql-yoga';
import type { ExecutionResult } from 'graphql';
import type { IdGenerator } from '../core/ids.ts';
import type { Logger } from '../core/logger.ts';

export const CORRELATION_HEADER = 'x-correlation-id';

/** What a client may send as its own id: short, and safe to echo in a header and a log line. */
const CORRELATION_ID = /^[A-Za-z0-9._:-]{1,100}$/;

type Headers = { get(name: string): string | null | undefined };

/**
 * Correlation ids for GraphQL operations: the client's `x-correlation-id` when it is valid, else a
 * new one. An HTTP request keeps one id from its context to its response, which echoes it in the
 * same header so a client can quote it. Unexpected errors are logged by the error masking, which
 * does not see the operation's context; so this remembers which operation's logger (a child
 * carrying the id) each error came from.
 */
export class Correlation {
  private readonly ids: IdGenerator;
  private readonly logger: Logger;
  private readonly ofRequest = new WeakMap<Request, string>();
  private readonly loggerOfError = new WeakMap<object, Logger>();

  constructor(ids: IdGenerator, logger: Logger) {
    this.ids = ids;
    this.logger = logger;
  }

  /** The operation's id. Over HTTP pass the request, so its response gets the same id; over a WebSocket, the upgrade request's headers. */
  idFor(headers: Headers, request?: Request): string {
    const known = request && this.ofRequest.get(request);
    if (known) return known;
    const header = headers.get(CORRELATION_HEADER);
    const id = header && CORRELATION_ID.test(header) ? header : this.ids.uuid();
    if (request) this.ofRequest.set(request, id);
    return id;
  }

  /** The logger for an error's log line: that of the operation that raised it, or the server's. */
  loggerFor(error: unknown): Logger {
    return (typeof error === 'object' && error !== null && this.loggerOfError.get(error)) || this.logger;
  }

  /** A Yoga plugin: the response header, and each failed operation's errors tied to its logger. List it before the masking runs (any user plugin is). */
  plugin(): Plugin {
    const tie = (error: unknown, context: unknown) => {
      const logger = (context as { logger?: Logger } | undefined)?.logger;
      const original = (error as { originalError?: unknown } | undefined)?.originalError ?? error;
      if (logger && typeof original === 'object' && original !== null) this.loggerOfError.set(original, logger);
    };
    const tieAll = (result: ExecutionResult, context: unknown) => result.errors?.forEach((error) => tie(error, context));
    return {
      onExecute: ({ args }) => ({
        onExecuteDone: (payload) => handleStreamOrSingleExecutionResult(payload, ({ result }) => tieAll(result, args.contextValue)),
      }),
      onSubscribe: ({ args }) => ({
        onSubscribeResult: (payload) => handleStreamOrSingleExecutionResult(payload, ({ result }) => tieAll(result, args.contextValue)),
        onSubscribeError: ({ error }) => tie(error, args.contextValue),
      }),
      onResponse: ({ request, response }) => {
        response.headers.set(CORRELATION_HEADER, this.idFor(request.headers, request));
      },
    };
  }
}
