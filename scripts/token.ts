/**
 * Prints a bearer token the API accepts, signed as the configuration it would start with says:
 * JWT_SECRET (with JWT_ISSUER, JWT_AUDIENCE and JWT_ROLES_CLAIM), or, with no JWT settings outside
 * production, the development secret `npm start` uses.
 *
 *   npm run token -- --sub alice --role customer [--role support] [--expires 1h]
 */
import { parseArgs } from 'node:util';
import { mintTokenFor } from '../src/app/authenticator.ts';
import { loadConfigOrExit } from '../src/app/config.ts';

const USAGE = `usage: npm run token -- --sub <subject> [--role <role>]... [--expires <time span, e.g. 30m, 1h, 7d>]
  Prints a token for the configured JWT_SECRET (or the development secret when none is set outside production).`;

function stop(message: string): never {
  process.stderr.write(`${message}\n`);
  process.exit(2);
}

let args;
try {
  args = parseArgs({
    options: {
      sub: { type: 'string' },
      role: { type: 'string', multiple: true, default: [] },
      expires: { type: 'string', default: '1h' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  }).values;
} catch (error) {
  stop(`${error instanceof Error ? error.message : String(error)}\n${USAGE}`);
}
if (args.help) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}
const subject = args.sub?.trim();
if (!subject) stop(`--sub is required: whose token it is\n${USAGE}`);

const config = loadConfigOrExit();

try {
  const token = await mintTokenFor(config.auth, { subject, roles: args.role, expiresIn: args.expires });
  if (config.auth.development) process.stderr.write('(signed with the development secret: no JWT_SECRET is set)\n');
  process.stdout.write(`${token}\n`);
} catch (error) {
  const message = error instanceof Error ? error.message : String(error);
  // jose reads the time span ("Invalid time period format" when it cannot); otherwise there is no secret to sign with.
  stop(/time period/i.test(message) ? `--expires takes a time span such as 30m, 1h or 7d, got "${args.expires}"\n${USAGE}` : message);
}
