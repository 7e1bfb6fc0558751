import { randomBytes } from 'node:crypto';

/** Where new identifiers come from; injected so tests can make them predictable. */
export type IdGenerator = { uuid(): string };

/** Where the time comes from; injected so tests and time travel can control it. */
export type Clock = { now(): Date };

export const systemClock: Clock = { now: () => new Date() };

/**
 * UUID version 7 (RFC 9562): 48 bits of Unix milliseconds, then randomness. Time-ordered ids keep
 * the event id index append-mostly, unlike random v4 ids that scatter writes across the B-tree.
 */
export function uuidv7(now = Date.now()): string {
  const bytes = randomSixteen();
  bytes.writeUIntBE(now, 0, 6);
  bytes[6] = (bytes[6]! & 0x0f) | 0x70;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  // Written out as one flat string: five slices joined by a template are a tree of a dozen strings
  // (about 360 bytes where the id needs 56) until something flattens it, and an id lives as long as
  // what it names (an event in memory, an open subscription's correlation id).
  let at = 0;
  for (let i = 0; i < 16; i++) {
    if (i === 4 || i === 6 || i === 8 || i === 10) text[at++] = 0x2d; // '-'
    const byte = bytes[i]!;
    text[at++] = HEX_DIGITS[byte >> 4]!;
    text[at++] = HEX_DIGITS[byte & 0x0f]!;
  }
  return text.toString('latin1');
}

const HEX_DIGITS = Buffer.from('0123456789abcdef', 'latin1');
const text = Buffer.alloc(36);

// One system call for 256 ids rather than one per id (it showed in the command path's profile).
let pool = Buffer.alloc(0);
let offset = 0;
function randomSixteen(): Buffer {
  if (offset + 16 > pool.length) {
    pool = randomBytes(4096);
    offset = 0;
  }
  const bytes = Buffer.from(pool.subarray(offset, offset + 16));
  offset += 16;
  return bytes;
}

export const uuidv7Generator: IdGenerator = { uuid: () => uuidv7() };

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export const isUuid = (value: string): boolean => UUID.test(value);
