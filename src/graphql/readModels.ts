import { ForbiddenError, UnauthenticatedError, ValidationError, NotFoundError } from '../core/errors.ts';
import { isAdmin, type Identity } from '../core/identity.ts';
import type { ReadModelStatus } from '../eventStore/projections/readModels.ts';
import { RebuildInProgressError, type RebuildProgress } from '../eventStore/projections/rebuild.ts';
import type { Builder } from './builder.ts';
import { ruleErrorType } from './errors.ts';
import { idShape } from './inputShapes.ts';

/** Rebuilding read models is an operator's job: administrators only. */
function requireAdmin(identity: Identity): void {
  if (identity.kind === 'anonymous') throw new UnauthenticatedError('Sign in as an administrator to manage read models');
  if (!isAdmin(identity)) throw new ForbiddenError('ReadModel', '*', 'Only administrators manage read models');
}

/** The read models' versions and rebuilds: `readModels`, `rebuildReadModel`, `readModelRebuild`. Administrators only. */
export function registerReadModels(builder: Builder): void {
  const StateEnum = builder.enumType('ReadModelState', {
    description: 'Whether a read model was built by the code now running.',
    values: {
      CURRENT: { description: 'Built with the version the code declares.' },
      STALE: { description: 'Built with another version: rebuild it (`rebuildReadModel`) once every instance runs this code.' },
      REBUILDING: { description: 'A rebuild is running (in some instance); queries see the previous complete model until it switches.' },
    } as const,
  });

  const StatusRef = builder.objectRef<ReadModelStatus>('ReadModelStatus').implement({
    description: 'One rebuildable read model (an inline projection) and the version its tables were built with.',
    fields: (t) => ({
      name: t.exposeString('name', { description: 'The name `rebuildReadModel` and `npm run rebuild` take, e.g. "carts".' }),
      version: t.exposeInt('version', { description: 'The version the running code declares.' }),
      builtVersion: t.int({ nullable: true, description: 'The version the live tables were built with; null before it was recorded.', resolve: (s) => s.builtVersion ?? null }),
      state: t.field({ type: StateEnum, description: 'CURRENT, STALE or REBUILDING.', resolve: (s) => s.state.toUpperCase() as 'CURRENT' }),
      rebuiltAt: t.field({ type: 'DateTime', nullable: true, description: 'When the last rebuild switched in; null if it never was rebuilt.', resolve: (s) => s.rebuiltAt ?? null }),
    }),
  });

  const PhaseEnum = builder.enumType('RebuildPhase', {
    description: 'Where a rebuild is.',
    values: {
      BUILDING: { description: 'Folding the log up to where it stood when the rebuild began, into tables beside the live ones.' },
      CATCHING_UP: { description: 'Applying what was appended meanwhile.' },
      SWITCHING: { description: 'Writes to the read model wait for a moment while the last events are applied and the new tables replace the live ones.' },
      DONE: { description: 'The new tables are live.' },
      FAILED: { description: 'Stopped; the live tables are as they were.' },
    } as const,
  });

  const ProgressRef = builder.objectRef<RebuildProgress>('RebuildProgress').implement({
    description: 'How far a rebuild has come.',
    fields: (t) => ({
      readModel: t.exposeString('readModel', { description: 'The read model being rebuilt.' }),
      phase: t.field({ type: PhaseEnum, description: 'Where the rebuild is.', resolve: (p) => p.phase.toUpperCase() as 'DONE' }),
      eventsDone: t.field({ type: 'SafeInt', description: 'Events applied to the new tables so far.', resolve: (p) => p.done }),
      eventsTotal: t.field({ type: 'SafeInt', description: 'Events of the read model in the log when the rebuild began (grows with what is appended meanwhile).', resolve: (p) => p.total }),
      eventsPerSecond: t.float({ description: 'Average speed so far.', resolve: (p) => p.eventsPerSecond }),
      etaSeconds: t.float({ nullable: true, description: 'Seconds left at that speed; null until there is a speed.', resolve: (p) => p.etaSeconds ?? null }),
      elapsedSeconds: t.float({ description: 'Seconds since the rebuild began.', resolve: (p) => p.elapsedSeconds }),
      writePauseMs: t.float({ nullable: true, description: "How long the switch held back writes to the read model's streams (when DONE).", resolve: (p) => p.writePauseMs ?? null }),
      error: t.string({ nullable: true, description: 'Why it FAILED.', resolve: (p) => p.error ?? null }),
    }),
  });

  ruleErrorType(builder, RebuildInProgressError, {
    name: 'RebuildInProgressError',
    description: 'A rebuild of this read model is already running, in this instance or another; nothing was started. Follow it with `readModelRebuild` on the instance running it, or wait.',
    fields: (t) => ({ readModel: t.exposeString('readModel', { description: 'The read model being rebuilt.' }) }),
  });

  builder.queryField('readModels', (t) =>
    t.field({
      type: [StatusRef],
      description: 'Every rebuildable read model with its declared and built version. Administrators only.',
      resolve: async (_root, _args, ctx) => {
        requireAdmin(ctx.identity);
        return await ctx.readModels.statuses();
      },
    }),
  );

  const RebuildInput = builder.inputType('RebuildReadModelInput', {
    description: 'Which read model to rebuild.',
    fields: (t) => ({ readModel: t.string({ description: 'Its name, as `readModels` lists it, e.g. "carts".', validate: idShape }) }),
  });

  const RebuildSuccess = builder.objectRef<RebuildProgress>('RebuildReadModelSuccess').implement({
    description: 'The rebuild started: it runs in the background on this instance; follow it with `readModelRebuild`.',
    fields: (t) => ({ progress: t.field({ type: ProgressRef, description: 'Its progress as it started.', resolve: (p) => p }) }),
  });

  builder.mutationField('rebuildReadModel', (t) =>
    t.field({
      type: RebuildSuccess,
      description:
        'Rebuilds a read model from the log beside the live one, while the API keeps serving, and switches it in atomically. ' +
        'One rebuild of a read model at a time across all instances. Administrators only.',
      args: { input: t.arg({ type: RebuildInput, description: 'The read model.' }) },
      errors: { types: [ValidationError, UnauthenticatedError, ForbiddenError, NotFoundError, RebuildInProgressError], directResult: true, union: { name: 'RebuildReadModelResult' } },
      resolve: async (_root, args, ctx) => {
        requireAdmin(ctx.identity);
        return await ctx.readModels.start(args.input.readModel);
      },
    }),
  );

  builder.subscriptionField('readModelRebuild', (t) =>
    t.field({
      type: ProgressRef,
      description:
        "The progress of the read model's rebuild running on this instance, from now to DONE or FAILED; when none runs here, " +
        'the last one this instance ran, if any, and the subscription ends. Administrators only.',
      args: { readModel: t.arg.string({ description: 'The read model, e.g. "carts".', validate: idShape }) },
      subscribe: (_root, args, ctx) => {
        requireAdmin(ctx.identity);
        return ctx.readModels.follow(args.readModel);
      },
      resolve: (progress) => progress,
    }),
  );
}
