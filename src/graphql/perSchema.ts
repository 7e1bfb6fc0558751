import type { Builder } from './builder.ts';

/**
 * A type shared by several registrations (core and modules alike), made the first time a schema
 * asks for it: each builder gets its own, and no registration has to be handed another's refs.
 */
export function perSchema<T>(create: (builder: Builder) => T): (builder: Builder) => T {
  const made = new WeakMap<Builder, T>();
  return (builder) => {
    if (!made.has(builder)) made.set(builder, create(builder));
    return made.get(builder)!;
  };
}
