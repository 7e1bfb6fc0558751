import type { Config } from '../../src/app/config.ts';
import { mintToken } from '../../src/app/authenticator.ts';

/** The JWT settings of every test server: HS256 with a secret of the tests' own, issuer and audience checked. */
export const TEST_AUTH: Extract<Config['auth'], { mode: 'jwt' }> = {
  mode: 'jwt',
  development: false,
  secret: 'test-only-secret-that-is-long-enough-for-hs256',
  issuer: 'eventsourced-graphql-tests',
  audience: 'eventsourced-graphql',
  rolesClaim: 'roles',
  clockToleranceSeconds: 5,
};

/** A token the test servers accept, for `subject` with `roles`. */
export function tokenFor(subject: string, roles: readonly string[] = [], options: { expiresIn?: string; secret?: string; audience?: string } = {}): Promise<string> {
  if (TEST_AUTH.mode !== 'jwt' || !TEST_AUTH.secret) throw new Error('test auth is HS256');
  return mintToken({
    secret: options.secret ?? TEST_AUTH.secret,
    subject,
    roles,
    rolesClaim: TEST_AUTH.rolesClaim,
    issuer: TEST_AUTH.issuer!,
    audience: options.audience ?? TEST_AUTH.audience!,
    expiresIn: options.expiresIn ?? '1h',
  });
}

/** What most specs act as: an administrator, who may do and see everything. */
export const adminToken = await tokenFor('test-admin', ['admin']);

/** TEST_AUTH as the environment of an API process (`node src/main.ts`) a spec starts, whatever the shell running the tests has set. */
export const TEST_AUTH_ENV: Record<string, string> = {
  AUTH: 'jwt',
  JWT_SECRET: TEST_AUTH.secret!,
  JWT_JWKS_URL: '',
  JWT_ISSUER: TEST_AUTH.issuer!,
  JWT_AUDIENCE: TEST_AUTH.audience!,
  JWT_ROLES_CLAIM: TEST_AUTH.rolesClaim,
  JWT_CLOCK_TOLERANCE_SECONDS: String(TEST_AUTH.clockToleranceSeconds),
};
