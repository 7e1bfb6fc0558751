/**
 * The small error taxonomy clients see. Each is a plain value (so deciders stay pure and
 * can return them) and maps to one GraphQL type implementing the `Error` interface.
 * Anything that is not a DomainError is unexpected: it is logged and masked.
 */

export type ValidationIssue = { readonly path: string; readonly message: string };

export class DomainError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = new.target.name;
    this.code = code;
  }
}

/** The input is malformed or breaks a field rule; nothing was attempted. */
export class ValidationError extends DomainError {
  readonly issues: readonly ValidationIssue[];
  constructor(message: string, issues: readonly ValidationIssue[] = []) {
    super('VALIDATION', message);
    this.issues = issues;
  }
}

/**
 * The one way a ValidationError is made from field issues, wherever they were found (the GraphQL
 * edge's input shapes, a decider's rules): every issue listed, and one message that names them all.
 * Undefined when there is none.
 */
export function invalidInput(issues: readonly (ValidationIssue | undefined)[]): ValidationError | undefined {
  const found = issues.filter((issue): issue is ValidationIssue => issue !== undefined);
  if (found.length === 0) return undefined;
  return new ValidationError(`Invalid input: ${found.map((issue) => `${issue.path} ${issue.message}`).join('; ')}`, found);
}

/** An issue naming `path` unless `value` is a whole number from `min` to `max`. */
export function wholeNumberIssue(path: string, value: number, min: number, max: number): ValidationIssue | undefined {
  if (Number.isInteger(value) && value >= min && value <= max) return undefined;
  return { path, message: `must be a whole number from ${min} to ${max}, got ${value}` };
}

/** The addressed thing does not exist (an unknown cart, an unknown stream). */
export class NotFoundError extends DomainError {
  readonly resource: string;
  readonly id: string;
  constructor(resource: string, id: string, message = `${resource} ${id} was not found`) {
    super('NOT_FOUND', message);
    this.resource = resource;
    this.id = id;
  }
}

/**
 * A business rule forbids the command in the aggregate's current state.
 * Aggregates subclass it for their named rules (e.g. ItemNotInCart) so clients can match on type.
 */
export class IllegalStateError extends DomainError {
  constructor(code: string, message: string) {
    super(code, message);
  }
}

/**
 * The aggregate's decider refused a revert to an earlier version (its `canRevert`): `rule` is the code
 * of its reason, e.g. CART_ALREADY_CHECKED_OUT. Nothing was appended.
 */
export class RevertRefusedError extends IllegalStateError {
  readonly streamId: string;
  readonly toVersion: number;
  readonly rule: string;
  constructor(streamId: string, toVersion: number, refusal: DomainError) {
    super('REVERT_REFUSED', `Stream ${streamId} cannot be reverted to version ${toVersion}: ${refusal.message}`);
    this.streamId = streamId;
    this.toVersion = toVersion;
    this.rule = refusal.code;
  }
}

/** Someone else wrote to the stream first. Re-read and retry, or give up and tell the user. */
export class ConcurrencyError extends DomainError {
  readonly streamId: string;
  readonly expectedVersion: number;
  readonly actualVersion: number;
  constructor(streamId: string, expectedVersion: number, actualVersion: number) {
    super('CONCURRENCY', `Stream ${streamId} is at version ${actualVersion}, expected ${expectedVersion}`);
    this.streamId = streamId;
    this.expectedVersion = expectedVersion;
    this.actualVersion = actualVersion;
  }
}

/**
 * A command id the client chose was already used for a different command (another name, stream or
 * payload). Replaying the same command with its id is safe and returns the first result; reusing
 * the id for something else is refused, because the client would believe a command ran that did not.
 */
export class CommandIdReusedError extends DomainError {
  readonly commandId: string;
  constructor(commandId: string) {
    super('COMMAND_ID_REUSED', `Command id ${commandId} was already used for a different command; send a new id for a new command`);
    this.commandId = commandId;
  }
}

/** The command needs a known caller, and this one sent no credentials. Sign in and send a token. */
export class UnauthenticatedError extends DomainError {
  constructor(message = 'Sign in first: this needs a bearer token') {
    super('UNAUTHENTICATED', message);
  }
}

/** The caller is known but may not do this (the aggregate's policy says so). Nothing was changed. */
export class ForbiddenError extends DomainError {
  readonly resource: string;
  readonly id: string;
  constructor(resource: string, id: string, message = `You may not do this to ${resource} ${id}`) {
    super('FORBIDDEN', message);
    this.resource = resource;
    this.id = id;
  }
}

/**
 * An asynchronous read model had not caught up with the position a query asked to be consistent
 * with (`consistentWith`) within the server's wait. Retry later, or read without the position.
 */
export class StaleReadError extends DomainError {
  readonly readModel: string;
  /** Where the read model's processor is: it has handled every event up to here. */
  readonly position: string;
  readonly waitedMs: number;
  constructor(readModel: string, position: string, waitedMs: number) {
    super('STALE_READ', `The ${readModel} read model had not caught up with the position asked for after ${waitedMs} ms; it is at ${position}`);
    this.readModel = readModel;
    this.position = position;
    this.waitedMs = waitedMs;
  }
}
