import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Logger } from '../core/logger.ts';

/** The HTTP routes: `/health`, `/metrics`, and everything else to GraphQL. */
export function createHttpServer(deps: {
  graphql: (req: http.IncomingMessage, res: http.ServerResponse) => void;
  health: () => Promise<{ status: string }>;
  metrics: { render(): Promise<string>; contentType: string };
  logger: Logger;
  /** The request body limit: the rest of a body refused past it is read and dropped up to this much more, then the connection is cut. */
  maxRequestBytes: number;
}): http.Server {
  const server = http.createServer((req, res) => {
    const path = req.url?.replace(/\/$/, '');
    if (path === '/health') {
      void deps.health().then((body) => {
        res.writeHead(body.status === 'ok' ? 200 : 503, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      });
      return;
    }
    if (path === '/metrics') {
      void deps.metrics.render().then(
        (text) => {
          res.writeHead(200, { 'content-type': deps.metrics.contentType });
          res.end(text);
        },
        (error: unknown) => {
          deps.logger.error('could not collect metrics', { error });
          res.writeHead(503, { 'content-type': 'text/plain' });
          res.end('metrics unavailable: the database did not answer\n');
        },
      );
      return;
    }
    const socket = req.socket;
    res.once('finish', () => settleUnreadBody(req, socket, deps.maxRequestBytes));
    deps.graphql(req, res);
  });
  // Keep-alive a little longer than common load balancers' idle timeouts.
  server.keepAliveTimeout = 65_000;
  return server;
}

/**
 * After the response, a request body nobody read to its end (Yoga stops reading past the size limit
 * and answers 413) must not keep its connection busy: Node pauses the socket while a body waits to
 * be read, so the connection would never turn idle and a graceful close would wait for it for good.
 * A body Yoga gave up on (its stream destroyed) cannot be read any more: the connection is closed
 * once the response is out, as Node closes a `Connection: close` one. A body never read at all is
 * drained as Node drains it, but no more than another limit's worth.
 */
function settleUnreadBody(req: http.IncomingMessage, socket: Socket, maxBytes: number): void {
  if (req.complete || socket.destroyed) return;
  if (req.destroyed) {
    socket.destroySoon();
    return;
  }
  let drained = 0;
  req.removeAllListeners('data');
  req.on('data', (chunk: Buffer) => {
    drained += chunk.length;
    if (drained > maxBytes) socket.destroy();
  });
  req.resume();
}

export type Listening = { readonly url: string; readonly wsUrl: string; readonly port: number };

export async function listen(server: http.Server, port: number, host: string): Promise<Listening> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const bound = (server.address() as AddressInfo).port;
  const name = host === '0.0.0.0' || host === '::' ? 'localhost' : host;
  return { url: `http://${name}:${bound}/graphql`, wsUrl: `ws://${name}:${bound}/graphql`, port: bound };
}

/**
 * Stops taking connections and resolves once the requests already running (commands
 * mid-transaction) have finished. Keep-alive connections turn idle as their last request finishes;
 * each is closed as it does.
 */
export async function closeGracefully(server: http.Server): Promise<void> {
  if (!server.listening) return;
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  const idleSweep = setInterval(() => server.closeIdleConnections(), 50);
  server.closeIdleConnections();
  await closed.finally(() => clearInterval(idleSweep));
}
