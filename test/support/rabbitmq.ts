import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { access, open } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import net from 'node:net';
import { promisify } from 'node:util';
import { connect, type ConsumeMessage } from 'amqplib';
import { until } from './until.ts';

const run = promisify(execFile);

/**
 * The broker the specs use: the machine's own RabbitMQ on 127.0.0.1:5672 (guest/guest, which
 * RabbitMQ lets in from loopback only). Each spec file gets a virtual host of its own
 * (`createTestVhost`), as it gets a database of its own, so that closing "all" connections or
 * declaring exchanges in one file never touches another running beside it.
 */
export const BROKER = { host: '127.0.0.1', port: 5672, user: 'guest', password: 'guest' } as const;

const RABBITMQ_SERVER = '/usr/sbin/rabbitmq-server';
const STARTUP_TIMEOUT_MS = 180_000;

function answers(host: string, port: number, timeoutMs = 1_000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

async function exists(file: string): Promise<boolean> {
  return access(file).then(
    () => true,
    () => false,
  );
}

/**
 * Makes sure a RabbitMQ answers on 127.0.0.1:5672 before the int and e2e suites run (called from
 * globalSetup.ts; a connect on loopback when it is up). When nothing answers, starts Debian's
 * rabbitmq-server, installing the package first when it is missing and we run as root (as
 * scripts/ensureChromium.sh does for Chromium), and waits until it accepts AMQP connections. The
 * specs that need a broker are never skipped: without one this fails, saying what to install.
 */
export async function ensureRabbitMq(log: (line: string) => void = (line) => process.stderr.write(`${line}\n`)): Promise<void> {
  if (await answers(BROKER.host, BROKER.port)) return;
  if (!(await exists(RABBITMQ_SERVER))) {
    const root = process.getuid?.() === 0;
    if (!root || !(await exists('/usr/bin/apt-get'))) {
      throw new Error(
        `No RabbitMQ answers on ${BROKER.host}:${BROKER.port} and ${RABBITMQ_SERVER} is missing. Install and start one, e.g. on Debian or Ubuntu: sudo apt-get install rabbitmq-server (it starts on 5672, guest/guest from localhost).`,
      );
    }
    log('rabbitmq: no broker on 127.0.0.1:5672 and rabbitmq-server is missing; installing Debian\'s rabbitmq-server package');
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    await runToExit('apt-get', ['update', '-qq'], env);
    await runToExit('apt-get', ['install', '-y', '-qq', 'rabbitmq-server'], env);
  }
  // The package may have started it already (where the init system allowed).
  if (!(await answers(BROKER.host, BROKER.port))) {
    log('rabbitmq: starting rabbitmq-server -detached (it keeps running after the tests, for the next run)');
    // As root, Debian's wrapper runs the broker as the rabbitmq user.
    await runToExit(RABBITMQ_SERVER, ['-detached'], process.env);
  }
  await until(acceptsAmqp, `rabbitmq-server to accept AMQP connections on ${BROKER.host}:${BROKER.port} (see ${SETUP_LOG} and /var/log/rabbitmq)`, STARTUP_TIMEOUT_MS);
}

/** Where the commands that install and start the broker write their output. */
const SETUP_LOG = path.join(os.tmpdir(), 'rabbitmq-test-setup.log');

/**
 * Runs a command until it exits, its output appended to SETUP_LOG. Not through pipes, nor our own
 * stdout: the daemon it starts (the broker, or the service apt's post-install script starts) keeps
 * the descriptors it inherited, and a pipe it holds would never close (nor would a `| tee` of ours).
 */
async function runToExit(command: string, args: readonly string[], env: NodeJS.ProcessEnv): Promise<void> {
  const output = await open(SETUP_LOG, 'a');
  try {
    await new Promise<void>((resolve, reject) => {
      const child = spawn(command, [...args], { env, stdio: ['ignore', output.fd, output.fd] });
      child.once('error', reject);
      child.once('exit', (code, signal) => (code === 0 ? resolve() : reject(new Error(`${command} ${args.join(' ')} exited with ${code ?? signal}; see ${SETUP_LOG}`))));
    });
  } finally {
    await output.close();
  }
}

async function acceptsAmqp(): Promise<boolean> {
  if (!(await answers(BROKER.host, BROKER.port))) return false;
  try {
    const connection = await connect(brokerUrl('/'), { timeout: 2_000 });
    await connection.close();
    return true;
  } catch {
    return false;
  }
}

/** An AMQP URL for `vhost` on the test broker. */
export function brokerUrl(vhost: string): string {
  return `amqp://${BROKER.user}:${BROKER.password}@${BROKER.host}:${BROKER.port}/${encodeURIComponent(vhost)}`;
}

/** `rabbitmqctl`, as root (it reads the broker's Erlang cookie). */
export async function rabbitmqctl(...args: string[]): Promise<string> {
  const { stdout } = await run('rabbitmqctl', ['--quiet', ...args], { timeout: 60_000 });
  return stdout;
}

export type TestVhost = {
  readonly name: string;
  readonly url: string;
  /** `rabbitmqctl close_all_connections` for this virtual host only: what a broker restart does to its clients. */
  closeAllConnections(): Promise<void>;
  /** How many client connections this virtual host has. */
  connectionCount(): Promise<number>;
  /** The client properties of each connection of this virtual host (as rabbitmqctl prints them: the connection name is in there). */
  connectionProperties(): Promise<string[]>;
  /**
   * A user of this virtual host only, with a random password, and its URL: for specs that check the
   * password never shows in logs (guest's would be found in every word "guest").
   */
  addUser(): Promise<{ readonly user: string; readonly password: string; readonly url: string }>;
  drop(): Promise<void>;
};

/** A fresh virtual host for one spec file, guest allowed everything in it; `drop` deletes it with its exchanges and queues. */
export async function createTestVhost(): Promise<TestVhost> {
  const name = `test_${randomBytes(6).toString('hex')}`;
  const users: string[] = [];
  await rabbitmqctl('add_vhost', name);
  await rabbitmqctl('set_permissions', '-p', name, BROKER.user, '.*', '.*', '.*');
  return {
    name,
    url: brokerUrl(name),
    closeAllConnections: async () => {
      await rabbitmqctl('close_all_connections', '--vhost', name, '--limit', '1000', 'closed by a test');
    },
    connectionCount: async () => {
      const listed = await rabbitmqctl('list_connections', 'vhost', '--no-table-headers');
      return listed.split('\n').filter((line) => line.trim() === name).length;
    },
    connectionProperties: async () => {
      const listed = await rabbitmqctl('list_connections', 'vhost', 'client_properties', '--no-table-headers');
      return listed
        .split('\n')
        .map((line) => line.split('\t'))
        .filter(([listedVhost]) => listedVhost === name)
        .map(([, properties]) => properties ?? '');
    },
    addUser: async () => {
      const user = `${name}_${users.length + 1}`;
      const password = randomBytes(12).toString('hex');
      await rabbitmqctl('add_user', user, password);
      users.push(user);
      await rabbitmqctl('set_permissions', '-p', name, user, '.*', '.*', '.*');
      return { user, password, url: `amqp://${user}:${password}@${BROKER.host}:${BROKER.port}/${encodeURIComponent(name)}` };
    },
    drop: async () => {
      for (const user of users) await rabbitmqctl('delete_user', user);
      await rabbitmqctl('delete_vhost', name);
    },
  };
}

/**
 * A durable queue bound to `exchange` (a durable topic exchange, declared if missing) with
 * `pattern`, on a connection closed again at once: the queue outlives every connection a spec
 * closes, and is read afterwards with `readQueue`.
 */
export async function declareBoundQueue(url: string, exchange: string, pattern: string, args: Record<string, unknown> = {}): Promise<string> {
  const connection = await connect(url);
  try {
    const channel = await connection.createChannel();
    await channel.assertExchange(exchange, 'topic', { durable: true });
    const { queue } = await channel.assertQueue(`${exchange}.${pattern}.${randomBytes(3).toString('hex')}`, { durable: true, arguments: args });
    await channel.bindQueue(queue, exchange, pattern);
    return queue;
  } finally {
    await connection.close();
  }
}

/** A message as a consumer got it. */
export type ReceivedMessage = { routingKey: string; properties: ConsumeMessage['properties']; content: Buffer; redelivered: boolean };

/**
 * Everything in `queue` now, in queue order, acknowledged. Call it once every publish was
 * confirmed: the queue then holds all it will, so its message count says when the read is complete.
 */
export async function readQueue(url: string, queue: string): Promise<ReceivedMessage[]> {
  const connection = await connect(url);
  try {
    const channel = await connection.createChannel();
    const { messageCount } = await channel.checkQueue(queue);
    const received: ReceivedMessage[] = [];
    await channel.prefetch(1_000);
    const { consumerTag } = await channel.consume(queue, (message) => {
      if (!message) return;
      received.push({ routingKey: message.fields.routingKey, properties: message.properties, content: message.content, redelivered: message.fields.redelivered });
      channel.ack(message);
    });
    await until(async () => received.length >= messageCount, `${messageCount} messages from ${queue}`, 60_000);
    await channel.cancel(consumerTag);
    return received;
  } finally {
    await connection.close();
  }
}
