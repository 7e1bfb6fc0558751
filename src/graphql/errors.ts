import type { FieldMap } from '@pothos/core';
import { CommandIdReusedError, ConcurrencyError, DomainError, ForbiddenError, NotFoundError, StaleReadError, UnauthenticatedError, ValidationError, type ValidationIssue } from '../core/errors.ts';
import type { Builder, SchemaTypes } from './builder.ts';

/** Error members every command mutation returns besides its own rule errors. */
export const commandErrors = [ValidationError, UnauthenticatedError, ForbiddenError, NotFoundError, ConcurrencyError, CommandIdReusedError];

/**
 * The typed errors a mutation can return as a member of its result union. Every error class a
 * mutation lists must be registered here or with `ruleErrorType`; anything else thrown is masked.
 */
export function registerErrorTypes(builder: Builder): void {
  builder.interfaceType('Error', {
    description: 'A failure the client can act on. Match on the concrete type, or on `code`.',
    fields: (t) => ({
      message: t.exposeString('message', { description: 'What went wrong, in a sentence for people.' }),
      code: t.exposeString('code', { description: 'A stable machine-readable code, e.g. VALIDATION or ITEM_NOT_IN_CART.' }),
    }),
  });

  const ValidationIssueRef = builder.objectRef<ValidationIssue>('ValidationIssue').implement({
    description: 'One field that failed validation.',
    fields: (t) => ({
      path: t.exposeString('path', { description: 'The input field, dotted, e.g. "unitPrice.amount".' }),
      message: t.exposeString('message', { description: 'Why the value was refused.' }),
    }),
  });

  ruleErrorType(builder, ValidationError, {
    name: 'ValidationError',
    description: 'The input was malformed or broke a field rule. Nothing was changed.',
    fields: (t) => ({
      issues: t.field({ type: [ValidationIssueRef], description: 'Each refused field.', resolve: (error) => [...error.issues] }),
    }),
  });

  ruleErrorType(builder, NotFoundError, {
    name: 'NotFoundError',
    description: 'The addressed object does not exist. Nothing was changed.',
    fields: (t) => ({
      resource: t.exposeString('resource', { description: 'What kind of thing was looked for, e.g. "Cart".' }),
      id: t.exposeString('id', { description: 'The id that was not found.' }),
    }),
  });

  ruleErrorType(builder, ConcurrencyError, {
    name: 'ConcurrencyError',
    description:
      'The stream was not at the version the command expected: someone else changed it first. Nothing was appended. ' +
      'Reload and decide again, or omit expectedVersion to let the server retry.',
    fields: (t) => ({
      streamId: t.exposeString('streamId', { description: 'The stream that moved on.' }),
      expectedVersion: t.exposeInt('expectedVersion', { description: 'The version the command expected.' }),
      actualVersion: t.exposeInt('actualVersion', { description: 'The version the stream is at.' }),
    }),
  });

  ruleErrorType(builder, UnauthenticatedError, {
    name: 'UnauthenticatedError',
    description: 'The command needs a signed-in caller, and the request carried no token. Send `Authorization: Bearer <token>`. Nothing was changed.',
  });

  ruleErrorType(builder, ForbiddenError, {
    name: 'ForbiddenError',
    description: "The caller may not do this: the aggregate's policy refuses it (see the README's Authorization section). Nothing was changed.",
    fields: (t) => ({
      resource: t.exposeString('resource', { description: 'What kind of thing was addressed, e.g. "Cart".' }),
      id: t.exposeString('id', { description: 'Its id.' }),
    }),
  });

  ruleErrorType(builder, StaleReadError, {
    name: 'StaleReadError',
    description:
      'An asynchronous read model had not caught up with the position passed as `consistentWith` within the server\'s wait ' +
      '(READ_YOUR_WRITES_TIMEOUT_MS). Query again later, or without `consistentWith` to read what it has.',
    fields: (t) => ({
      readModel: t.exposeString('readModel', { description: 'The read model that was behind, e.g. "productSales".' }),
      position: t.exposeString('position', { description: 'Where its processor is: every event up to this position is in the read model.' }),
      waitedMs: t.exposeInt('waitedMs', { description: 'How long the server waited.' }),
    }),
  });

  ruleErrorType(builder, CommandIdReusedError, {
    name: 'CommandIdReusedError',
    description: 'The commandId was already used for a different command (another name, target or input). Nothing was changed.',
    fields: (t) => ({ commandId: t.exposeString('commandId', { description: 'The command id that was reused.' }) }),
  });
}

/** Registers a domain rule error (a DomainError subclass) as a GraphQL type implementing `Error`. */
export function ruleErrorType<T extends DomainError>(
  builder: Builder,
  errorClass: new (...args: any[]) => T,
  options: { name: string; description: string; fields?: (t: PothosSchemaTypes.ObjectFieldBuilder<PothosSchemaTypes.ExtendDefaultTypes<SchemaTypes>, T>) => FieldMap },
): void {
  // The class is its own ref (the errors plugin matches thrown values by class); typed for callers above.
  builder.objectType(errorClass as new (...args: any[]) => DomainError, {
    name: options.name,
    description: options.description,
    interfaces: ['Error'],
    isTypeOf: (value) => value instanceof errorClass,
    fields: (options.fields ?? (() => ({}))) as never,
  });
}
