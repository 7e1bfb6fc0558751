import type { EventMetadata, RecordedEvent } from '../../core/message.ts';

/**
 * The body of every message the forwarder publishes (JSON, UTF-8): the event as the store recorded
 * it. `position` is the same opaque cursor GraphQL's history and live feeds use, so a consumer can
 * resume a GraphQL feed from the last message it handled. Documented in the README ("Forwarding to
 * RabbitMQ"); change it only together with a new `schemaVersion` of the message.
 */
export type EventMessageBody = {
  readonly id: string;
  readonly type: string;
  readonly streamId: string;
  readonly streamType: string;
  readonly version: number;
  readonly position: string;
  /** ISO 8601, UTC. */
  readonly recordedAt: string;
  readonly data: object;
  /** The event's metadata (correlation and causation ids, command name, actor, client, …) without `readers`. */
  readonly metadata: Omit<EventMetadata, 'readers'>;
};

/** The AMQP headers of every message, beside the standard properties (messageId, type, correlationId, timestamp). */
export type EventMessageHeaders = {
  readonly position: string;
  readonly streamId: string;
  readonly streamType: string;
  readonly eventType: string;
  readonly version: number;
  readonly correlationId?: string;
  readonly causationId?: string;
};

export type EventMessage = {
  readonly routingKey: string;
  readonly content: Buffer;
  readonly properties: {
    readonly messageId: string;
    readonly type: string;
    readonly contentType: 'application/json';
    readonly contentEncoding: 'utf-8';
    /** Delivery mode 2: the broker writes the message to disk in a durable queue. */
    readonly persistent: true;
    /** Seconds since the epoch, as AMQP's timestamp property counts them. */
    readonly timestamp: number;
    readonly correlationId?: string;
    readonly headers: EventMessageHeaders;
  };
};

/** `<streamType>.<eventType>`, so that a consumer binds `Cart.*` for one aggregate or `*.CartCheckedOut` for one event type. */
export function routingKeyOf(event: Pick<RecordedEvent, 'streamType' | 'type'>): string {
  return `${event.streamType}.${event.type}`;
}

const text = (value: unknown): string | undefined => (typeof value === 'string' && value !== '' ? value : undefined);

export function toEventMessage(event: RecordedEvent): EventMessage {
  // Who may read a stream is the API's business (its live feeds filter by it), not a consumer's.
  const { readers: _readers, ...metadata } = event.metadata;
  const body: EventMessageBody = {
    id: event.id,
    type: event.type,
    streamId: event.streamId,
    streamType: event.streamType,
    version: event.version,
    position: event.position,
    recordedAt: event.recordedAt.toISOString(),
    data: event.data,
    metadata,
  };
  const correlationId = text(event.metadata.correlationId);
  const causationId = text(event.metadata.causationId);
  return {
    routingKey: routingKeyOf(event),
    content: Buffer.from(JSON.stringify(body)),
    properties: {
      messageId: event.id,
      type: event.type,
      contentType: 'application/json',
      contentEncoding: 'utf-8',
      persistent: true,
      timestamp: Math.floor(event.recordedAt.getTime() / 1000),
      ...(correlationId ? { correlationId } : {}),
      headers: {
        position: event.position,
        streamId: event.streamId,
        streamType: event.streamType,
        eventType: event.type,
        version: event.version,
        ...(correlationId ? { correlationId } : {}),
        ...(causationId ? { causationId } : {}),
      },
    },
  };
}
