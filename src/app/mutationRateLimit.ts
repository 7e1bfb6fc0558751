import { getOperationAST, GraphQLError, Kind, type OperationDefinitionNode } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { LRUCache } from 'lru-cache';
import type { Clock } from '../core/ids.ts';
import type { Identity } from '../core/identity.ts';
import { callerKey, type RequestOrigin } from './callers.ts';

/** Mutations one caller may run: `perMinute` on average, `burst` at once. `perMinute` 0 switches the limit off. */
export type MutationRateLimit = { readonly perMinute: number; readonly burst: number };

export const RATE_LIMITED = 'RATE_LIMITED';

/** Callers whose buckets are remembered; past it the least recently seen one starts again with a full bucket. */
const MAX_CALLERS = 100_000;

type Bucket = { tokens: number; at: number };

/**
 * A token bucket per caller, in this process's memory: each caller starts with `burst` tokens and
 * gets `perMinute` back a minute, never more than `burst`. With several API processes each keeps
 * its own, so a caller spread over n of them may run up to n times the rate.
 */
export class TokenBuckets {
  private readonly buckets = new LRUCache<string, Bucket>({ max: MAX_CALLERS });
  private readonly limit: MutationRateLimit;
  private readonly clock: Clock;

  constructor(limit: MutationRateLimit, clock: Clock) {
    this.limit = limit;
    this.clock = clock;
  }

  /** Takes `count` tokens from the caller's bucket, or none when it holds fewer: then how long until it will. */
  take(caller: string, count: number): { taken: true } | { taken: false; retryAfterMs: number } {
    const now = this.clock.now().getTime();
    const perMs = this.limit.perMinute / 60_000;
    const bucket = this.buckets.get(caller) ?? { tokens: this.limit.burst, at: now };
    const tokens = Math.min(this.limit.burst, bucket.tokens + Math.max(0, now - bucket.at) * perMs);
    if (tokens >= count) {
      this.buckets.set(caller, { tokens: tokens - count, at: now });
      return { taken: true };
    }
    this.buckets.set(caller, { tokens, at: now });
    return { taken: false, retryAfterMs: Math.ceil((count - tokens) / perMs) };
  }
}

/** Commands a mutation runs: its root fields (a fragment spread at the root counts as one). */
function commandsIn(operation: OperationDefinitionNode): number {
  let count = 0;
  const visit = (selections: OperationDefinitionNode['selectionSet']['selections']) => {
    for (const selection of selections) {
      if (selection.kind === Kind.FIELD) count += selection.name.value === '__typename' ? 0 : 1;
      else if (selection.kind === Kind.INLINE_FRAGMENT) visit(selection.selectionSet.selections);
      else count += 1;
    }
  };
  visit(operation.selectionSet.selections);
  return count;
}

/**
 * Refuses mutations past a caller's rate with RATE_LIMITED (HTTP 429 and `Retry-After`), before any
 * resolver runs, so nothing is written; each root field of a mutation is one command and takes one
 * token, and a mutation that does not fit whole runs none of its commands. Over HTTP and graphql-ws
 * alike: both execute through Yoga's envelop. The caller is the token's subject, or the address of
 * an anonymous one (see callerKey).
 */
export function useMutationRateLimit(limit: MutationRateLimit, deps: { clock: Clock; trustProxy: boolean }): Plugin {
  if (limit.perMinute === 0) return {};
  const buckets = new TokenBuckets(limit, deps.clock);
  return {
    onExecute({ args, setResultAndStopExecution }) {
      const operation = getOperationAST(args.document, args.operationName);
      if (operation?.operation !== 'mutation') return;
      const commands = commandsIn(operation);
      if (commands > limit.burst) {
        // More than a full bucket would never fit: retrying cannot help, splitting can.
        return setResultAndStopExecution({
          errors: [
            new GraphQLError(`This mutation runs ${commands} commands, more than the ${limit.burst} a caller may run at once. Nothing was done; split it.`, {
              extensions: { code: RATE_LIMITED, maxCommands: limit.burst, http: { status: 429 } },
            }),
          ],
        });
      }
      const context = args.contextValue as unknown as { identity: Identity; req?: RequestOrigin };
      const outcome = buckets.take(callerKey(context.identity, context.req, deps.trustProxy), commands);
      if (outcome.taken) return;
      const retryAfterSeconds = Math.max(1, Math.ceil(outcome.retryAfterMs / 1000));
      setResultAndStopExecution({
        errors: [
          new GraphQLError(`Too many mutations: at most ${limit.perMinute} a minute, ${limit.burst} at once. Nothing was done; retry in ${retryAfterSeconds} s.`, {
            extensions: { code: RATE_LIMITED, retryAfterSeconds, http: { status: 429, headers: { 'retry-after': String(retryAfterSeconds) } } },
          }),
        ],
      });
    },
  };
}
