import { describe, expect, it } from 'vitest';
import { isUuid, uuidv7 } from './ids.ts';

describe('uuidv7', () => {
  it('makes distinct version-7 UUIDs, also across refills of its random pool', () => {
    const ids = Array.from({ length: 1000 }, () => uuidv7(1_800_000_000_000));
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids) {
      expect(isUuid(id)).toBe(true);
      expect(id[14]).toBe('7');
      expect('89ab').toContain(id[19]);
    }
  });

  it('sorts by time, so event ids are appended to the end of their index', () => {
    const earlier = uuidv7(1_800_000_000_000);
    const later = uuidv7(1_800_000_000_001);
    expect(earlier < later).toBe(true);
    const millis = (1_800_000_000_000).toString(16).padStart(12, '0');
    expect(earlier.replace('-', '').slice(0, 12)).toBe(millis);
  });
});
