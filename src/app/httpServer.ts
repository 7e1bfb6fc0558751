import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../core/logger.ts';

/** The HTTP routes: `/health`, `/metrics`, and everything else to GraphQL. */
export function createHttpServer(deps: {
  graphql: (req: http.IncomingMessage, res: http.ServerResponse) => void;
  health: () => Promise<{ status: string }>;
  metrics: { render(): Promise<string>; contentType: string };
  logger: Logger;
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
    deps.graphql(req, res);
  });
  // Keep-alive a little longer than common load balancers' idle timeouts.
  server.keepAliveTimeout = 65_000;
  return server;
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
