import type http from 'node:http';
import type { ExecutionResult } from 'graphql';
import { CloseCode, handleProtocols, makeServer, type ServerOptions } from 'graphql-ws';
import type { WebSocket, WebSocketServer } from 'ws';
import type { Logger } from '../core/logger.ts';

const PAYLOAD_JSON = Symbol('the result as the JSON of a next message payload');

/**
 * The result with its `next` payload serialised once, for a result that many subscriptions send
 * (a shared execution): each of them then writes these bytes behind its own id instead of
 * stringifying the whole result again. Same JSON as graphql-ws's own (errors by their toJSON).
 */
export function withPayloadJson<R extends ExecutionResult>(result: R): R {
  return { ...result, [PAYLOAD_JSON]: JSON.stringify(result) };
}

/**
 * What onNext gives graphql-ws in place of a payload it has already sent; the socket's send drops
 * the message that carries it (no result has this key: results have `data` and `errors`).
 */
const ALREADY_SENT = Object.freeze({ '\u0000already sent': true });
const ALREADY_SENT_SUFFIX = `${JSON.stringify({ payload: ALREADY_SENT })}`.slice(1);

/** What onSubscribe & co. see as `ctx.extra`. */
export type WsExtra = { readonly socket: WebSocket; readonly request: http.IncomingMessage };

/** Bytes a socket may have queued before a subscription waits for the client to read. */
const HIGH_WATER_MARK = 64 * 1024;

/** At most one flush of the corked sockets per this many milliseconds (see scheduleFlush). */
const FLUSH_INTERVAL_MS = 5;

/**
 * graphql-ws on a `ws` server, tuned for many subscribers. graphql-ws's own adapter waits for every
 * message to be flushed before it sends the next, so each subscriber gets at most one message per
 * event-loop turn and each message costs its own write system call; with a thousand subscribers the
 * loop turns slowly and every feed falls behind. Here a message is queued at once while the socket's
 * buffer is small (a slow reader still makes its subscription wait, which moves it back to catch-up
 * reading instead of growing memory), and writes are corked until the next flush, so all frames for
 * one socket in a fan-out batch (and, under load, in the batches of a few milliseconds) leave in one
 * write. One timer pings every socket for liveness.
 */
export function serveGraphqlWs(
  options: ServerOptions<Record<string, unknown>, WsExtra>,
  wss: WebSocketServer,
  logger: Logger,
  keepAliveMs = 12_000,
): { dispose(): Promise<void> } {
  const senders = new WeakMap<WebSocket, (data: string) => Promise<void> | void>();
  const server = makeServer({
    ...options,
    // A result serialised once (withPayloadJson) is written as it is, behind this subscription's id.
    onNext: (ctx, id, payload, args, result) => {
      const json = options.onNext ? undefined : (result as { [PAYLOAD_JSON]?: string })[PAYLOAD_JSON];
      if (json === undefined) return options.onNext?.(ctx, id, payload, args, result);
      const sent = ALREADY_SENT as unknown as ExecutionResult;
      const sending = senders.get(ctx.extra.socket)?.(`{"id":${JSON.stringify(id)},"type":"next","payload":${json}}`);
      return sending ? sending.then(() => sent) : sent;
    },
  });
  wss.options.handleProtocols = handleProtocols;
  const alive = new WeakSet<WebSocket>();

  const keepAlive = setInterval(() => {
    for (const socket of wss.clients) {
      if (!alive.has(socket)) {
        socket.terminate(); // no pong since the last ping
        continue;
      }
      alive.delete(socket);
      socket.ping();
    }
  }, keepAliveMs);
  keepAlive.unref();

  // Corked sockets are flushed together: at once when the last flush was long enough ago, else when
  // FLUSH_INTERVAL_MS have passed since it. Under load, a socket's frames of several events then
  // leave in one write (loopback writes were the largest share of the fan-out's CPU), and a lone
  // event still leaves at once.
  const corked = new Set<{ uncork(): void }>();
  let flushPending = false;
  let lastFlush = -Infinity;
  const flush = () => {
    flushPending = false;
    lastFlush = performance.now();
    for (const raw of corked) raw.uncork();
    corked.clear();
  };
  const scheduleFlush = () => {
    if (flushPending) return;
    flushPending = true;
    const wait = lastFlush + FLUSH_INTERVAL_MS - performance.now();
    if (wait <= 0) process.nextTick(flush);
    else setTimeout(flush, wait);
  };

  wss.on('connection', (socket, request) => {
    alive.add(socket);
    socket.on('pong', () => alive.add(socket));
    const raw = (socket as unknown as { _socket?: { cork(): void; uncork(): void } })._socket;
    socket.once('error', (error) => {
      logger.warn('WebSocket error', { error });
      socket.close(CloseCode.InternalServerError, 'Internal server error');
    });
    const send = (data: string): Promise<void> | void => {
      if (socket.readyState !== socket.OPEN) return;
      if (raw && !corked.has(raw)) {
        raw.cork();
        corked.add(raw);
        scheduleFlush();
      }
      if (socket.bufferedAmount < HIGH_WATER_MARK) {
        socket.send(data);
        return;
      }
      return new Promise<void>((resolve) => socket.send(data, () => resolve()));
    };
    senders.set(socket, send);
    const closed = server.opened(
      {
        protocol: socket.protocol,
        send: (data) => (data.endsWith(ALREADY_SENT_SUFFIX) ? undefined : send(data)),
        close: (code, reason) => socket.close(code, reason),
        onMessage: (handle) =>
          socket.on('message', async (message) => {
            try {
              await handle(String(message));
            } catch (error) {
              logger.error('unexpected error handling a WebSocket message', { error });
              socket.close(CloseCode.InternalServerError, 'Internal server error');
            }
          }),
      },
      { socket, request },
    );
    socket.once('close', (code, reason) => void closed(code, String(reason)));
  });

  return {
    async dispose() {
      clearInterval(keepAlive);
      for (const client of wss.clients) client.close(1001, 'Going away');
      wss.removeAllListeners('connection');
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}
