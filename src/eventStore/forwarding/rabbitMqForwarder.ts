import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect, type ChannelModel, type ConfirmChannel } from 'amqplib';
import type { Logger } from '../../core/logger.ts';
import type { RecordedEvent } from '../../core/message.ts';
import type { ProcessorDefinition, ProcessorFilter } from '../processors/processorDefinition.ts';
import { toEventMessage, type EventMessage } from './eventMessage.ts';

export const DEFAULT_EXCHANGE = 'events';
export const DEFAULT_FORWARDER_NAME = 'rabbitmq-forwarder';

export type RabbitMqForwarderOptions = {
  /** `amqp://user:password@host:5672/vhost` (or `amqps://`); `?heartbeat=30` and the like as amqplib reads them. */
  readonly url: string;
  /** A durable topic exchange, declared if missing. */
  readonly exchange?: string;
  /** Forward only these event types (all when unset). */
  readonly eventTypes?: readonly string[];
  /** Forward only events of these stream types (all when unset). */
  readonly streamTypes?: readonly string[];
  /** The processor's name: the key of its checkpoint. */
  readonly name?: string;
  readonly batchSize?: number;
  readonly logger: Logger;
  /** Backoff between connection attempts: from `initialDelayMs`, doubling, up to `maxDelayMs` (±20 % jitter). */
  readonly reconnect?: { readonly initialDelayMs?: number; readonly maxDelayMs?: number };
  /**
   * How long a batch may wait for the broker's confirms before the connection is taken for dead
   * (a network partition sends no reset) and the batch is published again on a new one.
   */
  readonly confirmTimeoutMs?: number;
  /**
   * How long the broker may stay silent while a connection opens (TCP, TLS, the AMQP handshake)
   * before the attempt counts as failed: without it a broker that drops packets, or accepts and
   * never answers, holds the attempt (and a shutdown waiting for it) for minutes, or for ever.
   */
  readonly connectTimeoutMs?: number;
  /** How the connection shows in the broker (`rabbitmqctl list_connections client_properties`, the management UI). */
  readonly connectionName?: string;
};

export type RabbitMqForwarder = {
  /** Register this with the processor runner. */
  readonly processor: ProcessorDefinition;
  /** Closes the broker connection; a batch in flight fails, and later ones are refused. */
  close(): Promise<void>;
};

/** The broker refused (nacked) a message: its queues could not take it. The batch fails and the runner retries it. */
export class RabbitMqNackError extends Error {
  readonly eventId: string;
  constructor(eventId: string) {
    super(`RabbitMQ nacked the message of event ${eventId}`);
    this.name = 'RabbitMqNackError';
    this.eventId = eventId;
  }
}

/** The forwarder was closed while a batch was in flight, or a batch came after. */
export class RabbitMqForwarderClosedError extends Error {
  constructor() {
    super('the RabbitMQ forwarder is closed');
    this.name = 'RabbitMqForwarderClosedError';
  }
}

/** No confirms within `confirmTimeoutMs`: the connection is taken for dead. */
class ConfirmTimeoutError extends Error {
  constructor(timeoutMs: number) {
    super(`RabbitMQ confirmed nothing for ${timeoutMs} ms`);
    this.name = 'ConfirmTimeoutError';
  }
}

/**
 * How long closing a connection waits for the broker's CloseOk. amqplib resolves `close()` on that
 * answer only, so on a connection gone silent (a partition that sends no reset) it would wait for
 * ever, holding up the batch's new attempt, or the shutdown. Past it the connection is left to end
 * by itself (the heartbeat notices a dead peer).
 */
const CLOSE_WAIT_MS = 2_000;

/** One connection and its confirm channel; replaced whole when either goes. */
class Link {
  readonly connection: ChannelModel;
  readonly channel: ConfirmChannel;
  /** Set when the channel or the connection closed: the link is of no further use. */
  broken: Error | undefined;
  /** The forwarder closed it (a lost batch, or shutdown), rather than the broker or the network. */
  closedByUs = false;
  private readonly breaker = new AbortController();
  /** Aborts when the link breaks, so waits for drain or confirms end with it. */
  readonly brokenSignal = this.breaker.signal;
  private readonly closedController = new AbortController();
  /** Aborts once the connection has closed, whichever way (CloseOk, the broker, the socket, a missed heartbeat). */
  readonly closedSignal = this.closedController.signal;

  constructor(connection: ChannelModel, channel: ConfirmChannel) {
    this.connection = connection;
    this.channel = channel;
  }

  break(reason: Error): void {
    if (this.broken) return;
    this.broken = reason;
    this.breaker.abort(reason);
  }

  /** Called from the connection's 'close' event. */
  markClosed(): void {
    this.closedController.abort();
  }

  async close(): Promise<void> {
    this.closedByUs = true;
    this.break(new Error('closed by the forwarder'));
    if (this.closedSignal.aborted) return;
    const waited = AbortSignal.any([this.closedSignal, AbortSignal.timeout(CLOSE_WAIT_MS)]);
    await abortable(this.connection.close(), waited).catch(() => undefined);
  }
}

/**
 * A processor (delivery `external`) that publishes every event it is handed to a durable topic
 * exchange, routing key `<streamType>.<eventType>`, persistent, `messageId` = the event id, and
 * resolves `handle` only once the broker has confirmed every message of the batch: the runner moves
 * the checkpoint only then. Delivery is at least once (a batch may be published again after a
 * connection was lost before its confirms came, or after a crash): consumers deduplicate by
 * `messageId`. Events go out on one channel in batch order, which is commit order, so per stream
 * (and in a queue) the first copy of each message arrives in commit order.
 *
 * A lost connection (broker restart, `rabbitmqctl close_all_connections`, network) does not fail the
 * batch: `handle` reconnects with backoff for as long as it takes and publishes the whole batch
 * again, so a broker outage holds the processor back (its lag grows) instead of spending the
 * runner's attempts and parking events. It stops waiting when the context's signal aborts. A nack
 * fails the batch (the runner retries it, and stops when it parks: an event forwarded out of order
 * is worse than one forwarded late).
 */
export function rabbitMqForwarder(options: RabbitMqForwarderOptions): RabbitMqForwarder {
  const exchange = options.exchange ?? DEFAULT_EXCHANGE;
  const name = options.name ?? DEFAULT_FORWARDER_NAME;
  const initialDelayMs = options.reconnect?.initialDelayMs ?? 100;
  const maxDelayMs = Math.max(initialDelayMs, options.reconnect?.maxDelayMs ?? 10_000);
  const confirmTimeoutMs = options.confirmTimeoutMs ?? 30_000;
  const connectTimeoutMs = options.connectTimeoutMs ?? 10_000;
  const logger = options.logger.child({ processor: name, broker: brokerOf(options.url), exchange });
  const closing = new AbortController();
  let link: Link | undefined;
  let connecting: Promise<Link> | undefined;

  async function open(): Promise<Link> {
    const connection = await connect(options.url, { timeout: connectTimeoutMs, clientProperties: { connection_name: options.connectionName ?? name } });
    let opened: Link | undefined;
    let closedEarly: Error | undefined;
    // Without an 'error' listener an emitter's error event would end the process.
    connection.on('error', (error: Error) => logger.warn('rabbitmq connection error', { error }));
    connection.on('close', (error?: Error) => {
      const reason = error ?? new Error('the RabbitMQ connection closed');
      // Said here whether or not a batch is in flight: the broker's reason (CONNECTION_FORCED, a
      // restart, a heartbeat timeout) reaches no other log line, the channel closes first without it.
      if (opened && !opened.closedByUs) logger.warn('rabbitmq connection lost; the next batch reconnects', { error: reason });
      if (opened) {
        opened.break(reason);
        opened.markClosed();
      } else closedEarly = reason;
    });
    connection.on('blocked', (reason: string) => logger.warn('rabbitmq blocked publishing (a resource alarm): confirms wait until it clears', { reason }));
    connection.on('unblocked', () => logger.info('rabbitmq unblocked publishing'));
    try {
      const channel = await connection.createConfirmChannel();
      channel.on('error', (error: Error) => logger.warn('rabbitmq channel error', { error }));
      channel.on('close', () => opened?.break(new Error('the RabbitMQ channel closed')));
      await channel.assertExchange(exchange, 'topic', { durable: true });
      opened = new Link(connection, channel);
    } catch (error) {
      await connection.close().catch(() => undefined);
      throw error;
    }
    if (closedEarly) throw closedEarly;
    return opened;
  }

  /** The current link, or a new one after as many attempts as it takes: only `signal` stops it. */
  async function connected(signal: AbortSignal): Promise<Link> {
    for (let attempt = 1; ; attempt++) {
      signal.throwIfAborted();
      if (link && !link.broken) return link;
      // The link is taken up here rather than by the caller, so a caller that stops waiting (its
      // signal aborted) leaves it to the next batch instead of leaving a connection open forever.
      connecting ??= open()
        .then(async (fresh) => {
          if (closing.signal.aborted) {
            await fresh.close();
            throw closing.signal.reason;
          }
          logger.info('rabbitmq connected');
          link = fresh;
          return fresh;
        })
        .finally(() => {
          connecting = undefined;
        });
      try {
        const fresh = await abortable(connecting, signal);
        if (fresh.broken) throw fresh.broken;
        return fresh;
      } catch (error) {
        if (signal.aborted) throw signal.reason;
        const delayMs = Math.round(Math.min(maxDelayMs, initialDelayMs * 2 ** (attempt - 1)) * (0.8 + Math.random() * 0.4));
        logger.warn('rabbitmq connection failed; trying again', { error, attempt, delayMs });
        // timers/promises rejects with its own AbortError; the caller should see the signal's reason.
        await sleep(delayMs, undefined, { signal }).catch(() => signal.throwIfAborted());
      }
    }
  }

  /** Publishes every message in order and waits for every confirm; throws a nack, or why the link broke. */
  async function publishAll(current: Link, messages: readonly EventMessage[], events: readonly RecordedEvent[], signal: AbortSignal): Promise<void> {
    const timeout = AbortSignal.timeout(confirmTimeoutMs);
    const stop = AbortSignal.any([signal, current.brokenSignal, timeout]);
    let outstanding = messages.length;
    let nacked: number | undefined;
    let settle!: { resolve: () => void; reject: (error: unknown) => void };
    const confirmed = new Promise<void>((resolve, reject) => (settle = { resolve, reject }));
    // Rejections are read below; none may go unhandled meanwhile.
    confirmed.catch(() => undefined);
    try {
      for (let index = 0; index < messages.length; index++) {
        stop.throwIfAborted();
        const message = messages[index]!;
        const hasRoom = current.channel.publish(exchange, message.routingKey, message.content, message.properties, (error: unknown) => {
          if (error) {
            nacked ??= index;
            settle.reject(error);
          } else if (--outstanding === 0) settle.resolve();
        });
        // amqplib would buffer the rest in memory; wait until the socket takes more instead.
        if (!hasRoom) await once(current.channel, 'drain', { signal: stop });
      }
      await abortable(confirmed, stop);
    } catch (error) {
      // The channel fails every unconfirmed callback as it closes, before its close event marks the
      // link broken: by now (a microtask later) it is marked, so a broken link is told from a nack.
      if (current.broken) throw current.broken;
      if (signal.aborted) throw signal.reason;
      if (timeout.aborted) throw new ConfirmTimeoutError(confirmTimeoutMs);
      if (nacked !== undefined) throw new RabbitMqNackError(events[nacked]!.id);
      throw error;
    }
  }

  async function handle(events: readonly RecordedEvent[], signal: AbortSignal): Promise<void> {
    if (events.length === 0) return;
    const stop = AbortSignal.any([signal, closing.signal]);
    const messages = events.map(toEventMessage);
    for (let attempt = 1; ; attempt++) {
      const current = await connected(stop);
      try {
        await publishAll(current, messages, events, stop);
        return;
      } catch (error) {
        if (stop.aborted) throw stop.reason;
        // A nack, or a message amqplib cannot encode: the runner's retries and parking decide.
        if (!current.broken && !(error instanceof ConfirmTimeoutError)) throw error;
        // The link is gone (or silent): start over on a new connection with the whole batch. What the
        // broker took already reaches consumers twice; they deduplicate by messageId.
        if (link === current) link = undefined;
        await current.close();
        logger.warn('rabbitmq link lost before the batch was confirmed; publishing it again', { error, attempt, events: events.length, first: events[0]!.position });
      }
    }
  }

  const filter: ProcessorFilter = {
    ...(options.eventTypes?.length ? { eventTypes: options.eventTypes } : {}),
    ...(options.streamTypes?.length ? { streamTypes: options.streamTypes } : {}),
  };
  return {
    processor: {
      name,
      delivery: 'external',
      ...(Object.keys(filter).length > 0 ? { filter } : {}),
      ...(options.batchSize ? { batchSize: options.batchSize } : {}),
      // Going on past a parked event would forward its stream's later events before it.
      onParked: 'stop',
      handle: (events, context) => handle(events, context.signal),
    },
    close: async () => {
      closing.abort(new RabbitMqForwarderClosedError());
      // A connection being opened closes itself once it is open (see `connected`): waiting for that
      // is tidier, but a broker slow to answer (up to connectTimeoutMs) should not hold a shutdown.
      if (connecting) await abortable(connecting, AbortSignal.timeout(CLOSE_WAIT_MS)).catch(() => undefined);
      const current = link;
      link = undefined;
      await current?.close();
    },
  };
}

/** Host, port and virtual host of an AMQP URL, for logs: never its credentials. */
function brokerOf(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.host}${parsed.pathname || '/'}`;
  } catch {
    return '<unparseable url>';
  }
}

/** `promise`, or the signal's reason as soon as it aborts. */
function abortable<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}
