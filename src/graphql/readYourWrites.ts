import { decodePosition } from '../eventStore/log/position.ts';
import type { GraphQLContext } from './context.ts';

/** The argument's description, the same on every asynchronous read model's query. */
export const CONSISTENT_WITH_DESCRIPTION =
  'A position a mutation returned (`position`): the answer waits, bounded, until this read model has handled every ' +
  'event up to it, so it shows that mutation\'s effect; past the wait, a StaleReadError. Omit it to read at once.';

/**
 * Read-your-writes for an asynchronous read model's query: with `consistentWith` given, waits until
 * the processor keeping `readModel` has passed that position, woken by its progress (from whichever
 * process runs it), at most the configured time. Throws a ValidationError for a malformed position
 * and a StaleReadError when the wait ran out; list both among the field's errors.
 */
export async function awaitReadModel(context: Pick<GraphQLContext, 'processors' | 'readYourWritesTimeoutMs'>, readModel: string, consistentWith: string | null | undefined): Promise<void> {
  if (consistentWith === null || consistentWith === undefined) return;
  const position = decodePosition(consistentWith, 'consistentWith');
  await context.processors.waitFor(readModel, position, context.readYourWritesTimeoutMs);
}
