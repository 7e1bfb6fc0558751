/**
 * A live event feed client that never misses or repeats an event across dropped connections, API
 * restarts and database restarts.
 *
 *   TOKEN=<a token> node examples/resumingClient.ts [ws://localhost:4000/graphql] [position-to-start-after]
 *
 * (With npm's PATH: `npm exec -- node examples/resumingClient.ts`; `npm start` prints tokens in
 * development, `npm run token -- --sub you --role admin` makes one.) It prints every event as one JSON
 * line. Stop the API, start it again, restart its database, or kill its database connection: the
 * client carries on from the last position it printed, and no event appears twice or goes missing.
 * Import `followEvents` to use the same loop in your own code (test/resumingClient.e2e.spec.ts does).
 *
 * The rules that make this work:
 * 1. Remember the `position` of the last event you processed, and nothing else.
 * 2. Whenever the subscription has to start again, start it with `after` set to that position (or to
 *    the last one received, when events received are still waiting to be processed in order).
 *    graphql-ws re-sends the subscribe payload on every reconnect, serialising it again each time,
 *    so a payload whose `after` reads the current position (a getter) is fresh on every attempt.
 * 3. The server ends a subscription with FEED_CLOSED when its feed lost the database, and it arrives
 *    in one of two ways: as an `error` (a subscription that was running), or as a result carrying the
 *    error followed by `complete` (a subscription refused while the feed reconnects). Both mean
 *    "subscribe again after your last position", so do, with a back-off, until it is accepted.
 * 4. The token goes in the connection's params (`{ authorization: "Bearer …" }`): browsers cannot set
 *    headers on a WebSocket. The server closes the socket with 4403 when the token is bad, and when
 *    it expires while the socket is open. Then get a new token and reconnect: graphql-ws asks for
 *    the params again on every connection (a function), and rule 2 resumes after the last event.
 *    A token refused as soon as it was fetched will not heal by retrying, so that stops following.
 */
import { createClient, type FormattedExecutionResult } from 'graphql-ws';
import WebSocket from 'ws';

export type FeedEvent = { position: string; streamId: string; version: number; type: string; recordedAt: string };

export const EVENTS = `subscription Events($after: String) {
  events(after: $after) { position streamId version type recordedAt }
}`;

export type FollowOptions = {
  /** The API's graphql-ws endpoint, e.g. ws://localhost:4000/graphql. */
  readonly url: string;
  /** Start after this position; without it, at the live head. */
  readonly after?: string;
  /** Your work for one event; the event counts as processed once this returns (or its promise resolves). */
  readonly onEvent: (event: FeedEvent) => void | Promise<void>;
  /** Where the client says what it is doing (connections, resubscriptions). */
  readonly log?: (message: string, fields?: Record<string, unknown>) => void;
  /** Resubscription back-off: the first wait, doubled after each refusal up to `maxMs`. */
  readonly backoff?: { readonly initialMs?: number; readonly maxMs?: number };
  /**
   * Where the connection's bearer token comes from (omit it for an API without authentication).
   * Called before the first connection, and again after the server closed the socket with 4403 (the
   * token expired or was refused), before reconnecting; otherwise the token is reused.
   */
  readonly getToken?: () => string | Promise<string>;
};

export type Follower = {
  /** The position of the last event processed: persist it to resume across restarts of your own. */
  readonly lastPosition: string | undefined;
  /** Settles when following stops: resolves after `stop()`, rejects on an error resubscribing cannot cure. */
  readonly done: Promise<void>;
  stop(): Promise<void>;
};

type GraphQLErrorLike = { message: string; extensions?: { code?: string; resumeAfter?: string } };

/** The close code with which the server refuses a connection's token, at connect or when it expires. */
const TOKEN_REFUSED = 4403;

/** Follows `Subscription.events` for ever (until `stop`), resuming after the last processed event whenever it has to start again. */
export function followEvents(options: FollowOptions): Follower {
  const log = options.log ?? (() => {});
  const initialMs = options.backoff?.initialMs ?? 500;
  const maxMs = options.backoff?.maxMs ?? 10_000;
  let lastPosition = options.after;
  /** The last event received: those received are processed in order before any a resumed subscription brings. */
  let lastReceived = options.after;
  let delayMs = initialMs;
  let stopped = false;
  let unsubscribe: (() => void) | undefined;
  let retryTimer: NodeJS.Timeout | undefined;
  /** Events are processed one at a time, in order, even when onEvent is asynchronous. */
  let processing: Promise<void> = Promise.resolve();
  /** Runs `then` once every event received so far is processed (whatever became of that). */
  const afterProcessing = (then: () => void) => void processing.then(then, () => undefined);
  let settle!: { resolve: () => void; reject: (error: unknown) => void };
  const done = new Promise<void>((resolve, reject) => (settle = { resolve, reject }));

  let token: string | undefined;
  let tokenStale = true;
  /** Whether a connection was accepted since the token was fetched: a fresh token refused at once will not heal. */
  let acceptedSinceFetch = false;

  const client = createClient({
    url: options.url,
    webSocketImpl: WebSocket,
    // Asked for on every connection attempt.
    connectionParams: async () => {
      if (!options.getToken) return undefined;
      if (tokenStale) {
        token = await options.getToken();
        tokenStale = false;
        acceptedSinceFetch = false;
      }
      return { authorization: `Bearer ${token}` };
    },
    // Connect only while subscribed; reconnect for ever with graphql-ws's randomised exponential back-off.
    lazy: true,
    retryAttempts: Number.POSITIVE_INFINITY,
    // Retry every close that is not fatal by protocol (graphql-ws itself refuses to retry those).
    shouldRetry: () => true,
    on: {
      connected: () => {
        acceptedSinceFetch = true;
        log('connected', { resumingAfter: lastReceived ?? 'the live head' });
      },
      closed: (event) => {
        if (stopped) return;
        const { code, reason } = event as { code?: number; reason?: string };
        if (code === TOKEN_REFUSED) {
          if (!options.getToken || !acceptedSinceFetch) return fail(new Error(`the server refused the connection's token (${code}: ${reason})`));
          tokenStale = true;
          log('token refused or expired; getting a new one, then resuming', { code, reason, after: lastReceived ?? 'the live head' });
          return;
        }
        log('connection closed; will reconnect and resume', { code, after: lastReceived ?? 'the live head' });
      },
    },
  });

  /** graphql-ws's dispose rejects with the close event when the connection it waits for was refused: nothing to do about that here. */
  const dispose = () => void Promise.resolve(client.dispose()).catch(() => undefined);

  const fail = (error: unknown) => {
    if (stopped) return;
    stopped = true;
    dispose();
    settle.reject(error);
  };

  /** The subscription ended without our asking: start again after the last processed event, a little later each time. */
  const resubscribe = (how: 'error' | 'completed', why: string, resumeAfter: string | undefined) => {
    if (stopped) return;
    // With no event processed yet, the server's resumeAfter says where the subscription stood (the live head it started at).
    lastPosition ??= resumeAfter;
    lastReceived ??= resumeAfter;
    log('subscription ended; resubscribing', { how, why, after: lastPosition ?? 'the live head', inMs: delayMs });
    retryTimer = setTimeout(subscribe, delayMs);
    delayMs = Math.min(delayMs * 2, maxMs);
  };

  function subscribe(): void {
    if (stopped) return;
    let feedClosed: GraphQLErrorLike | undefined;
    let refused: GraphQLErrorLike[] | undefined;
    const payload = {
      query: EVENTS,
      variables: {
        // Read at each (re)connect, when graphql-ws serialises the payload again.
        get after(): string | undefined {
          return lastReceived;
        },
      },
    };
    unsubscribe = client.subscribe<{ events: FeedEvent }>(payload, {
      next: (result: FormattedExecutionResult<{ events: FeedEvent }>) => {
        if (result.errors) {
          const errors = result.errors as GraphQLErrorLike[];
          feedClosed = errors.find((error) => error.extensions?.code === 'FEED_CLOSED');
          if (!feedClosed) refused = errors;
          return;
        }
        const event = result.data?.events;
        if (!event) return;
        lastReceived = event.position;
        processing = processing.then(async () => {
          if (stopped) return;
          await options.onEvent(event);
          lastPosition = event.position;
          delayMs = initialMs; // following again: the next refusal starts the back-off afresh
        });
        processing.catch(fail);
      },
      error: (error: unknown) => {
        const errors = Array.isArray(error) ? (error as GraphQLErrorLike[]) : [];
        const closed = errors.find((e) => e.extensions?.code === 'FEED_CLOSED');
        if (errors.length > 0 && !closed) return fail(new Error(`the server refused the subscription: ${JSON.stringify(errors)}`));
        // FEED_CLOSED, or the connection failed for good: start again once what was received is processed.
        afterProcessing(() => resubscribe('error', closed ? 'FEED_CLOSED' : String(error), closed?.extensions?.resumeAfter));
      },
      complete: () => {
        if (stopped) return;
        if (refused) return fail(new Error(`the server refused the subscription: ${JSON.stringify(refused)}`));
        // Refused with FEED_CLOSED while the feed reconnects, or ended by a server shutting down: follow on.
        afterProcessing(() => resubscribe('completed', feedClosed ? 'FEED_CLOSED' : 'completed by the server', feedClosed?.extensions?.resumeAfter));
      },
    });
  }

  subscribe();

  return {
    get lastPosition() {
      return lastPosition;
    },
    done,
    async stop() {
      if (stopped) return done;
      stopped = true;
      clearTimeout(retryTimer);
      unsubscribe?.();
      await processing.catch(() => undefined);
      // Not awaited: while graphql-ws waits to retry a connection, its dispose waits for that attempt.
      dispose();
      settle.resolve();
      return done;
    },
  };
}

if (import.meta.main) {
  const log = (message: string, fields: Record<string, unknown> = {}) => process.stderr.write(`${JSON.stringify({ message, ...fields })}\n`);
  const token = process.env.TOKEN;
  const follower = followEvents({
    url: process.argv[2] ?? 'ws://localhost:4000/graphql',
    // A real client asks its identity provider (or refreshes) here; this one can only reuse TOKEN.
    ...(token ? { getToken: () => token } : {}),
    ...(process.argv[3] ? { after: process.argv[3] } : {}),
    // Your application's work goes here; only once it is done is the event "processed".
    onEvent: (event) => void process.stdout.write(`${JSON.stringify(event)}\n`),
    log,
  });
  follower.done.catch((error: unknown) => {
    log('stopped following', { error: String(error), lastPosition: follower.lastPosition });
    process.exitCode = 1;
  });
  process.on('SIGINT', () => {
    log('stopping', { lastPosition: follower.lastPosition });
    void follower.stop().then(() => process.exit(0));
  });
}
