import { createHash, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Logger } from '../core/logger.ts';

export type OpsEndpoints = {
  health: () => Promise<{ status: string }>;
  metrics: { render(): Promise<string>; contentType: string };
  /** `OPS_TOKEN`: when set, `/health` and `/metrics` answer only requests bearing it. */
  token?: string | undefined;
  logger: Logger;
};

/**
 * The HTTP routes: `/health` and `/metrics` (unless `ops` is false: they are served on a port of
 * their own, see createOpsServer), and everything else to GraphQL.
 */
export function createHttpServer(deps: {
  graphql: (req: http.IncomingMessage, res: http.ServerResponse) => void;
  ops: OpsEndpoints | false;
  /** The request body limit: the rest of a body refused past it is read and dropped up to this much more, then the connection is cut. */
  maxRequestBytes: number;
}): http.Server {
  const ops = deps.ops && opsRoutes(deps.ops);
  const server = http.createServer((req, res) => {
    if (ops && ops(req, res)) return;
    const socket = req.socket;
    res.once('finish', () => settleUnreadBody(req, socket, deps.maxRequestBytes));
    deps.graphql(req, res);
  });
  // Keep-alive a little longer than common load balancers' idle timeouts.
  server.keepAliveTimeout = 65_000;
  return server;
}

/** `/health` and `/metrics` alone, for `OPS_PORT`: a port operators need not publish. */
export function createOpsServer(ops: OpsEndpoints): http.Server {
  const routes = opsRoutes(ops);
  return http.createServer((req, res) => {
    if (routes(req, res)) return;
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('not found: this port serves /health and /metrics\n');
  });
}

/** Serves the request if it is for `/health` or `/metrics`; false if it is for something else. */
function opsRoutes(ops: OpsEndpoints): (req: http.IncomingMessage, res: http.ServerResponse) => boolean {
  const expected = ops.token === undefined ? undefined : digest(ops.token);
  const authorized = (req: http.IncomingMessage) => {
    if (!expected) return true;
    const presented = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '')?.[1];
    // Compared as digests, in constant time: the token's length and prefix do not leak.
    return presented !== undefined && timingSafeEqual(digest(presented), expected);
  };
  return (req, res) => {
    const path = req.url?.split('?')[0]?.replace(/\/$/, '');
    if (path !== '/health' && path !== '/metrics') return false;
    if (!authorized(req)) {
      res.writeHead(401, { 'content-type': 'text/plain', 'www-authenticate': 'Bearer realm="operations"' });
      res.end('this endpoint needs the operations token (OPS_TOKEN) as a bearer token\n');
      return true;
    }
    if (path === '/health') {
      void ops.health().then((body) => {
        res.writeHead(body.status === 'ok' ? 200 : 503, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      });
      return true;
    }
    void ops.metrics.render().then(
      (text) => {
        res.writeHead(200, { 'content-type': ops.metrics.contentType });
        res.end(text);
      },
      (error: unknown) => {
        ops.logger.error('could not collect metrics', { error });
        res.writeHead(503, { 'content-type': 'text/plain' });
        res.end('metrics unavailable: the database did not answer\n');
      },
    );
    return true;
  };
}

const digest = (text: string) => createHash('sha256').update(text).digest();

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

export type Listening = {
  readonly url: string;
  readonly wsUrl: string;
  readonly port: number;
  /** Where `/health` and `/metrics` are when they have a port of their own (`OPS_PORT`). */
  readonly opsUrl?: string;
};

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
