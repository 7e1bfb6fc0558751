import { randomUUID } from 'node:crypto';
import { uuidv7Generator } from '../../src/core/ids.ts';
import type { Orm } from '../../src/db/orm.ts';
import type { CommandEnvironment } from '../../src/eventStore/commands/commandHandler.ts';
import { commandEnvironments as processEnvironments } from '../../src/eventStore/commands/commandEnvironment.ts';
import { CommitNotifier } from '../../src/eventStore/feed/commitNotifier.ts';
import { silentLogger } from '../../src/core/logger.ts';
import type { Identity } from '../../src/core/identity.ts';
import { compose } from '../../src/app/composition.ts';
import type { SnapshotStore } from '../../src/eventStore/snapshots/snapshots.ts';
import { modules } from '../../src/app/modules.ts';

const { projections: inlineProjections, policies, upcasters } = compose(modules);
/** The library benchmark acts as an administrator, so the policies allow every command. */
const benchIdentity: Identity = { kind: 'subject', subject: 'bench', roles: ['admin'] };

/**
 * Command environments wired as src/app/app.ts wires the API's (both use
 * src/eventStore/commands/commandEnvironment.ts): a forked EntityManager per command, the inline
 * projections, the process-wide stream queue and remembered states, and after each commit one
 * coalesced NOTIFY so log followers in other processes (the API's feed) wake at once; this process
 * has no feed of its own to wake.
 */
export function commandEnvironments(
  orm: Orm,
  options: { retries?: number; client?: string; stateCacheMaxBytes?: number; snapshots?: SnapshotStore; databaseUrl?: string } = {},
): () => CommandEnvironment {
  // With `databaseUrl`, the NOTIFY has a connection of its own, as the API's does.
  const notifier = new CommitNotifier({ em: orm.em, logger: silentLogger, ...(options.databaseUrl ? { databaseUrl: options.databaseUrl } : {}) });
  const environmentFor = processEnvironments({
    ids: uuidv7Generator,
    projections: inlineProjections,
    policies,
    upcasters,
    retries: options.retries ?? 5,
    notifier,
    ...(options.stateCacheMaxBytes !== undefined ? { stateCacheMaxBytes: options.stateCacheMaxBytes } : {}),
    ...(options.snapshots ? { snapshots: options.snapshots } : {}),
  });
  return () => environmentFor(orm.em.fork(), { correlationId: randomUUID(), actor: 'bench', client: options.client ?? 'bench' }, benchIdentity);
}
