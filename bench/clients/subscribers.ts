/**
 * A load process holding many GraphQL subscriptions, one WebSocket connection each, speaking the
 * graphql-transport-ws protocol with bare `ws` (no graphql-ws client, no JSON parsing of event
 * payloads: the event id is found in the raw frame) so that the client stays cheap and the
 * figures are the server's. Controlled over IPC:
 *   open    { subscribers: Spec[] }   → opened { opened, failed, firstError }
 *   count                             → counted { deliveries }
 *   collect { events: Appended[], measureFrom } → collected { …latency and loss… }
 *   close                             → closed
 */
import WebSocket from 'ws';
import { BENCH_ADMIN_TOKEN } from '../lib/server.ts';
import { Samples, summarize, wallNow } from '../lib/stats.ts';
import type { Appended } from './writers.ts';

/** `batched`: Subscription.eventBatches (several events a message) instead of Subscription.events. */
export type SubscriberSpec = { filter?: { streamId?: string; types?: string[] }; after?: string; batched?: boolean };
export type CollectResult = {
  subscribers: number;
  expectedDeliveries: number;
  delivered: number;
  lost: number;
  repeated: number;
  unexpected: number;
  errors: number;
  firstError?: string;
  closedEarly: number;
  latencyMs: ReturnType<typeof summarize>;
  deliveriesPerS: number;
};

const { wsUrl } = JSON.parse(process.argv[2]!) as { wsUrl: string };
const QUERY = `subscription Events($after: String, $filter: EventFilter) {
  events(after: $after, filter: $filter) { eid: eventId position type streamId version recordedAt }
}`;
const BATCH_QUERY = `subscription Batches($after: String, $filter: EventFilter) {
  eventBatches(after: $after, filter: $filter, size: 1000) { eid: eventId position type streamId version recordedAt }
}`;
const MARK = Buffer.from('"eid":"');

const sockets: WebSocket[] = [];
const specs: SubscriberSpec[] = [];
let errors = 0;
let firstError: string | undefined;
let closedEarly = 0;
let closing = false;

// Deliveries as parallel typed arrays: which subscriber, which event (interned id), when.
const eventIndex = new Map<string, number>();
const eventIds: string[] = [];
let deliverySub = new Uint32Array(1 << 16);
let deliveryEvent = new Uint32Array(1 << 16);
let deliveryAt = new Float64Array(1 << 16);
let deliveries = 0;

function record(subscriber: number, id: string, at: number): void {
  let index = eventIndex.get(id);
  if (index === undefined) {
    index = eventIds.push(id) - 1;
    eventIndex.set(id, index);
  }
  if (deliveries === deliverySub.length) {
    const grow = <T extends Uint32Array | Float64Array>(a: T): T => {
      const b = new (a.constructor as any)(a.length * 2) as T;
      b.set(a);
      return b;
    };
    deliverySub = grow(deliverySub);
    deliveryEvent = grow(deliveryEvent);
    deliveryAt = grow(deliveryAt);
  }
  deliverySub[deliveries] = subscriber;
  deliveryEvent[deliveries] = index;
  deliveryAt[deliveries] = at;
  deliveries++;
}

function open(index: number, spec: SubscriberSpec): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(wsUrl, 'graphql-transport-ws', { perMessageDeflate: false });
    let acked = false;
    // As an administrator, who may follow every event.
    socket.on('open', () => socket.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${BENCH_ADMIN_TOKEN}` } })));
    socket.on('message', (data: Buffer) => {
      const at = wallNow();
      let mark = data.indexOf(MARK);
      if (mark >= 0) {
        // One event per message, or (batched) several: each one's id follows its mark.
        for (; mark >= 0; mark = data.indexOf(MARK, mark + MARK.length + 36)) record(index, data.toString('latin1', mark + MARK.length, mark + MARK.length + 36), at);
        return;
      }
      const message = JSON.parse(data.toString('utf8')) as { type: string; payload?: unknown };
      if (message.type === 'connection_ack') {
        acked = true;
        socket.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query: spec.batched ? BATCH_QUERY : QUERY, variables: { ...(spec.after ? { after: spec.after } : {}), ...(spec.filter ? { filter: spec.filter } : {}) } } }));
        resolve();
      } else if (message.type === 'ping') {
        socket.send(JSON.stringify({ type: 'pong' }));
      } else if (message.type === 'error' || message.type === 'next' || message.type === 'complete') {
        errors++;
        firstError ??= JSON.stringify(message).slice(0, 500);
      }
    });
    socket.on('error', (error) => {
      if (!acked) reject(error);
      else {
        errors++;
        firstError ??= error.message;
      }
    });
    socket.on('close', () => {
      if (!closing) closedEarly++;
      if (!acked) reject(new Error('closed before connection_ack'));
    });
    sockets.push(socket);
  });
}

async function openAll(list: SubscriberSpec[]): Promise<{ opened: number; failed: number; firstError?: string }> {
  let opened = 0;
  let failed = 0;
  let failure: string | undefined;
  const base = specs.length;
  specs.push(...list);
  // A few hundred handshakes at a time, as a crowd of real clients would arrive.
  const batch = 200;
  for (let start = 0; start < list.length; start += batch) {
    const results = await Promise.allSettled(list.slice(start, start + batch).map((spec, i) => open(base + start + i, spec)));
    for (const result of results) {
      if (result.status === 'fulfilled') opened++;
      else {
        failed++;
        failure ??= String(result.reason?.message ?? result.reason);
      }
    }
  }
  return { opened, failed, ...(failure ? { firstError: failure } : {}) };
}

function matches(spec: SubscriberSpec, event: Appended): boolean {
  if (spec.filter?.streamId !== undefined && spec.filter.streamId !== event.streamId) return false;
  if (spec.filter?.types !== undefined && !spec.filter.types.includes(event.type)) return false;
  return true;
}

function collect(events: Appended[], measureFrom: number, measureTo: number): CollectResult {
  const commitAt = new Float64Array(eventIds.length).fill(Number.NaN);
  const known = new Map(events.map((e) => [e.id, e]));
  for (let i = 0; i < eventIds.length; i++) {
    const event = known.get(eventIds[i]!);
    if (event) commitAt[i] = event.commitAt;
  }
  // Which (subscriber, event) pairs arrived, and how often.
  const seen = new Map<number, Map<number, number>>();
  const latencies = new Samples();
  let unexpected = 0;
  for (let d = 0; d < deliveries; d++) {
    const sub = deliverySub[d]!;
    const ev = deliveryEvent[d]!;
    const perSub = seen.get(sub) ?? new Map<number, number>();
    perSub.set(ev, (perSub.get(ev) ?? 0) + 1);
    seen.set(sub, perSub);
    const committed = commitAt[ev]!;
    if (Number.isNaN(committed)) unexpected++;
    else if (committed >= measureFrom && committed <= measureTo) latencies.push(deliveryAt[d]! - committed);
  }
  let expected = 0;
  let lost = 0;
  let repeated = 0;
  specs.forEach((spec, sub) => {
    const perSub = seen.get(sub);
    for (const event of events) {
      if (!matches(spec, event)) continue;
      expected++;
      const index = eventIndex.get(event.id);
      const count = index === undefined ? 0 : (perSub?.get(index) ?? 0);
      if (count === 0) lost++;
      if (count > 1) repeated += count - 1;
    }
  });
  return {
    subscribers: specs.length,
    expectedDeliveries: expected,
    delivered: deliveries,
    lost,
    repeated,
    unexpected,
    errors,
    ...(firstError ? { firstError } : {}),
    closedEarly,
    latencyMs: summarize(latencies.values()),
    deliveriesPerS: Math.round(latencies.length / ((measureTo - measureFrom) / 1000)),
  };
}

process.on('message', (message: { type: string; subscribers?: SubscriberSpec[]; events?: Appended[]; measureFrom?: number; measureTo?: number }) => {
  void (async () => {
    try {
      if (message.type === 'open') {
        process.send!({ type: 'opened', ...(await openAll(message.subscribers!)) });
      } else if (message.type === 'count') {
        process.send!({ type: 'counted', deliveries });
      } else if (message.type === 'collect') {
        process.send!({ type: 'collected', result: collect(message.events!, message.measureFrom!, message.measureTo!) });
      } else if (message.type === 'close') {
        closing = true;
        await Promise.all(sockets.map((socket) => new Promise<void>((resolve) => {
          if (socket.readyState === WebSocket.CLOSED) return resolve();
          socket.once('close', () => resolve());
          socket.close(1000);
          setTimeout(() => { socket.terminate(); resolve(); }, 2000).unref();
        })));
        await new Promise((resolve) => process.send!({ type: 'closed' }, undefined, {}, resolve));
        process.disconnect();
      }
    } catch (error) {
      process.send!({ type: 'failed', error: error instanceof Error ? error.stack : String(error) });
    }
  })();
});
process.send!({ type: 'ready' });
