import type http from 'node:http';
import { type DocumentNode, type ExecutionResult, getOperationAST, GraphQLError } from 'graphql';
import { processRegularResult, type YogaServerInstance } from 'graphql-yoga';
import type { Logger } from '../core/logger.ts';
import type { GraphQLContext } from '../graphql/context.ts';
import { type Headers, nodeHeaders } from './context.ts';
import type { RequestOrigin } from './callers.ts';
import { CORRELATION_HEADER } from './correlation.ts';

type Yoga = YogaServerInstance<{ req?: RequestOrigin }, GraphQLContext>;

/** What Yoga's regular result processor answers with, in its order of preference. */
const REGULAR_MEDIA_TYPES = ['application/graphql-response+json', 'application/json'] as const;
type RegularMediaType = (typeof REGULAR_MEDIA_TYPES)[number];

type Params = { query: string; variables?: Record<string, unknown> | null; operationName?: string | null; extensions?: Record<string, unknown> | null };

/**
 * GraphQL over HTTP for the common request, straight on `node:http`: a `POST /graphql` with a JSON
 * body of known length, from a client that is not a browser on another page (no `Origin`), asking
 * for a JSON answer. It runs through Yoga's own envelop, as the WebSocket path does (the same
 * plugins, parse and validation caches, context, masking and limits), and Yoga's own result
 * processor shapes the answer (status codes, error extensions), so it answers what Yoga answers.
 *
 * Why: Yoga's Fetch adapter turns every Node request into a Fetch `Request` and its answer into a
 * Fetch `Response` (headers objects, body streams, an abort signal per request). On the 2-core
 * bench machine that costs about 0.4 ms of CPU per request, twice what the whole of PostGraphile's
 * HTTP layer does; this path spends about 0.1 ms on the same (docs/benchmarks.md).
 *
 * Everything else goes to Yoga unchanged: other methods and paths, browsers (CORS and the origin
 * check are Yoga plugins), bodies of unknown or too large a size, other media types, and any
 * request this path finds unusual once read (not a JSON object of `query`, `variables`,
 * `operationName` and `extensions`; a subscription; a failure before execution), which Yoga then
 * answers from the body as read. So Yoga's answers to odd requests stay Yoga's.
 */
export function graphqlOverHttp(
  yoga: Yoga,
  deps: {
    maxRequestBytes: number;
    /** Where an unexpected failure of this path is reported. */
    logger: Logger;
    /** The correlation id the response carries: the operation's when its context was built, else the request's (or a new one). */
    correlationId: (headers: Headers, context: GraphQLContext | undefined) => string;
  },
): (req: http.IncomingMessage, res: http.ServerResponse) => void {
  const viaYoga = (req: http.IncomingMessage, res: http.ServerResponse) => void yoga(req, res, { req });
  return (req, res) => {
    const mediaType = fastPathMediaType(req, deps.maxRequestBytes);
    if (!mediaType) return viaYoga(req, res);
    readBody(req, (body) => {
      void answer(yoga, deps, req, res, body, mediaType).catch((error: unknown) => {
        // Writing the answer failed (the client went away): nothing is left to tell it.
        if (res.headersSent) return res.destroy(error instanceof Error ? error : undefined);
        // A bug on this path (Yoga's hooks mask what resolvers throw): masked, as Yoga would, and logged.
        const correlationId = deps.correlationId(nodeHeaders(req.headers), undefined);
        deps.logger.error('unexpected error answering a GraphQL request', { error, correlationId });
        const text = JSON.stringify({ errors: [{ message: 'Unexpected error.' }] });
        res.writeHead(500, { 'content-type': 'application/json; charset=utf-8', 'content-length': String(Buffer.byteLength(text)), [CORRELATION_HEADER]: correlationId });
        res.end(text);
      });
    });
  };
}

/** The media type this path would answer a request with, or undefined when the request is Yoga's to serve. */
function fastPathMediaType(req: http.IncomingMessage, maxRequestBytes: number): RegularMediaType | undefined {
  if (req.method !== 'POST' || req.url !== '/graphql') return undefined;
  const { headers } = req;
  if (headers.origin !== undefined) return undefined;
  const contentType = headers['content-type']?.replace(/\s/g, '').toLowerCase();
  if (contentType !== 'application/json' && contentType !== 'application/json;charset=utf-8') return undefined;
  const length = Number(headers['content-length']);
  if (!Number.isInteger(length) || length <= 0 || length > maxRequestBytes || headers['transfer-encoding'] !== undefined) return undefined;
  return regularMediaType(headers.accept);
}

/**
 * Yoga's content negotiation for a result that is not a stream: it tries each media type the client
 * lists (last first) against each processor's, and the last match wins; the regular (JSON)
 * processor comes last, so it answers whenever it matches at all. Only UTF-8 is served.
 */
export function regularMediaType(accept: string | undefined): RegularMediaType | undefined {
  const requested = (accept || '*/*').replace(/\s/g, '').toLowerCase().split(',').reverse();
  let chosen: RegularMediaType | undefined;
  for (const entry of requested) {
    const [mediaType, ...params] = entry.split(';');
    if (mediaType === undefined) continue;
    const charset = params.find((param) => param.includes('charset=')) ?? 'charset=utf-8';
    if (charset !== 'charset=utf-8') continue;
    const [type, subtype] = mediaType.split('/');
    for (const candidate of REGULAR_MEDIA_TYPES) {
      const [candidateType, candidateSubtype] = candidate.split('/');
      if ((type === '*' || type === candidateType) && (subtype === '*' || subtype === candidateSubtype)) chosen = candidate;
    }
  }
  return chosen;
}

function readBody(req: http.IncomingMessage, done: (body: Buffer) => void): void {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.once('end', () => done(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)));
  // A client that goes away mid-body gets nothing; Node closes the socket.
  req.once('error', () => undefined);
}

async function answer(
  yoga: Yoga,
  deps: { correlationId: (headers: Headers, context: GraphQLContext | undefined) => string },
  req: http.IncomingMessage,
  res: http.ServerResponse,
  body: Buffer,
  mediaType: RegularMediaType,
): Promise<void> {
  const params = paramsOf(body);
  if (!params) return yogaFromBody(yoga, req, res, body);
  const executed = await execute(yoga, req, params);
  if (!executed) return yogaFromBody(yoga, req, res, body);
  let written: { body: string; init: { status: number; headers: Record<string, string> } } | undefined;
  // Yoga's own result processor decides the status, the headers and the body; this keeps what it made instead of a Fetch Response.
  const capture = { Response: function (text: string, init: { status: number; headers: Record<string, string> }) { written = { body: text, init }; } };
  processRegularResult(executed.result, capture as never, mediaType);
  const { body: text, init } = written!;
  const headers: Record<string, string> = { ...init.headers, 'content-length': String(Buffer.byteLength(text)) };
  headers[CORRELATION_HEADER] = deps.correlationId(nodeHeaders(req.headers), executed.context);
  res.writeHead(init.status, headers);
  res.end(text);
}

/** The request's GraphQL parameters, when they are exactly what Yoga accepts from a JSON body; else undefined. */
function paramsOf(body: Buffer): Params | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return undefined;
  const { query, variables, operationName, extensions, ...rest } = parsed as Record<string, unknown>;
  if (Object.keys(rest).length > 0 || typeof query !== 'string' || query === '') return undefined;
  if (variables != null && !isObject(variables)) return undefined;
  if (operationName != null && typeof operationName !== 'string') return undefined;
  if (extensions != null && !isObject(extensions)) return undefined;
  return parsed as Params;
}

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * Yoga's request processing, on its envelop: parse, validate (errors answer without a context),
 * build the context, execute. Undefined when the request is not this path's: a subscription, or a
 * throw before execution (a syntax error, a refused variable) that Yoga knows how to answer.
 */
async function execute(yoga: Yoga, req: http.IncomingMessage, params: Params): Promise<{ result: ExecutionResult; context?: GraphQLContext } | undefined> {
  const enveloped = yoga.getEnveloped({ req, params } as never);
  let document: DocumentNode;
  try {
    document = enveloped.parse(params.query);
    const errors = enveloped.validate(enveloped.schema, document);
    if (errors.length > 0) return { result: { errors } };
  } catch {
    return undefined;
  }
  if (getOperationAST(document, params.operationName)?.operation === 'subscription') return undefined;
  let contextValue: GraphQLContext;
  try {
    contextValue = (await enveloped.contextFactory()) as GraphQLContext;
  } catch (error) {
    // A refusal of the caller (UNAUTHENTICATED, 401) is answered as Yoga answers a GraphQL error; anything else is Yoga's to mask and log.
    if (error instanceof GraphQLError && !error.originalError) return { result: { errors: [error] } };
    return undefined;
  }
  const result = (await enveloped.execute({ schema: enveloped.schema, document, contextValue, variableValues: params.variables, operationName: params.operationName })) as ExecutionResult;
  return { result, context: contextValue };
}

/** Hands a request whose body this path has read to Yoga, and writes Yoga's answer, streamed (a subscription's events) or not. */
async function yogaFromBody(yoga: Yoga, req: http.IncomingMessage, res: http.ServerResponse, body: Buffer): Promise<void> {
  const headers = new yoga.fetchAPI.Headers();
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined) continue;
    for (const item of Array.isArray(value) ? value : [value]) headers.append(name, item);
  }
  const request = new yoga.fetchAPI.Request(`http://${req.headers.host ?? 'localhost'}${req.url}`, { method: 'POST', headers, body: body.toString('utf8') });
  const response = await yoga.fetch(request, { req });
  const responseHeaders: Record<string, string | string[]> = {};
  response.headers.forEach((value, name) => {
    const earlier = responseHeaders[name];
    responseHeaders[name] = earlier === undefined ? value : [...(Array.isArray(earlier) ? earlier : [earlier]), value];
  });
  res.writeHead(response.status, response.statusText, responseHeaders);
  const reader = response.body?.getReader();
  if (!reader) return void res.end();
  res.once('close', () => void reader.cancel().catch(() => undefined));
  for (;;) {
    const { done, value } = await reader.read();
    if (done || res.destroyed) break;
    res.write(value);
  }
  res.end();
}
