import type { Clock } from '../../src/core/ids.ts';

/**
 * A clock that stands still until a test moves it: commands stamp their events with its time, so a
 * test that needs two instants apart, or an instant between two events, makes them instead of sleeping.
 */
export class FakeClock implements Clock {
  private current: number;

  constructor(start: Date | string = '2026-11-23T09:00:00.000Z') {
    this.current = new Date(start).getTime();
  }

  now(): Date {
    return new Date(this.current);
  }

  /** Moves the clock forward by `ms` milliseconds and returns the new time. */
  advance(ms: number): Date {
    if (!(ms >= 0)) throw new Error(`a clock only moves forward; got ${ms} ms`);
    this.current += ms;
    return this.now();
  }
}
