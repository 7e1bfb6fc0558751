import type http from 'node:http';
import type { Identity } from '../core/identity.ts';

/**
 * Who a per-caller limit counts against: the token's subject, or for anonymous (and, with
 * authentication off, unverified) callers their network address. Behind a reverse proxy every connection comes from the proxy, so with
 * `trustProxy` the address is the last one the proxy appended to `X-Forwarded-For` (the one that
 * connected to it; earlier entries are the client's own word). Without a request (in-process
 * fetch) anonymous callers share one key.
 */
export function callerKey(identity: Identity, request: RequestOrigin | undefined, trustProxy: boolean): string {
  if (identity.kind === 'subject' && !identity.unverified) return `subject:${identity.subject}`;
  return `address:${request ? remoteAddress(request, trustProxy) : 'in-process'}`;
}

/** What a caller's address is read from: a request's headers and its network connection (a WebSocket keeps no more of its upgrade request). */
export type RequestOrigin = Pick<http.IncomingMessage, 'headers' | 'socket'>;

export function remoteAddress(request: RequestOrigin, trustProxy: boolean): string {
  if (trustProxy) {
    const header = request.headers['x-forwarded-for'];
    const forwarded = (Array.isArray(header) ? header.join(',') : (header ?? '')).split(',').map((entry) => entry.trim()).filter(Boolean);
    const last = forwarded.at(-1);
    if (last) return last;
  }
  return request.socket.remoteAddress ?? 'unknown';
}
