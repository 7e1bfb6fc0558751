import { createHash } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import { CommandIdReusedError } from '../../core/errors.ts';
import type { Command, RecordedEvent } from '../../core/message.ts';
import { query } from '../../db/sql.ts';
import { readEventsById } from '../log/read.ts';
import type { UpcasterRegistry } from '../log/upcasters.ts';

/**
 * Idempotent commands. A client that sends its own `commandId` may send the command again (after a
 * timeout, a retry, a double click) and gets the first run's result back, with nothing appended
 * twice. The first run records itself in the `commands` table inside the append's transaction, so
 * the record exists exactly when the events do; a second run that races the first waits on the
 * primary key, fails, and then finds the first run's record.
 */

/** One command as the idempotency check sees it: its id and a fingerprint of what it asks for. */
export type CommandFingerprint = {
  readonly commandId: string;
  readonly commandName: string;
  readonly streamId: string;
  readonly streamType: string;
  /** SHA-256 of the stream and the command's name and data; the issue time is left out, so a replay matches. */
  readonly contentHash: string;
};

/** What the first run of a command appended. */
export type EarlierRun = { readonly events: RecordedEvent[]; readonly version: number };

export function fingerprint(commandId: string, streamType: string, streamId: string, command: Command): CommandFingerprint {
  const content = canonicalJson([streamType, streamId, command.type, command.data]);
  return { commandId, commandName: command.type, streamId, streamType, contentHash: createHash('sha256').update(content).digest('hex') };
}

/**
 * The first run of this command, or undefined when it has not run (or has not committed yet).
 * Throws CommandIdReusedError when the id ran a different command.
 */
export async function findEarlierRun(em: EntityManager, upcasters: UpcasterRegistry, command: CommandFingerprint): Promise<EarlierRun | undefined> {
  const [row] = await query<{ content_hash: string; event_ids: string[]; stream_version: number }>(
    em,
    'select content_hash, event_ids::text[] as event_ids, stream_version from commands where command_id = $1',
    [command.commandId],
  );
  if (!row) return undefined;
  if (row.content_hash !== command.contentHash) throw new CommandIdReusedError(command.commandId);
  return { events: await readEventsById(em, upcasters, row.event_ids), version: row.stream_version };
}

/** Records a run; call it in the append's transaction. A concurrent run of the same id makes it fail. */
export async function recordRun(tx: EntityManager, command: CommandFingerprint, events: readonly RecordedEvent[], version: number, recordedAt: Date): Promise<void> {
  await query(
    tx,
    `insert into commands (command_id, command_name, stream_id, stream_type, content_hash, event_ids, stream_version, recorded_at)
     values ($1, $2, $3, $4, $5, $6::uuid[], $7, $8)`,
    [command.commandId, command.commandName, command.streamId, command.streamType, command.contentHash, events.map((e) => e.id), version, recordedAt],
  );
}

/**
 * A stable id derived from a command id, for aggregates whose id the server generates: a replay
 * of "open a cart" must address the cart the first run opened, not a new one. Formatted as a
 * UUID version 8 (RFC 9562, custom) from SHA-256 of the namespace and the command id.
 */
export function idFromCommandId(namespace: string, commandId: string): string {
  const bytes = createHash('sha256').update(`${namespace}\u0000${commandId}`).digest().subarray(0, 16);
  bytes[6] = (bytes[6]! & 0x0f) | 0x80;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** JSON with object keys sorted, so equal content always hashes the same. */
function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, current: unknown) => {
    if (current === null || typeof current !== 'object' || Array.isArray(current)) return current;
    return Object.fromEntries(Object.entries(current).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  });
}
