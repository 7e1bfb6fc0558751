import type http from 'node:http';
import { describe, expect, it } from 'vitest';
import { callerKey } from '../src/app/callers.ts';
import { ANONYMOUS } from '../src/core/identity.ts';

/** What callerKey reads of a request: its headers and the address its socket came from. */
const request = (remoteAddress: string, forwardedFor?: string) =>
  ({ headers: forwardedFor ? { 'x-forwarded-for': forwardedFor } : {}, socket: { remoteAddress } }) as unknown as http.IncomingMessage;

describe('who a per-caller limit counts against', () => {
  it("is the token's subject, wherever the caller connects from", () => {
    const alice = { kind: 'subject', subject: 'alice', roles: [] } as const;
    expect(callerKey(alice, request('10.0.0.1'), false)).toBe('subject:alice');
    expect(callerKey(alice, request('10.0.0.2'), true)).toBe('subject:alice');
  });

  it('is the address of an anonymous caller; X-Forwarded-For is ignored unless the proxy is trusted', () => {
    expect(callerKey(ANONYMOUS, request('10.0.0.1', '203.0.113.9'), false)).toBe('address:10.0.0.1');
  });

  it("behind a trusted proxy, is the last address the proxy appended, not what the client claimed before it", () => {
    expect(callerKey(ANONYMOUS, request('172.18.0.5', '6.6.6.6, 203.0.113.9'), true)).toBe('address:203.0.113.9');
    expect(callerKey(ANONYMOUS, request('172.18.0.5'), true)).toBe('address:172.18.0.5');
  });
});
