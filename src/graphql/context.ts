import type { EntityManager } from '@mikro-orm/postgresql';
import type { Clock, IdGenerator } from '../core/ids.ts';
import type { Identity } from '../core/identity.ts';
import type { CommandEnvironment } from '../eventStore/commands/commandHandler.ts';
import type { LogFeed } from '../eventStore/feed/feed.ts';
import type { Processors } from '../eventStore/processors/processors.ts';
import type { Logger } from '../core/logger.ts';
import type { UpcasterRegistry } from '../eventStore/log/upcasters.ts';
import type { ReadModels } from '../eventStore/projections/readModels.ts';

/** Everything a resolver may use. Built per operation; nothing reaches resolvers as a global. */
export type GraphQLContext = {
  /** A fork of the ORM's EntityManager for this operation alone. */
  readonly em: EntityManager;
  readonly clock: Clock;
  readonly ids: IdGenerator;
  readonly logger: Logger;
  /** Who is calling: from the bearer token (HTTP) or the connection's `authorization` param (WebSocket). */
  readonly identity: Identity;
  /** Ties every event this request appends together; from `x-correlation-id` or generated. */
  readonly correlationId: string;
  /** Command environment (transaction, projections, metadata) for mutations. */
  readonly commands: CommandEnvironment;
  /** The process's live event feed, for subscriptions. */
  readonly feed: LogFeed;
  /** Every event type's current version and upcasters: whatever a resolver reads of the log goes through it. */
  readonly upcasters: UpcasterRegistry;
  /** The rebuildable read models: their versions and rebuilds (admin operations). */
  readonly readModels: ReadModels;
  /** The app's processors: what asynchronous read models wait on (read-your-writes) and the admin API reads and changes. */
  readonly processors: Processors;
  /** How long a query with `consistentWith` waits for its read model before a StaleReadError. */
  readonly readYourWritesTimeoutMs: number;
};
