import { randomUUID } from 'node:crypto';
import { uuidv7Generator } from '../../src/core/ids.ts';
import type { Orm } from '../../src/db/orm.ts';
import { EVENTS_CHANNEL } from '../../src/eventStore/append.ts';
import type { CommandEnvironment } from '../../src/eventStore/commandHandler.ts';
import { CommitNotifier } from '../../src/eventStore/commitNotifier.ts';
import { KeyedSerializer } from '../../src/eventStore/streamLocks.ts';
import { silentLogger } from '../../src/logger.ts';
import { inlineProjections } from '../../src/modules/modules.ts';

/**
 * Command environments wired the way src/server.ts wires the API's (keep the two in step): a forked
 * EntityManager per command, the inline projections, one process-wide stream queue, and after each
 * commit one coalesced NOTIFY so log followers in other processes (the API's feed) wake at once.
 */
export function commandEnvironments(orm: Orm, options: { retries?: number; client?: string } = {}): () => CommandEnvironment {
  const streamLocks = new KeyedSerializer();
  const notifier = new CommitNotifier({
    send: () => orm.em.getConnection().execute(`select pg_notify('${EVENTS_CHANNEL}', '')`),
    wakeLocal: () => undefined,
    logger: silentLogger,
  });
  // Spread in, so this file typechecks whether or not the handler has the hook yet.
  const hooks = { onCommitted: () => notifier.committed() };
  return () => ({
    em: orm.em.fork(),
    ids: uuidv7Generator,
    projections: inlineProjections,
    streamLocks,
    retries: options.retries ?? 5,
    metadata: { correlationId: randomUUID(), actor: 'anonymous', client: options.client ?? 'bench' },
    ...hooks,
  });
}
