import { describe, expect, it } from 'vitest';
import { AuthenticationError, createAuthenticator } from '../src/app/authenticator.ts';
import { TEST_AUTH, tokenFor } from './support/auth.ts';
import { until } from './support/until.ts';

describe('a token the authenticator has verified before', () => {
  it('gives the same identity again, and is refused as expired once its expiry passes', async () => {
    const authenticator = createAuthenticator({ ...TEST_AUTH, clockToleranceSeconds: 0 });
    // Expiry is in whole seconds: a token minted late in a second with "1s" may be expired before
    // its first check on a busy machine. Three seconds leave at least two.
    const token = await tokenFor('dana', ['customer'], { expiresIn: '3s' });
    const first = await authenticator.authenticate(token);
    expect(first).toMatchObject({ kind: 'subject', subject: 'dana', roles: ['customer'] });
    expect(await authenticator.authenticate(token)).toEqual(first);
    const refusal = () => authenticator.authenticate(token).then(() => undefined, (error: unknown) => error);
    await until(async () => (await refusal()) !== undefined, 'the remembered token to expire', 8_000);
    const error = await refusal();
    expect(error).toBeInstanceOf(AuthenticationError);
    expect((error as AuthenticationError).reason).toBe('expired');
  });

  it('does not make a token signed with another secret pass', async () => {
    const authenticator = createAuthenticator(TEST_AUTH);
    await authenticator.authenticate(await tokenFor('erin', ['admin']));
    const forged = await tokenFor('erin', ['admin'], { secret: 'another-secret-that-is-long-enough-for-hs256' });
    await expect(authenticator.authenticate(forged)).rejects.toMatchObject({ reason: 'invalid' });
  });
});
