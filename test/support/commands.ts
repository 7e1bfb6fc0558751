import { commandEnvironments } from '../../src/eventStore/commands/commandEnvironment.ts';
import type { CommandEnvironment } from '../../src/eventStore/commands/commandHandler.ts';
import type { InlineProjection } from '../../src/eventStore/projections/projection.ts';
import { uuidv7Generator } from '../../src/core/ids.ts';
import { silentLogger } from '../../src/core/logger.ts';
import type { EventMetadata } from '../../src/core/message.ts';
import type { Orm } from '../../src/db/orm.ts';
import type { Identity } from '../../src/core/identity.ts';
import { compose } from '../../src/app/composition.ts';
import { modules } from '../../src/app/modules.ts';
import { CommitNotifier } from '../../src/eventStore/feed/commitNotifier.ts';
import type { SnapshotStore } from '../../src/eventStore/snapshots/snapshots.ts';

const { projections: appProjections, policies, upcasters } = compose(modules);

/** The app's upcasters, for specs that read the log themselves: they see what the app's readers see. */
export const appUpcasters = upcasters;

/** Who the integration specs' commands come from unless they say otherwise: an administrator. */
export const testAdmin: Identity = { kind: 'subject', subject: 'test-admin', roles: ['admin'] };

/**
 * What one API process runs commands with, made as the app makes it (`commandEnvironments`): one
 * per-stream queue, one cache of remembered aggregate states and one commit notifier, shared by every
 * command it runs. Call it again for another process. Each call of the result is one request's
 * environment, on a fresh EntityManager fork.
 */
export function apiInstance(
  orm: Orm,
  options: { projections?: readonly InlineProjection[]; retries?: number; metadata?: EventMetadata; identity?: Identity; snapshots?: SnapshotStore; stateCacheMaxBytes?: number } = {},
): () => CommandEnvironment {
  const environmentFor = commandEnvironments({
    ids: uuidv7Generator,
    projections: options.projections ?? appProjections,
    policies,
    upcasters,
    ...(options.snapshots ? { snapshots: options.snapshots } : {}),
    ...(options.stateCacheMaxBytes !== undefined ? { stateCacheMaxBytes: options.stateCacheMaxBytes } : {}),
    // The test server's setting (test/support/server.ts).
    retries: options.retries ?? 5,
    // No feed in this process: the NOTIFY still reaches any other process's.
    notifier: new CommitNotifier({ em: orm.em, logger: silentLogger }),
  });
  const metadata = options.metadata ?? { correlationId: 'test', actor: 'anonymous' };
  return () => environmentFor(orm.em.fork(), metadata, options.identity ?? testAdmin);
}
