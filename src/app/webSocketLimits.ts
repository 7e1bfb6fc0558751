import { GraphQLError } from 'graphql';
import type { WebSocket } from 'ws';

/**
 * The close code of a socket refused because its caller has too many open. 4429 is graphql-ws's
 * "too many requests" code (its client does not retry it, which is right here: a retry fails the
 * same way until the caller closes another socket); the reason says which limit.
 */
export const TOO_MANY_CONNECTIONS_CLOSE_CODE = 4429;

/** The code of a subscription refused because its socket already runs the most it may. */
export const TOO_MANY_SUBSCRIPTIONS = 'TOO_MANY_SUBSCRIPTIONS';

/**
 * Open WebSockets per caller, in this process. A socket counts from its `connection_init` until it
 * closes; `max` 0 counts nothing.
 */
export class ConnectionsPerCaller {
  private readonly open = new Map<string, number>();
  private readonly max: number;

  constructor(max: number) {
    this.max = max;
  }

  /** Counts `socket` against `caller` until it closes; false, counting nothing, when the caller already has the most. */
  admit(socket: WebSocket, caller: string): boolean {
    if (this.max === 0) return true;
    // It may have closed while its caller was being identified: then it would never be uncounted.
    if (socket.readyState !== socket.OPEN) return false;
    const count = this.open.get(caller) ?? 0;
    if (count >= this.max) return false;
    this.open.set(caller, count + 1);
    // ws emits 'close' once: `on` spares the wrapper `once` would keep for the socket's lifetime.
    socket.on('close', () => {
      const left = (this.open.get(caller) ?? 1) - 1;
      if (left > 0) this.open.set(caller, left);
      else this.open.delete(caller);
    });
    return true;
  }

  /** Closes a refused socket with the code and a reason the client can show. */
  refuse(socket: WebSocket): void {
    socket.close(TOO_MANY_CONNECTIONS_CLOSE_CODE, `Too many connections: at most ${this.max} per caller`);
  }
}

/**
 * The refusal of a subscription when its socket already has `max` operations running besides it
 * (graphql-ws's `subscriptions` record holds every operation in flight, this one included); undefined
 * when it may run. `max` 0 refuses nothing. Counts no further than it must, and hands out one error
 * per limit, so a burst of refusals costs no stack trace each.
 */
export function tooManySubscriptions(running: Readonly<Record<string, unknown>>, max: number): readonly GraphQLError[] | undefined {
  if (max === 0) return undefined;
  let count = 0;
  for (const _id in running) if (++count > max) break;
  return count > max ? refusalOf(max) : undefined;
}

const refusals = new Map<number, readonly GraphQLError[]>();
function refusalOf(max: number): readonly GraphQLError[] {
  let refusal = refusals.get(max);
  if (!refusal) {
    const error = new GraphQLError(`Too many subscriptions on this connection: at most ${max}. Complete one first, or open another connection.`, {
      extensions: { code: TOO_MANY_SUBSCRIPTIONS, max },
    });
    refusal = Object.freeze([error]);
    refusals.set(max, refusal);
  }
  return refusal;
}
