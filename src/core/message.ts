/**
 * The shapes every aggregate module shares. Domain events and commands are plain,
 * JSON-serialisable discriminated unions: `type` is the discriminant, `data` the payload.
 */

/** A domain event as a decider produces it, before the store gives it an identity and a place. */
export type Event<Type extends string = string, Data extends object = object> = {
  readonly type: Type;
  readonly data: Data;
};

/** A command as a decider receives it. Time and identifiers arrive on the command, never from I/O. */
export type Command<Type extends string = string, Data extends object = object> = {
  readonly type: Type;
  readonly data: Data;
  /** When the command was issued, as the server's clock saw it. */
  readonly now: Date;
};

/** What the store knows of an event once it is committed. */
export type EventMetadata = {
  /** Ties together everything one request caused. */
  readonly correlationId?: string;
  /** The command that produced the event. */
  readonly causationId?: string;
  readonly commandName?: string;
  readonly actor?: string;
  readonly client?: string;
  /** Version of the event type's payload schema; once read, that of the payload as handed on (see UpcasterRegistry). */
  readonly schemaVersion?: number;
  /** Set on reading when the event was upcast: the version it is stored in. Never written. */
  readonly storedSchemaVersion?: number;
  /** Who could read the stream after this event (its policy's readers): how live feeds filter without a lookup. */
  readonly readers?: readonly string[];
  readonly [key: string]: unknown;
};

/** A committed event as read back from the store. */
export type RecordedEvent<E extends Event = Event> = E & {
  readonly id: string;
  readonly streamId: string;
  readonly streamType: string;
  /** 1-based position of the event within its stream. */
  readonly version: number;
  /** Opaque cursor in commit order; the same string works for history and live feeds. */
  readonly position: string;
  readonly globalPosition: bigint;
  readonly transactionId: bigint;
  readonly recordedAt: Date;
  readonly metadata: EventMetadata;
};

/** Compile-time exhaustiveness: every `switch` over a union ends here. */
export function assertNever(value: never): never {
  throw new Error(`Unhandled case: ${JSON.stringify(value)}`);
}
