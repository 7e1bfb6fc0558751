import { createRemoteJWKSet, errors, jwtVerify, type JWTPayload, type JWTVerifyGetKey, SignJWT } from 'jose';
import { LRUCache } from 'lru-cache';
import type { Identity } from '../core/identity.ts';
import { ANONYMOUS } from '../core/identity.ts';

/** How callers prove who they are: JWTs checked with a shared secret or a JWKS, or not at all. */
export type AuthSettings =
  | {
      readonly mode: 'jwt';
      /** HS256 shared secret; exactly one of secret and jwksUrl. */
      readonly secret?: string;
      readonly jwksUrl?: string;
      readonly issuer?: string;
      readonly audience?: string;
      /** The claim that lists the caller's roles (an array of strings, or one string). */
      readonly rolesClaim: string;
      readonly clockToleranceSeconds: number;
    }
  | { readonly mode: 'off' };

/** Why a presented token was refused. The client can act on the reason: refresh, or sign in again. */
export class AuthenticationError extends Error {
  readonly reason: 'expired' | 'invalid' | 'missing';
  constructor(reason: 'expired' | 'invalid' | 'missing', message: string) {
    super(message);
    this.name = 'AuthenticationError';
    this.reason = reason;
  }
}

/**
 * The identity provider's key set could not be fetched or read (down, timing out, answering other
 * than 200 with JSON). Nothing is wrong with the caller's token, so it is not refused as one would
 * be: the operation fails as an unexpected error, logged for the operator, and the client retries.
 */
export class KeySetUnavailableError extends Error {
  constructor(url: string, cause: unknown) {
    super(`could not get the JSON Web Key Set from ${url} to check a token`, { cause });
    this.name = 'KeySetUnavailableError';
  }
}

export type Authenticator = {
  /** The caller's identity from a bearer token; anonymous without one. Throws AuthenticationError for a bad token. */
  authenticate(token: string | undefined): Promise<Identity>;
  /**
   * When the token behind `identity` stops verifying: its expiry plus the clock tolerance (the
   * instant `authenticate` would start refusing it). Undefined for an identity that never expires.
   */
  validUntil(identity: Identity): Date | undefined;
};

/** With authentication off every caller acts as this one administrator (as before authentication existed). */
const UNCHECKED: Identity = { kind: 'subject', subject: 'anonymous', roles: ['admin'], unverified: true };

export function createAuthenticator(settings: AuthSettings): Authenticator {
  if (settings.mode === 'off') return { authenticate: async () => UNCHECKED, validUntil: () => undefined };
  const key = settings.jwksUrl ? remoteKeySet(settings.jwksUrl) : new TextEncoder().encode(settings.secret ?? '');
  const options = {
    ...(settings.issuer ? { issuer: settings.issuer } : {}),
    ...(settings.audience ? { audience: settings.audience } : {}),
    clockTolerance: settings.clockToleranceSeconds,
    ...(settings.jwksUrl ? {} : { algorithms: ['HS256'] }),
  };
  // A client sends the same token with every request until it expires. Checking its signature (an
  // HMAC through WebCrypto, or a JWKS key) was about a tenth of the API's CPU per command, so a token
  // that verified is remembered with the identity it gave; only its expiry is checked again, as
  // jose checks it. Issuer, audience and secret do not change while the process runs. (A key dropped
  // from a JWKS therefore stops refusing its tokens only once they expire or leave this cache.)
  const { rolesClaim, clockToleranceSeconds } = settings;
  const verified = new LRUCache<string, { identity: Identity; exp: number | undefined }>({ max: VERIFIED_TOKENS });
  return {
    async authenticate(token) {
      if (token === undefined || token === '') return ANONYMOUS;
      const known = verified.get(token);
      if (known) {
        if (known.exp === undefined || known.exp > Math.floor(Date.now() / 1000) - clockToleranceSeconds) return known.identity;
        verified.delete(token);
      }
      const identity = await verify(token);
      verified.set(token, { identity, exp: identity.kind === 'subject' && identity.expiresAt ? identity.expiresAt.getTime() / 1000 : undefined });
      return identity;
    },
    validUntil(identity) {
      if (identity.kind !== 'subject' || !identity.expiresAt) return undefined;
      return new Date(identity.expiresAt.getTime() + clockToleranceSeconds * 1000);
    },
  };

  async function verify(token: string): Promise<Identity> {
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, key as never, options));
    } catch (error) {
      if (error instanceof KeySetUnavailableError) throw error;
      if (error instanceof errors.JWTExpired) throw new AuthenticationError('expired', 'The token has expired: get a new one');
      throw new AuthenticationError('invalid', 'The token is not valid here (signature, issuer, audience or format)');
    }
    if (typeof payload.sub !== 'string' || payload.sub === '') throw new AuthenticationError('invalid', 'The token names no subject (sub)');
    return {
      kind: 'subject',
      subject: payload.sub,
      roles: rolesOf(payload[rolesClaim]),
      ...(payload.exp !== undefined ? { expiresAt: new Date(payload.exp * 1000) } : {}),
    };
  }
}

/** Distinct tokens remembered as verified (a few hundred bytes each). */
const VERIFIED_TOKENS = 10_000;

/** jose's remote key set, with its failures to fetch told apart from a token naming no key it holds. */
function remoteKeySet(url: string): JWTVerifyGetKey {
  const keySet = createRemoteJWKSet(new URL(url));
  return async (header, token) => {
    try {
      return await keySet(header, token);
    } catch (error) {
      // A key id the set lacks, or several that match: the token's problem.
      if (error instanceof errors.JWKSNoMatchingKey || error instanceof errors.JWKSMultipleMatchingKeys) throw error;
      throw new KeySetUnavailableError(url, error);
    }
  };
}

function rolesOf(claim: unknown): string[] {
  if (typeof claim === 'string') return claim.split(/[\s,]+/).filter(Boolean);
  return Array.isArray(claim) ? claim.filter((role): role is string => typeof role === 'string') : [];
}

/** A bearer token from an `Authorization` header value; undefined when there is none. */
export function bearerToken(header: string | null | undefined): string | undefined {
  const match = header?.match(/^Bearer\s+(\S+)\s*$/i);
  return match?.[1];
}

/** Signs an HS256 token for the configured secret (development tokens, `npm run token`, tests). */
export async function mintToken(options: {
  secret: string;
  subject: string;
  roles: readonly string[];
  rolesClaim: string;
  issuer?: string;
  audience?: string;
  /** A relative time such as "2h" or "30d", from now. */
  expiresIn: string;
}): Promise<string> {
  const jwt = new SignJWT({ [options.rolesClaim]: [...options.roles] })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(options.subject)
    .setIssuedAt()
    .setExpirationTime(options.expiresIn);
  if (options.issuer) jwt.setIssuer(options.issuer);
  if (options.audience) jwt.setAudience(options.audience);
  return jwt.sign(new TextEncoder().encode(options.secret));
}

/** The tokens `npm start` prints when it runs on the development secret, and the one GraphiQL then opens with. */
export const DEVELOPMENT_TOKEN_SUBJECTS = [
  { subject: 'admin', roles: ['admin'] },
  { subject: 'alice', roles: ['customer'] },
] as const;

/**
 * Signs a token these settings accept: their HS256 secret, issuer, audience and roles claim. Tokens
 * for a JWKS are the identity provider's to issue, and with authentication off none is needed.
 */
export function mintTokenFor(settings: AuthSettings, token: { subject: string; roles: readonly string[]; expiresIn: string }): Promise<string> {
  if (settings.mode === 'off') throw new Error('AUTH=off: the server checks no tokens, so there is none to make');
  if (!settings.secret) throw new Error('JWT_JWKS_URL is set: tokens come from your identity provider; only tokens for JWT_SECRET can be made here');
  return mintToken({
    secret: settings.secret,
    subject: token.subject,
    roles: token.roles,
    rolesClaim: settings.rolesClaim,
    ...(settings.issuer ? { issuer: settings.issuer } : {}),
    ...(settings.audience ? { audience: settings.audience } : {}),
    expiresIn: token.expiresIn,
  });
}
