import { describe, expect, it } from 'vitest';
import { random } from '../../test/support/random.ts';
import { isoString } from './scalars.ts';

describe('DateTime output', () => {
  it('is what toISOString writes, for instants across the four-digit years and at their edges', () => {
    const next = random(7);
    const edges = ['0000-01-01T00:00:00.000Z', '0999-12-31T23:59:59.999Z', '1970-01-01T00:00:00.000Z', '2026-12-02T02:37:00.005Z', '2026-12-02T02:37:00.050Z', '9999-12-31T23:59:59.999Z'];
    const start = Date.parse('0000-01-01T00:00:00Z');
    const end = Date.parse('9999-12-31T23:59:59.999Z');
    const dates = [...edges.map((text) => new Date(text)), ...Array.from({ length: 20_000 }, () => new Date(start + Math.floor(next() * (end - start))))];
    for (const date of dates) expect(isoString(date)).toBe(date.toISOString());
  });

  it('leaves the years written with a sign to toISOString, and refuses an invalid date as it does', () => {
    for (const date of [new Date('-000001-06-01T00:00:00Z'), new Date('+010000-01-01T00:00:00Z'), new Date(8.64e15)]) expect(isoString(date)).toBe(date.toISOString());
    expect(() => isoString(new Date(Number.NaN))).toThrow(RangeError);
  });
});
