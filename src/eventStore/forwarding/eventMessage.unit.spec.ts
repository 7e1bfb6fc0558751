import { describe, expect, it } from 'vitest';
import type { RecordedEvent } from '../../core/message.ts';
import { toEventMessage } from './eventMessage.ts';

const event = (metadata: RecordedEvent['metadata']): RecordedEvent => ({
  id: '0193a0c0-0000-7000-8000-000000000001',
  type: 'CounterIncremented',
  data: { amount: 2, value: 5 },
  streamId: 'counter-1',
  streamType: 'Counter',
  version: 3,
  position: 'opaque-cursor',
  globalPosition: 42n,
  transactionId: 7n,
  recordedAt: new Date('2026-12-01T10:00:00.750Z'),
  metadata,
});

describe('an event as a RabbitMQ message', () => {
  it('is routed by <streamType>.<eventType> and carries no correlation id it does not have', () => {
    const message = toEventMessage(event({ actor: 'sub:alice', readers: ['authenticated'] }));
    expect(message.routingKey).toBe('Counter.CounterIncremented');
    expect(message.properties).toEqual({
      messageId: '0193a0c0-0000-7000-8000-000000000001',
      type: 'CounterIncremented',
      contentType: 'application/json',
      contentEncoding: 'utf-8',
      persistent: true,
      timestamp: Date.parse('2026-12-01T10:00:00Z') / 1000,
      headers: { position: 'opaque-cursor', streamId: 'counter-1', streamType: 'Counter', eventType: 'CounterIncremented', version: 3 },
    });
    expect(JSON.parse(message.content.toString('utf8'))).toEqual({
      id: '0193a0c0-0000-7000-8000-000000000001',
      type: 'CounterIncremented',
      streamId: 'counter-1',
      streamType: 'Counter',
      version: 3,
      position: 'opaque-cursor',
      recordedAt: '2026-12-01T10:00:00.750Z',
      data: { amount: 2, value: 5 },
      // The readers are the API's authorization detail, not part of what happened.
      metadata: { actor: 'sub:alice' },
    });
  });

  it('puts the correlation and causation ids of the request that caused it in the headers, and the correlation id in the AMQP property', () => {
    const { properties } = toEventMessage(event({ correlationId: 'request-9', causationId: 'command-3' }));
    expect(properties.correlationId).toBe('request-9');
    expect(properties.headers).toMatchObject({ correlationId: 'request-9', causationId: 'command-3' });
  });
});
