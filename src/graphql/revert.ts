import type { Decider } from '../core/decider.ts';
import { NotFoundError, RevertRefusedError, ValidationError } from '../core/errors.ts';
import type { RecordedEvent } from '../core/message.ts';
import { authorizeRevert } from '../core/policy.ts';
import { handleCommand } from '../eventStore/commands/commandHandler.ts';
import { MAX_REVERT_REASON_LENGTH } from '../eventStore/commands/revert.ts';
import { readStreamHead } from '../eventStore/log/read.ts';
import { REVERT_STREAM } from '../eventStore/log/reverts.ts';
import type { Builder } from './builder.ts';
import { commandIdField } from './commandMutation.ts';
import { commandErrors, ruleErrorType } from './errors.ts';
import { idShape, textShape, versionShape } from './inputShapes.ts';

type RevertInput = { streamId: string; toVersion: number; expectedVersion: number; reason: string; commandId?: string | null };
type RevertPayload = { readonly streamId: string; readonly version: number; readonly event: RecordedEvent; readonly position: string };

/**
 * `revertStream`: an administrator takes any aggregate back to an earlier version by appending one
 * Reverted event through the command handler, like any command (see docs/evolving.md). `deciders`
 * are the app's, so the stream's type finds its decider (whose `canRevert` may refuse).
 */
export function registerRevert(builder: Builder, deciders: readonly Decider<any, any, any>[]): void {
  const byStreamType = new Map(deciders.map((decider) => [decider.streamType, decider]));

  ruleErrorType(builder, RevertRefusedError, {
    name: 'RevertRefusedError',
    description: "The aggregate's own rules refuse to go back to that version (a checked-out cart, say). Nothing was appended.",
    fields: (t) => ({
      streamId: t.exposeString('streamId', { description: 'The stream that was to be reverted.' }),
      toVersion: t.exposeInt('toVersion', { description: 'The version it was to go back to.' }),
      rule: t.exposeString('rule', { description: 'The code of the rule that refused, e.g. CART_ALREADY_CHECKED_OUT.' }),
    }),
  });

  const input = builder.inputType('RevertStreamInput', {
    description: 'Which stream to take back to which version, and why.',
    fields: (t) => ({
      streamId: t.id({ validate: idShape, description: 'The stream (aggregate id) to revert, e.g. a cart id.' }),
      toVersion: t.int({ description: 'The earlier version to go back to: from 1 to the current version minus one.' }),
      expectedVersion: t.int({
        validate: versionShape,
        description:
          'The version you saw the stream at (Stream.version). Required: a change made since is a ConcurrencyError rather than ' +
          'something the revert would silently undo.',
      }),
      reason: t.string({ validate: textShape(MAX_REVERT_REASON_LENGTH), description: `Why, for the history (1 to ${MAX_REVERT_REASON_LENGTH} characters).` }),
      commandId: commandIdField(t),
    }),
  });

  const success = builder.objectRef<RevertPayload>('RevertStreamSuccess').implement({
    description: 'The stream was reverted: one Reverted event was appended.',
    fields: (t) => ({
      streamId: t.exposeString('streamId', { description: 'The reverted stream.' }),
      version: t.exposeInt('version', { description: "The stream's version after the revert (the Reverted event's)." }),
      event: t.field({ type: 'Event', description: 'The Reverted event appended.', resolve: (payload) => payload.event }),
      position: t.exposeString('position', { description: 'Position of the Reverted event: subscribe `after` it to see only later changes.' }),
    }),
  });

  builder.mutationField('revertStream', (t) =>
    t.field({
      type: success,
      description:
        'Administrators only. Takes an aggregate back to the state it had right after an earlier version, by appending a Reverted ' +
        'event (history keeps everything before it). Its read model, time travel and history follow. The aggregate may refuse ' +
        '(RevertRefusedError); a version that is not an earlier one is a ValidationError; nothing is appended on any error.',
      args: { input: t.arg({ type: input, description: 'The revert.' }) },
      errors: { types: [...commandErrors, RevertRefusedError], directResult: true, union: { name: 'RevertStreamResult' } },
      resolve: async (_root, args, ctx) => {
        const { streamId, toVersion, expectedVersion, reason, commandId } = args.input as RevertInput;
        // Refused before the stream is looked at, so a non-administrator learns nothing of which streams exist.
        const refused = authorizeRevert(ctx.identity, streamId);
        if (refused) throw refused;
        const head = await readStreamHead(ctx.em, streamId);
        if (!head) throw new NotFoundError('Stream', streamId);
        const decider = byStreamType.get(head.streamType);
        if (!decider) {
          throw new ValidationError(`Stream ${streamId} is of type ${head.streamType}, which no aggregate here decides`, [
            { path: 'streamId', message: `is a ${head.streamType} stream, which this service takes no commands for` },
          ]);
        }
        const command = { type: REVERT_STREAM, data: { toVersion, reason }, now: ctx.clock.now() } as const;
        const result = await handleCommand(ctx.commands, decider, streamId, command, { expectedVersion, ...(commandId != null ? { commandId } : {}) });
        const event = result.events.at(-1)!;
        return { streamId, version: result.version, event, position: event.position };
      },
    }),
  );
}
