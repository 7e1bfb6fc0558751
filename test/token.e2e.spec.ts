import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { createAuthenticator } from '../src/app/authenticator.ts';
import { loadConfig } from '../src/app/config.ts';
import { TEST_AUTH, TEST_AUTH_ENV } from './support/auth.ts';
import { runCommand } from './support/process.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const NO_JWT_SETTINGS = { AUTH: '', JWT_SECRET: '', JWT_JWKS_URL: '', JWT_ISSUER: '', JWT_AUDIENCE: '', JWT_ROLES_CLAIM: '', JWT_CLOCK_TOLERANCE_SECONDS: '', NODE_ENV: '' };

/** `npm run token -- …args` as a user types it, in an environment of its own. */
function npmRunToken(args: string[], env: Record<string, string>) {
  return runCommand('npm', ['run', '--silent', 'token', '--', ...args], { cwd: ROOT, env: { ...process.env, ...NO_JWT_SETTINGS, ...env } });
}

const hoursLeft = (expiresAt: Date | undefined) => ((expiresAt?.getTime() ?? 0) - Date.now()) / 3_600_000;

describe('npm run token', () => {
  it('prints a token the configured server accepts, for the subject, every role given and the expiry asked for', async () => {
    const { code, stdout, stderr } = await npmRunToken(['--sub', 'alice', '--role', 'customer', '--role', 'support', '--expires', '2h'], TEST_AUTH_ENV);
    expect(code, stderr).toBe(0);
    expect(stdout).toMatch(/^\S+\n$/); // the token alone, for $(npm run --silent token -- …)
    const identity = await createAuthenticator(TEST_AUTH).authenticate(stdout.trim());
    expect(identity).toMatchObject({ kind: 'subject', subject: 'alice', roles: ['customer', 'support'] });
    expect(identity.kind === 'subject' && hoursLeft(identity.expiresAt)).toBeGreaterThan(1.98);
    expect(identity.kind === 'subject' && hoursLeft(identity.expiresAt)).toBeLessThanOrEqual(2);
  });

  it('signs with the development secret when no JWT settings are given, as `npm start` then checks', async () => {
    const { code, stdout, stderr } = await npmRunToken(['--sub', 'bob', '--role', 'customer'], {});
    expect(code, stderr).toBe(0);
    expect(stderr).toContain('development secret');
    const identity = await createAuthenticator(loadConfig({}).auth).authenticate(stdout.trim());
    expect(identity).toMatchObject({ kind: 'subject', subject: 'bob', roles: ['customer'] });
    expect(identity.kind === 'subject' && hoursLeft(identity.expiresAt)).toBeGreaterThan(0.98); // one hour unless told
  });

  it.each([
    ['without --sub', ['--role', 'customer'], {}, /--sub is required/],
    ['with an unknown option', ['--sub', 'a', '--admin'], {}, /Unknown option '--admin'/],
    ['with an expiry it cannot read', ['--sub', 'a', '--expires', 'soon'], {}, /--expires takes a time span such as 30m, 1h or 7d, got "soon"/],
    ['with authentication off', ['--sub', 'a'], { AUTH: 'off' }, /AUTH=off: the server checks no tokens/],
    ['for a JWKS', ['--sub', 'a'], { JWT_JWKS_URL: 'https://id.example.com/.well-known/jwks.json' }, /tokens come from your identity provider/],
    ['in production without JWT settings', ['--sub', 'a'], { NODE_ENV: 'production' }, /JWT_SECRET or JWT_JWKS_URL must be set when NODE_ENV=production/],
  ])('refuses %s, saying why, and prints no token', async (_case, args, env, message) => {
    const { code, stdout, stderr } = await npmRunToken(args, env);
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toMatch(message);
  });
});
