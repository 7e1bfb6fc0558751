/**
 * A live event feed client that never misses or repeats an event across dropped connections.
 *
 *   node examples/resumingClient.ts [ws://localhost:4000/graphql] [position-to-start-after]
 *
 * (With npm's PATH: `npm exec -- node examples/resumingClient.ts`.) It prints every event as one JSON
 * line. Stop the API, start it again, or kill its database connection: the client carries on from
 * the last position it printed, and no event appears twice or goes missing.
 *
 * The two rules that make this work:
 * 1. Remember the `position` of the last event you processed, and nothing else.
 * 2. Whenever the subscription has to start again, start it with `after` set to that position.
 *    graphql-ws re-sends the subscribe payload on every reconnect, serialising it again each time,
 *    so a payload whose `after` reads the current position (a getter) is fresh on every attempt.
 *    When the server ends the subscription with a FEED_CLOSED error (it lost its database
 *    connection), subscribe again in the same way.
 */
import { createClient, type FormattedExecutionResult } from 'graphql-ws';
import WebSocket from 'ws';

const url = process.argv[2] ?? 'ws://localhost:4000/graphql';
/** The last event processed. Persist it (e.g. in localStorage) to resume across restarts too. */
let lastPosition: string | undefined = process.argv[3];

const EVENTS = `subscription Events($after: String) {
  events(after: $after) { position streamId version type recordedAt }
}`;

type EventMessage = { events: { position: string; streamId: string; version: number; type: string; recordedAt: string } };

const client = createClient({
  url,
  webSocketImpl: WebSocket,
  // Connect only while subscribed; reconnect for ever with graphql-ws's randomised exponential back-off.
  lazy: true,
  retryAttempts: Number.POSITIVE_INFINITY,
  // Retry every close that is not fatal by protocol (graphql-ws itself refuses to retry those).
  shouldRetry: () => true,
  on: {
    connected: () => log('connected', { resumingAfter: lastPosition ?? 'the live head' }),
    closed: (event) => log('connection closed; will reconnect and resume', { code: (event as { code?: number }).code, after: lastPosition }),
  },
});

function log(message: string, fields: Record<string, unknown> = {}): void {
  process.stderr.write(`${JSON.stringify({ message, ...fields })}\n`);
}

function handle(event: EventMessage['events']): void {
  // Your application's work goes here; only once it is done is the event "processed".
  process.stdout.write(`${JSON.stringify(event)}\n`);
  lastPosition = event.position;
}

function subscribe(): void {
  const payload = {
    query: EVENTS,
    variables: {
      // Read at each (re)connect, when graphql-ws serialises the payload again.
      get after(): string | undefined {
        return lastPosition;
      },
    },
  };
  client.subscribe<EventMessage>(payload, {
    next: (result: FormattedExecutionResult<EventMessage>) => {
      if (result.data) handle(result.data.events);
      if (result.errors) log('errors in a result', { errors: result.errors });
    },
    error: (error: unknown) => {
      // The server ended the subscription (e.g. FEED_CLOSED while it reconnects to its database), or the
      // connection failed for good. Either way: start again after the last processed position.
      const errors = Array.isArray(error) ? (error as { message: string; extensions?: { code?: string } }[]) : [];
      const code = errors[0]?.extensions?.code;
      log('subscription ended with an error; resubscribing', { code: code ?? String(error), after: lastPosition });
      setTimeout(subscribe, 1000);
    },
    complete: () => log('subscription completed'),
  });
}

subscribe();

process.on('SIGINT', () => {
  log('stopping', { lastPosition });
  void client.dispose();
  process.exit(0);
});
