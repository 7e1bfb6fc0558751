import type http from 'node:http';
import { CloseCode, handleProtocols, makeServer, type ServerOptions } from 'graphql-ws';
import type { WebSocket, WebSocketServer } from 'ws';
import type { Logger } from '../core/logger.ts';

/**
 * What onSubscribe & co. see as `ctx.extra`: the socket, and of its upgrade request what the
 * operations read later (headers, the network connection). graphql-ws keeps `extra` as long as the
 * socket is open; the request itself (its raw headers, stream state and parser leftovers, about a
 * kilobyte) is let go once the socket is up.
 */
export type WsExtra = { readonly socket: WebSocket; readonly request: UpgradeRequest };
export type UpgradeRequest = Pick<http.IncomingMessage, 'headers' | 'socket'>;

/** Bytes a socket may have queued before a subscription waits for the client to read. */
const HIGH_WATER_MARK = 64 * 1024;

/**
 * Sends one text message on a socket: a string, or its UTF-8 bytes in parts (written as they are,
 * so bytes shared by many sockets are never copied per socket before the write); a promise when
 * the socket has too much queued and the sender should wait.
 */
export type SocketSend = (data: string | readonly Buffer[]) => void | Promise<void>;

const senders = new WeakMap<WebSocket, SocketSend>();

/**
 * How to send on a socket this server accepted, outside graphql-ws (pushed subscription results):
 * through the same per-socket queue graphql-ws's own messages go through, so both keep their order.
 */
export function senderFor(socket: WebSocket): SocketSend {
  return senders.get(socket) ?? (() => undefined);
}

/** Bytes of the header of an unmasked frame of `length` payload bytes (RFC 6455 §5.2). */
const headerLength = (length: number): number => (length < 126 ? 2 : length < 0x10000 ? 4 : 10);

/** Writes the header of one final, unmasked text frame (what a server sends) at `offset`; returns where the payload starts. */
function writeTextFrameHeader(target: Buffer, offset: number, length: number): number {
  target[offset] = 0x81;
  if (length < 126) {
    target[offset + 1] = length;
    return offset + 2;
  }
  if (length < 0x10000) {
    target[offset + 1] = 126;
    target.writeUInt16BE(length, offset + 2);
    return offset + 4;
  }
  target[offset + 1] = 127;
  target.writeBigUInt64BE(BigInt(length), offset + 2);
  return offset + 10;
}

type RawSocket = { write(data: Buffer, callback?: (error?: Error | null) => void): boolean };

/**
 * One socket's outgoing messages, framed here and written once per tick as one buffer. ws's own
 * send costs a frame object, a header buffer, a UTF-8 encoding and two queued writes per message;
 * with a few hundred subscribers of the whole log that is most of the work per delivery, and one
 * write per socket per fan-out batch is what the kernel can take. Without compression ws writes
 * each frame to the TCP socket at once, so frames written here straight to it stay in order with
 * ws's control frames (ping, close); a close first flushes what is queued.
 */
class FrameQueue {
  private readonly socket: WebSocket;
  private readonly raw: RawSocket;
  /** Queued messages: each one's payload length, then its parts (none while idle: an idle socket holds no arrays). */
  private pending: (number | Buffer)[] | undefined;
  private pendingBytes = 0;
  private waiting: (() => void)[] | undefined;

  constructor(socket: WebSocket, raw: RawSocket) {
    this.socket = socket;
    this.raw = raw;
  }

  send(data: string | readonly Buffer[]): void | Promise<void> {
    if (this.socket.readyState !== this.socket.OPEN) return;
    let pending = this.pending;
    if (!pending) {
      pending = this.pending = [];
      process.nextTick(flushQueue, this);
    }
    const at = pending.push(0);
    let length = 0;
    if (typeof data === 'string') {
      const bytes = Buffer.from(data);
      pending.push(bytes);
      length = bytes.length;
    } else {
      for (const part of data) {
        pending.push(part);
        length += part.length;
      }
    }
    pending[at - 1] = length;
    this.pendingBytes += headerLength(length) + length;
    if (this.socket.bufferedAmount + this.pendingBytes < HIGH_WATER_MARK) return;
    return new Promise<void>((resolve) => (this.waiting ??= []).push(resolve));
  }

  flush(): void {
    const pending = this.pending;
    if (!pending) return;
    const waiting = this.waiting;
    const bytes = this.pendingBytes;
    this.pending = undefined;
    this.pendingBytes = 0;
    this.waiting = undefined;
    if (this.socket.readyState !== this.socket.OPEN) {
      waiting?.forEach((resolve) => resolve());
      return;
    }
    const data = Buffer.allocUnsafe(bytes);
    let offset = 0;
    for (const item of pending) {
      if (typeof item === 'number') offset = writeTextFrameHeader(data, offset, item);
      else {
        data.set(item, offset);
        offset += item.length;
      }
    }
    // Whoever waited for room goes on once this has reached the kernel (or failed: the socket is closing).
    this.raw.write(data, waiting ? () => waiting.forEach((resolve) => resolve()) : undefined);
  }
}

const flushQueue = (queue: FrameQueue) => queue.flush();

/**
 * graphql-ws on a `ws` server, tuned for many subscribers. graphql-ws's own adapter waits for every
 * message to be flushed before it sends the next, so each subscriber gets at most one message per
 * event-loop turn and each message costs its own write system call; with a thousand subscribers the
 * loop turns slowly and every feed falls behind. Here a message is queued at once while the socket's
 * buffer is small (a slow reader still makes its subscription wait, which moves it back to catch-up
 * reading instead of growing memory), and each socket's frames of a tick leave in one write
 * (FrameQueue), so all frames for one socket in a fan-out batch cost one system call. One timer
 * pings every socket for liveness, a slice of them per tick.
 */
/** How many ticks one round of keep-alive pings is spread over. */
const KEEP_ALIVE_SLICES = 48;

export function serveGraphqlWs(
  options: ServerOptions<Record<string, unknown>, WsExtra>,
  wss: WebSocketServer,
  logger: Logger,
  keepAliveMs: number,
): { dispose(): Promise<void> } {
  // graphql-ws's own wait for connection_init keeps its timer as long as the socket is open; this
  // one is let go as soon as connection_init arrives (or the socket closes).
  const initWaitMs = options.connectionInitWaitTimeout ?? 3_000;
  const initWaits = new WeakMap<WebSocket, NodeJS.Timeout>();
  const stopInitWait = (socket: WebSocket) => {
    clearTimeout(initWaits.get(socket));
    initWaits.delete(socket);
  };
  const server = makeServer({
    ...options,
    connectionInitWaitTimeout: 0,
    onConnect: (ctx) => {
      stopInitWait(ctx.extra.socket);
      return options.onConnect?.(ctx);
    },
  });
  wss.options.handleProtocols = handleProtocols;
  const alive = new WeakSet<WebSocket>();
  // Listeners every socket shares (ws calls them on the socket), rather than closures of each socket's own.
  function answeredPing(this: WebSocket) {
    alive.add(this);
  }
  function failed(this: WebSocket, error: Error) {
    logger.warn('WebSocket error', { error });
    this.close(CloseCode.InternalServerError, 'Internal server error');
  }
  function uninitialised(socket: WebSocket) {
    initWaits.delete(socket);
    socket.close(CloseCode.ConnectionInitialisationTimeout, 'Connection initialisation timeout');
  }

  // Each socket is pinged once per round of at least keepAliveMs, a slice of the sockets per tick:
  // pinging ten thousand in one tick held every subscriber's delivery up for the whole sweep (the
  // live bench's p99 with 10,000 subscribers was that stall). A slice is the sockets open now over
  // the ticks of a round, so sockets opened during a round (visited in it: a Set's iterator reaches
  // what is added later) spread over its remaining ticks too, instead of waiting for its last one.
  let round: Iterator<WebSocket> = wss.clients.values();
  let ticksIntoRound = 0;
  let roundDone = false;
  const keepAlive = setInterval(() => {
    if (++ticksIntoRound > KEEP_ALIVE_SLICES && roundDone) {
      round = wss.clients.values();
      ticksIntoRound = 1;
      roundDone = false;
    }
    if (roundDone) return;
    const slice = Math.ceil(wss.clients.size / KEEP_ALIVE_SLICES);
    for (let visited = 0; visited < slice; visited++) {
      const next = round.next();
      if (next.done) {
        roundDone = true;
        return;
      }
      const socket = next.value;
      if (!alive.has(socket)) {
        socket.terminate(); // no pong since the last ping
        continue;
      }
      alive.delete(socket);
      socket.ping();
    }
  }, keepAliveMs / KEEP_ALIVE_SLICES);
  keepAlive.unref();

  wss.on('connection', (socket, request) => {
    alive.add(socket);
    socket.on('pong', answeredPing);
    socket.on('error', failed);
    if (initWaitMs > 0 && Number.isFinite(initWaitMs)) initWaits.set(socket, setTimeout(uninitialised, initWaitMs, socket));
    const raw = (socket as unknown as { _socket?: RawSocket })._socket;
    const queue = raw ? new FrameQueue(socket, raw) : undefined;
    const send: SocketSend = queue
      ? (data) => queue.send(data)
      : (data) => {
        if (socket.readyState !== socket.OPEN) return;
        const message = typeof data === 'string' ? data : Buffer.concat(data);
        if (socket.bufferedAmount < HIGH_WATER_MARK) return void socket.send(message);
        return new Promise<void>((resolve) => socket.send(message, () => resolve()));
      };
    senders.set(socket, send);
    const closed = server.opened(
      {
        protocol: socket.protocol,
        send,
        close: (code, reason) => {
          queue?.flush();
          socket.close(code, reason);
        },
        // Not an async function: graphql-ws's handler of a subscribe message runs as long as the
        // subscription does, and an awaiting frame here would hold the message's bytes as long.
        onMessage: (handle) =>
          socket.on('message', (message) => {
            handle(String(message)).catch((error: unknown) => {
              logger.error('unexpected error handling a WebSocket message', { error });
              socket.close(CloseCode.InternalServerError, 'Internal server error');
            });
          }),
      },
      { socket, request: { headers: request.headers, socket: request.socket } },
    );
    // ws emits 'close' once: `on` spares the wrapper `once` would keep for the socket's lifetime.
    socket.on('close', (code, reason) => {
      stopInitWait(socket);
      void closed(code, String(reason));
    });
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
