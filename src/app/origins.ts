import type { Plugin } from 'graphql-yoga';

/** The code of a browser request refused because the page that sent it is on an origin not listed in CORS_ORIGINS. */
export const ORIGIN_NOT_ALLOWED = 'ORIGIN_NOT_ALLOWED';

/**
 * Which web origins may use the API from a browser: `CORS_ORIGINS`, e.g.
 * `https://shop.example.com,http://localhost:5173`, or `*` for any origin without credentials.
 * The API's own origin (GraphiQL) always may. A request without an `Origin` header is not a
 * browser's cross-origin request (curl, servers, mobile apps) and is not judged here.
 */
export class OriginPolicy {
  private readonly listed: ReadonlySet<string>;
  private readonly anyOrigin: boolean;

  /** `origins`: exact origins (scheme://host[:port]), or `*`. */
  constructor(origins: readonly string[]) {
    this.anyOrigin = origins.includes('*');
    this.listed = new Set(origins.filter((origin) => origin !== '*'));
  }

  /** May a request with this `Origin`, sent to this `Host`, go on? */
  allows(origin: string | null | undefined, host: string | null | undefined): boolean {
    if (origin == null || origin === '') return true;
    return this.anyOrigin || this.listed.has(origin) || sameOrigin(origin, host);
  }

  /**
   * Yoga's CORS options for a request: credentials only for a listed origin, which is echoed alone;
   * with `*`, any origin is echoed (Yoga's way of allowing all) without credentials; no CORS headers
   * at all otherwise, so a browser keeps the response from the page. (Yoga's default would echo
   * every origin with credentials.)
   */
  cors(request: Request): false | { origin: string | string[]; credentials: boolean; exposedHeaders: string[] } {
    const origin = request.headers.get('origin');
    if (origin === null) return false;
    const exposedHeaders = ['x-correlation-id', 'retry-after'];
    if (this.listed.has(origin)) return { origin: [origin], credentials: true, exposedHeaders };
    if (this.anyOrigin) return { origin: '*', credentials: false, exposedHeaders };
    return false;
  }

  /**
   * Refuses, before anything is parsed, every browser request from a page on an origin not allowed
   * (403, ORIGIN_NOT_ALLOWED). This is what stops cross-site request forgery: a form on another site
   * can POST `application/x-www-form-urlencoded`, `multipart/form-data` or `text/plain` without a
   * CORS preflight, and such a request would otherwise run its mutation even though the browser
   * hides the answer. Preflights (OPTIONS) are left to CORS, which answers them without permission.
   */
  plugin(): Plugin {
    return {
      onRequest: ({ request, endResponse, fetchAPI }) => {
        if (request.method === 'OPTIONS') return;
        const origin = request.headers.get('origin');
        if (this.allows(origin, request.headers.get('host'))) return;
        endResponse(
          new fetchAPI.Response(
            JSON.stringify({ errors: [{ message: `Requests from ${origin} are not allowed: add the origin to CORS_ORIGINS`, extensions: { code: ORIGIN_NOT_ALLOWED } }] }),
            { status: 403, headers: { 'content-type': 'application/json; charset=utf-8' } },
          ),
        );
      },
    };
  }
}

/** A page served by this API itself (GraphiQL): its origin's host is the one the request was sent to. */
function sameOrigin(origin: string, host: string | null | undefined): boolean {
  if (!host || !URL.canParse(origin)) return false;
  return new URL(origin).host === host.toLowerCase();
}

/** `CORS_ORIGINS` as origins: each entry trimmed, without a trailing slash; problems named. */
export function parseOrigins(raw: string): { origins: string[]; problems: string[] } {
  const origins: string[] = [];
  const problems: string[] = [];
  for (const entry of raw.split(',').map((part) => part.trim()).filter(Boolean)) {
    if (entry === '*') {
      origins.push(entry);
      continue;
    }
    const url = URL.canParse(entry) ? new URL(entry) : undefined;
    if (!url || !['http:', 'https:'].includes(url.protocol) || url.origin !== entry.replace(/\/$/, '').toLowerCase()) {
      problems.push(`"${entry}" is not an origin like https://app.example.com (scheme, host and port only)`);
      continue;
    }
    origins.push(url.origin);
  }
  return { origins, problems };
}
