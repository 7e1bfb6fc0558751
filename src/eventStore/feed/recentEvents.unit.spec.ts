import { describe, expect, it } from 'vitest';
import type { RecordedEvent } from '../../core/message.ts';
import { encodePosition, LOG_START, type LogPosition } from '../log/position.ts';
import { RecentEvents } from './recentEvents.ts';
import { matchesFilter } from './feed.ts';

// Positions in log order: transaction t, sequence p.
const event = (t: number, p: number, streamId = `s${p % 3}`): RecordedEvent => ({
  id: `e${p}`,
  type: p % 2 === 0 ? 'Even' : 'Odd',
  data: {},
  streamId,
  streamType: 'Thing',
  version: 1,
  position: encodePosition({ transactionId: BigInt(t), globalPosition: BigInt(p) }),
  transactionId: BigInt(t),
  globalPosition: BigInt(p),
  recordedAt: new Date(0),
  metadata: {},
});
const at = (t: number, p: number): LogPosition => ({ transactionId: BigInt(t), globalPosition: BigInt(p) });
const ids = (page: { events: RecordedEvent[] } | undefined) => page?.events.map((e) => e.id);

describe('recent events held for catch-up', () => {
  // A late committer: transaction 10 took sequence 5 but comes after transaction 9's 6 and 7.
  const log = [event(8, 1), event(8, 2), event(9, 6), event(9, 7), event(10, 5), event(11, 8)];

  it('serves a page after a position, up to a bound, in log order', () => {
    const recent = new RecentEvents(100, LOG_START);
    recent.append(log);
    expect(ids(recent.read(at(9, 6), at(10, 5), {}, 10, matchesFilter))).toEqual(['e7', 'e5']);
  });

  it('applies the filter and the page size, and says where the page ended', () => {
    const recent = new RecentEvents(100, LOG_START);
    recent.append(log);
    const page = recent.read(LOG_START, at(11, 8), { types: ['Odd'] }, 2, matchesFilter);
    expect(ids(page)).toEqual(['e1', 'e7']);
    expect(page?.next).toEqual(at(9, 7));
  });

  it('sends reads from before what it still holds to the database', () => {
    const recent = new RecentEvents(3, LOG_START);
    recent.append(log);
    expect(recent.size).toBe(3);
    expect(recent.read(at(8, 2), at(11, 8), {}, 10, matchesFilter)).toBeUndefined();
    expect(ids(recent.read(at(9, 6), at(11, 8), {}, 10, matchesFilter))).toEqual(['e7', 'e5', 'e8']);
  });

  it('holds only as many bytes as it may, however few events that is', () => {
    const recent = new RecentEvents(100, LOG_START, 1000);
    recent.append(log.map((e) => ({ ...e, data: { blob: 'x'.repeat(300) } })));
    expect(recent.size).toBe(1);
    expect(recent.read(at(10, 5), at(11, 8), {}, 10, matchesFilter)?.events.map((e) => e.id)).toEqual(['e8']);
    expect(recent.read(at(9, 7), at(11, 8), {}, 10, matchesFilter)).toBeUndefined();
  });

  it('holds nothing from before it started', () => {
    const recent = new RecentEvents(100, at(9, 7));
    recent.append(log.slice(4));
    expect(recent.read(at(9, 6), at(11, 8), {}, 10, matchesFilter)).toBeUndefined();
    expect(ids(recent.read(at(9, 7), at(11, 8), {}, 10, matchesFilter))).toEqual(['e5', 'e8']);
  });
});
