import { z } from 'zod';

/**
 * The shapes command inputs are checked against at the GraphQL edge, once, before a command is
 * built. Domain rules (quantities, prices, email syntax, state) are the decider's; these only say
 * what a well-formed value looks like.
 */

/** Ids clients may choose for new aggregates: URL-safe, so they work in paths and logs. */
const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.:-]*$/;

/** An aggregate or command id: 1 to 100 URL-safe characters, surrounding blanks dropped. */
export const idShape = z
  .string()
  .trim()
  .min(1, 'must not be empty')
  .max(100, 'must be at most 100 characters')
  .regex(ID_PATTERN, 'must start with a letter or digit and use only letters, digits, _ . : -');

/** Free text of at most `max` characters, surrounding blanks dropped, not empty. */
export const textShape = (max: number) => z.string().trim().min(1, 'must not be empty').max(max, `must be at most ${max} characters`);

/** A stream version a command expects (0: the stream does not exist yet). */
export const versionShape = z.number().int().min(0, 'must be 0 or more');
