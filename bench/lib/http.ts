import http from 'node:http';
import { BENCH_ADMIN_TOKEN } from './server.ts';

export type GraphQLResponse = { data?: any; errors?: { message: string }[] };

/**
 * A GraphQL-over-HTTP client with a fixed number of keep-alive connections, one per concurrent
 * client of the load generator, so connection set-up never enters the figures.
 */
export class GraphQLHttpClient {
  private readonly agent: http.Agent;
  private readonly url: URL;

  private readonly authorization: string;

  /** `token`: whose requests these are (an administrator's unless given). */
  constructor(url: string, connections: number, token: string = BENCH_ADMIN_TOKEN) {
    this.url = new URL(url);
    this.authorization = `Bearer ${token}`;
    this.agent = new http.Agent({ keepAlive: true, maxSockets: connections, maxFreeSockets: connections });
  }

  request(query: string, variables?: Record<string, unknown>): Promise<GraphQLResponse> {
    const body = JSON.stringify({ query, variables });
    return new Promise((resolve, reject) => {
      const req = http.request(
        {
          agent: this.agent,
          host: this.url.hostname,
          port: this.url.port,
          path: this.url.pathname,
          method: 'POST',
          headers: { 'content-type': 'application/json', accept: 'application/json', authorization: this.authorization, 'content-length': Buffer.byteLength(body) },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () => {
            try {
              resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')) as GraphQLResponse);
            } catch (error) {
              reject(new Error(`HTTP ${res.statusCode}: not JSON`, { cause: error }));
            }
          });
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}
