import { describe, expect, it } from 'vitest';
import { createLogger } from './logger.ts';

/** A logger whose lines land in `lines`, parsed, as an operator's log shipper would read them. */
function capturing(level: Parameters<typeof createLogger>[0]) {
  const lines: Record<string, any>[] = [];
  const logger = createLogger(level, { write: (line: string) => void lines.push(JSON.parse(line)) });
  return { logger, lines };
}

describe('the JSON logger', () => {
  it('writes one JSON line per entry with level, ISO time, the fields and the message', () => {
    const { logger, lines } = capturing('info');
    logger.info('API ready', { url: 'http://localhost:4000/graphql' });
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: 'info', message: 'API ready', url: 'http://localhost:4000/graphql' });
    expect(new Date(lines[0]!.time).toISOString()).toBe(lines[0]!.time);
  });

  it('drops entries below its level', () => {
    const { logger, lines } = capturing('warn');
    logger.debug('noise');
    logger.info('chatter');
    logger.warn('careful');
    logger.error('broken');
    expect(lines.map((line) => [line.level, line.message])).toEqual([['warn', 'careful'], ['error', 'broken']]);
  });

  it('writes an error with its stack, its own fields and its cause chain', () => {
    const { logger, lines } = capturing('info');
    const cause = Object.assign(new Error('connection refused'), { code: 'ECONNREFUSED' });
    logger.error('could not collect metrics', { error: new Error('query failed', { cause }) });
    expect(lines[0]!.error).toMatchObject({
      type: 'Error',
      message: 'query failed',
      stack: expect.stringContaining('query failed'),
      cause: { message: 'connection refused', code: 'ECONNREFUSED', stack: expect.stringContaining('connection refused') },
    });
  });

  it('keeps a cause that is not an error', () => {
    const { logger, lines } = capturing('info');
    logger.error('failed', { error: new Error('outer', { cause: { table: 'cart_view' } }) });
    expect(lines[0]!.error.cause).toEqual({ table: 'cart_view' });
  });

  it('writes bigints as strings, which JSON parsers read without losing digits', () => {
    const { logger, lines } = capturing('info');
    logger.info('position', { transactionId: 18_446_744_073_709_551_615n });
    expect(lines[0]!.transactionId).toBe('18446744073709551615');
  });

  it('a child logger drops entries below its parent’s level, and writes the rest with its bindings', () => {
    const { logger, lines } = capturing('warn');
    const operation = logger.child({ correlationId: 'op-1' }).child({ operation: 'Events' });
    operation.debug('noise');
    operation.info('chatter');
    operation.error('broken');
    expect(lines.map(({ level, correlationId, operation, message }) => ({ level, correlationId, operation, message }))).toEqual([
      { level: 'error', correlationId: 'op-1', operation: 'Events', message: 'broken' },
    ]);
  });

  it('a child logger puts its bindings on every line, beside the line’s own fields', () => {
    const { logger, lines } = capturing('info');
    const request = logger.child({ correlationId: 'req-1' });
    request.info('first');
    request.child({ operation: 'AddItem' }).warn('second', { sku: 'A' });
    logger.info('outside');
    expect(lines.map(({ correlationId, operation, sku, message }) => ({ correlationId, operation, sku, message }))).toEqual([
      { correlationId: 'req-1', operation: undefined, sku: undefined, message: 'first' },
      { correlationId: 'req-1', operation: 'AddItem', sku: 'A', message: 'second' },
      { correlationId: undefined, operation: undefined, sku: undefined, message: 'outside' },
    ]);
  });
});
