import { expect } from 'vitest';
import type { Decider } from '../../src/core/decider.ts';
import { fold } from '../../src/core/decider.ts';
import { DomainError } from '../../src/core/errors.ts';
import type { Command, Event } from '../../src/core/message.ts';

/**
 * Given/When/Then for a pure decider: given past events, when a command is decided, then
 * expect these new events, or an error of this class (and, optionally, these fields on it).
 */
export function deciderSpec<C extends Command, E extends Event, S>(decider: Decider<C, E, S>) {
  return {
    given: (...history: E[]) => ({
      when: (command: C) => {
        const decide = () => decider.decide(command, fold(decider, history));
        return {
          then: (...expected: E[]) => {
            const result = decide();
            expect(result).not.toBeInstanceOf(DomainError);
            expect(result).toEqual(expected);
          },
          thenFails: <T extends DomainError>(errorClass: new (...args: any[]) => T, fields: Partial<T> = {}) => {
            const result = decide();
            expect(result).toBeInstanceOf(errorClass);
            expect(result).toMatchObject(fields);
            return result as T;
          },
        };
      },
    }),
  };
}
