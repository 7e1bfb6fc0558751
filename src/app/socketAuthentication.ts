import { CloseCode, type Context } from 'graphql-ws';
import type { Identity } from '../core/identity.ts';
import type { Logger } from '../core/logger.ts';
import type { WsExtra } from '../graphql/wsServer.ts';
import { AuthenticationError, type Authenticator, bearerToken } from './authenticator.ts';
import { nodeHeaders } from './context.ts';

type WsContext = Context<Record<string, unknown>, WsExtra>;

/** setTimeout fires at once for delays past 2^31 - 1 ms (about 24.8 days); longer waits are taken in steps. */
const LONGEST_TIMER_MS = 2 ** 31 - 1;

/**
 * Who is on each graphql-ws connection, decided once, in `onConnect`. Browsers cannot set headers
 * on a WebSocket, so the token comes in the `connection_init` payload (`{ authorization: "Bearer …" }`),
 * or else the upgrade request's `Authorization` header (other clients). A missing or bad token (invalid, tampered, another
 * issuer or audience, expired) closes the socket with 4403 before it is acknowledged; so does the
 * token expiring while the socket is open, at its expiry plus the clock tolerance, which is when
 * HTTP would start refusing it too. A client then gets a new token and reconnects. Every operation
 * on the connection runs as the identity found here: subscriptions do not verify the token again.
 */
export function socketAuthentication(deps: { authenticator: Authenticator; logger: Logger }) {
  const identities = new WeakMap<WsContext, Identity>();
  const expiryTimers = new WeakMap<WsContext, NodeJS.Timeout>();

  const refuse = (ctx: WsContext, error: AuthenticationError) => {
    deps.logger.debug('WebSocket token refused', { reason: error.reason });
    ctx.extra.socket.close(CloseCode.Forbidden, error.message);
  };

  /** Closes the socket once `deadline` has passed, re-arming where one timer cannot wait that long. */
  const closeAt = (ctx: WsContext, deadline: number) => {
    const wait = deadline - Date.now();
    if (wait <= 0) {
      expiryTimers.delete(ctx);
      refuse(ctx, new AuthenticationError('expired', 'The token has expired: get a new one'));
      return;
    }
    const timer = setTimeout(() => closeAt(ctx, deadline), Math.min(wait, LONGEST_TIMER_MS));
    timer.unref();
    expiryTimers.set(ctx, timer);
  };

  return {
    async onConnect(ctx: WsContext): Promise<boolean> {
      const param = ctx.connectionParams?.['authorization'] ?? ctx.connectionParams?.['Authorization'];
      // graphql-ws keeps the connection params as long as the socket is open; nothing reads them after
      // this, so the socket holds the identity found here and not the token (nor its bytes).
      (ctx as { connectionParams?: unknown }).connectionParams = undefined;
      const token = bearerToken(typeof param === 'string' ? param : nodeHeaders(ctx.extra.request.headers).get('authorization'));
      let identity: Identity;
      try {
        identity = await deps.authenticator.authenticate(token);
      } catch (error) {
        if (!(error instanceof AuthenticationError)) throw error;
        refuse(ctx, error);
        return false;
      }
      // A socket is a session: it needs a token from the start (HTTP lets anonymous callers in, for the policies to refuse).
      if (identity.kind === 'anonymous') {
        refuse(ctx, new AuthenticationError('missing', 'Send a bearer token: connectionParams { authorization: "Bearer <token>" }'));
        return false;
      }
      // The client may have gone while the key set was fetched: nothing to acknowledge or time.
      if (ctx.extra.socket.readyState !== ctx.extra.socket.OPEN) return false;
      identities.set(ctx, identity);
      const validUntil = deps.authenticator.validUntil(identity);
      if (validUntil) closeAt(ctx, validUntil.getTime());
      return true;
    },

    onClose(ctx: WsContext): void {
      clearTimeout(expiryTimers.get(ctx));
      expiryTimers.delete(ctx);
    },

    /** The identity `onConnect` found; graphql-ws runs no operation on a connection it has not acknowledged. */
    identityOf(ctx: WsContext): Identity {
      const identity = identities.get(ctx);
      if (!identity) throw new Error('an operation on a WebSocket connection that onConnect did not acknowledge');
      return identity;
    },
  };
}
