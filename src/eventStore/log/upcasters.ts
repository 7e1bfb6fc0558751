import type { RecordedEvent } from '../../core/message.ts';

/**
 * Turns the payload of one event type from schema version `fromVersion` into `fromVersion + 1`.
 * Pure and total: it runs on every read of an old event, so it must not fail on any payload that
 * version was ever written with, and must not look anywhere but at the payload.
 */
export type Upcaster<From extends object = any, To extends object = any> = {
  readonly streamType: string;
  readonly eventType: string;
  readonly fromVersion: number;
  readonly upcast: (data: From) => To;
};

/** An event type as this release writes it: its current payload version. */
export type EventTypeVersion = { readonly streamType: string; readonly eventType: string; readonly currentVersion: number };

/** What the log may hold of one event type: its current version and the steps from every older one. */
export type EventTypeHistory = EventTypeVersion & { readonly upcasts: readonly { readonly fromVersion: number; readonly toVersion: number }[] };

/** Declares an upcaster with its payload types checked (the older shape in, the next one out). */
export function upcaster<From extends object, To extends object>(definition: Upcaster<From, To>): Upcaster<From, To> {
  return definition;
}

const key = (streamType: string, eventType: string) => `${streamType}\u0000${eventType}`;

/**
 * Every event type's current version and the chain of upcasters that brings an older payload up to
 * it, checked once when the app is composed: a missing step, a step beyond the current version or
 * a step given twice fails there, never on the read that would meet it. Every reader of the log
 * (commands, projections, time travel, history, feeds, processors) passes what it reads through
 * `upcast`, so nothing past the readers ever sees an old shape.
 */
export class UpcasterRegistry {
  /** Knows no event type: every event is read as stored (tests of the store alone, tools). */
  static readonly none = new UpcasterRegistry([], []);

  private readonly current = new Map<string, number>();
  /** Per event type, its upcasters indexed by the version they start from. */
  private readonly chains = new Map<string, ((data: any) => object)[]>();
  readonly eventTypes: readonly EventTypeHistory[];

  constructor(types: readonly EventTypeVersion[], upcasters: readonly Upcaster[]) {
    for (const type of types) {
      const id = key(type.streamType, type.eventType);
      if (this.current.has(id)) throw new Error(`${type.streamType} ${type.eventType} is declared twice`);
      if (!Number.isInteger(type.currentVersion) || type.currentVersion < 1) {
        throw new Error(`${type.streamType} ${type.eventType}: schema version ${type.currentVersion} is not a whole number from 1`);
      }
      this.current.set(id, type.currentVersion);
      this.chains.set(id, []);
    }
    for (const step of upcasters) {
      const id = key(step.streamType, step.eventType);
      const name = `The upcaster of ${step.streamType} ${step.eventType} from version ${step.fromVersion}`;
      const current = this.current.get(id);
      if (current === undefined) throw new Error(`${name} is for an event type no decider declares`);
      if (!Number.isInteger(step.fromVersion) || step.fromVersion < 1) throw new Error(`${name}: the version is not a whole number from 1`);
      if (step.fromVersion >= current) throw new Error(`${name} goes beyond the current version ${current}`);
      const chain = this.chains.get(id)!;
      if (chain[step.fromVersion]) throw new Error(`${name} is given twice`);
      chain[step.fromVersion] = step.upcast;
    }
    for (const type of types) {
      const chain = this.chains.get(key(type.streamType, type.eventType))!;
      for (let version = 1; version < type.currentVersion; version++) {
        // Events of every older version may be in the log, so the chain must start at 1.
        if (!chain[version]) throw new Error(`${type.streamType} ${type.eventType} is at version ${type.currentVersion} but has no upcaster from version ${version}`);
      }
    }
    this.eventTypes = types.map((type) => ({
      ...type,
      upcasts: Array.from({ length: type.currentVersion - 1 }, (_, index) => ({ fromVersion: index + 1, toVersion: index + 2 })),
    }));
  }

  /** The version this release writes an event type with (1 for a type it does not know). */
  currentVersion(streamType: string, eventType: string): number {
    return this.current.get(key(streamType, eventType)) ?? 1;
  }

  /**
   * The event in its type's current shape, with `metadata.schemaVersion` the version of that shape
   * (and `metadata.storedSchemaVersion` the one it was written with, when they differ). An event
   * type the registry does not know is returned as stored. An event newer than this release knows
   * (written by a later release, read after a rollback of the code) cannot be understood: reading
   * it fails rather than hand domain code a shape it was not written for.
   */
  upcast<E extends RecordedEvent>(event: E): E {
    const id = key(event.streamType, event.type);
    const current = this.current.get(id);
    if (current === undefined) return event;
    // Events written before versions were stored (or by hand, without one) are version 1.
    const stored = Math.max(1, Math.trunc(Number(event.metadata.schemaVersion ?? 1)) || 1);
    if (stored === current) return event;
    if (stored > current) {
      throw new Error(`Event ${event.id} (${event.streamType} ${event.type}) is schema version ${stored}; this release reads up to version ${current}`);
    }
    const chain = this.chains.get(id)!;
    let data: object = event.data;
    for (let version = stored; version < current; version++) data = chain[version]!(data);
    return { ...event, data, metadata: { ...event.metadata, schemaVersion: current, storedSchemaVersion: stored } };
  }
}
