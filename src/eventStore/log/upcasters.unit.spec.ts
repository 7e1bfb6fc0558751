import { describe, expect, it } from 'vitest';
import type { RecordedEvent } from '../../core/message.ts';
import { UpcasterRegistry, type Upcaster } from './upcasters.ts';

/** A user's name: a bare string in version 1, split into parts in 2, with a display form added in 3. */
const renamed = (schemaVersion: number | undefined, data: object) =>
  ({ id: 'e1', type: 'Renamed', streamType: 'Person', streamId: 'p1', version: 1, data, metadata: schemaVersion === undefined ? {} : { schemaVersion } }) as unknown as RecordedEvent;
const toParts: Upcaster = { streamType: 'Person', eventType: 'Renamed', fromVersion: 1, upcast: ({ name }: { name: string }) => ({ parts: [name] }) };
const withDisplay: Upcaster = { streamType: 'Person', eventType: 'Renamed', fromVersion: 2, upcast: ({ parts }: { parts: string[] }) => ({ parts, display: parts.join(' ') }) };
const atVersion = (currentVersion: number) => [{ streamType: 'Person', eventType: 'Renamed', currentVersion }];

describe('the upcaster registry', () => {
  it('brings an event of any older version up to the current one, one step after the other', () => {
    const registry = new UpcasterRegistry(atVersion(3), [withDisplay, toParts]);
    const upcast = registry.upcast(renamed(1, { name: 'Ada' }));
    expect(upcast.data).toEqual({ parts: ['Ada'], display: 'Ada' });
    expect(upcast.metadata).toMatchObject({ schemaVersion: 3, storedSchemaVersion: 1 });
    expect(registry.upcast(renamed(2, { parts: ['Ada', 'Lovelace'] })).data).toEqual({ parts: ['Ada', 'Lovelace'], display: 'Ada Lovelace' });
  });

  it('reads an event stored without a version as version 1, and leaves current events and unknown types as they are', () => {
    const registry = new UpcasterRegistry(atVersion(2), [toParts]);
    expect(registry.upcast(renamed(undefined, { name: 'Ada' })).data).toEqual({ parts: ['Ada'] });
    const current = renamed(2, { parts: ['Ada'] });
    expect(registry.upcast(current)).toBe(current);
    const foreign = { ...renamed(1, { name: 'x' }), streamType: 'Elsewhere' } as RecordedEvent;
    expect(registry.upcast(foreign)).toBe(foreign);
  });

  it('refuses an event newer than this release knows instead of handing on a shape nobody wrote code for', () => {
    const registry = new UpcasterRegistry(atVersion(2), [toParts]);
    expect(() => registry.upcast(renamed(3, { parts: [], display: '' }))).toThrow('is schema version 3; this release reads up to version 2');
  });

  it('refuses, when built, a chain with a gap, a step beyond the current version, a step given twice or one for an unknown type', () => {
    expect(() => new UpcasterRegistry(atVersion(3), [withDisplay])).toThrow('Person Renamed is at version 3 but has no upcaster from version 1');
    expect(() => new UpcasterRegistry(atVersion(2), [toParts, withDisplay])).toThrow('goes beyond the current version 2');
    expect(() => new UpcasterRegistry(atVersion(2), [toParts, toParts])).toThrow('is given twice');
    expect(() => new UpcasterRegistry([], [toParts])).toThrow('no decider declares');
  });

  it('lists every event type with its current version and upcast chain', () => {
    expect(new UpcasterRegistry(atVersion(3), [toParts, withDisplay]).eventTypes).toEqual([
      { streamType: 'Person', eventType: 'Renamed', currentVersion: 3, upcasts: [{ fromVersion: 1, toVersion: 2 }, { fromVersion: 2, toVersion: 3 }] },
    ]);
  });
});
