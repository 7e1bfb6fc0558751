import type http from 'node:http';
import { CloseCode, handleProtocols, makeServer, type ServerOptions } from 'graphql-ws';
import type { WebSocket, WebSocketServer } from 'ws';
import type { Logger } from '../core/logger.ts';

/** What onSubscribe & co. see as `ctx.extra`. */
export type WsExtra = { readonly socket: WebSocket; readonly request: http.IncomingMessage };

/** Bytes a socket may have queued before a subscription waits for the client to read. */
const HIGH_WATER_MARK = 64 * 1024;

/** Sends one message on a socket; a promise when the socket has too much queued and the sender should wait. */
export type SocketSend = (data: string) => void | Promise<void>;

const senders = new WeakMap<WebSocket, SocketSend>();

/**
 * How to send on a socket this server accepted, outside graphql-ws (pushed subscription results):
 * the same corked, bounded writes graphql-ws's own messages go through, so both keep their order.
 */
export function senderFor(socket: WebSocket): SocketSend {
  return senders.get(socket) ?? (() => undefined);
}

/**
 * graphql-ws on a `ws` server, tuned for many subscribers. graphql-ws's own adapter waits for every
 * message to be flushed before it sends the next, so each subscriber gets at most one message per
 * event-loop turn and each message costs its own write system call; with a thousand subscribers the
 * loop turns slowly and every feed falls behind. Here a message is queued at once while the socket's
 * buffer is small (a slow reader still makes its subscription wait, which moves it back to catch-up
 * reading instead of growing memory), and writes are corked for the rest of the tick, so all frames
 * for one socket in a fan-out batch leave in one write. One timer pings every socket for liveness.
 */
export function serveGraphqlWs(
  options: ServerOptions<Record<string, unknown>, WsExtra>,
  wss: WebSocketServer,
  logger: Logger,
  keepAliveMs = 12_000,
): { dispose(): Promise<void> } {
  const server = makeServer(options);
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

  wss.on('connection', (socket, request) => {
    alive.add(socket);
    socket.on('pong', () => alive.add(socket));
    const raw = (socket as unknown as { _socket?: { cork(): void; uncork(): void } })._socket;
    let corked = false;
    const uncork = () => {
      corked = false;
      raw?.uncork();
    };
    socket.once('error', (error) => {
      logger.warn('WebSocket error', { error });
      socket.close(CloseCode.InternalServerError, 'Internal server error');
    });
    const send: SocketSend = (data) => {
      if (socket.readyState !== socket.OPEN) return;
      if (!corked && raw) {
        corked = true;
        raw.cork();
        process.nextTick(uncork);
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
        send,
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
