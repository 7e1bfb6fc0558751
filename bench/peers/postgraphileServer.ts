/**
 * PostGraphile 5 (Amber preset, grafserv's Node adapter on node:http) serving one schema that holds
 * a plain events table, as a user who picked PostGraphile instead of this product would run it:
 * the generated CRUD mutations and connections, no plugins. Started by `startPostGraphile` in a
 * child process of its own, like the product's API; prints its URL on stdout when it listens.
 *
 *   node bench/peers/postgraphileServer.ts '{"databaseUrl":"postgres://…","schema":"…","poolSize":10}'
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { importPeer } from './install.ts';

const { databaseUrl, schema, poolSize } = JSON.parse(process.argv[2] ?? '{}') as { databaseUrl: string; schema: string; poolSize: number };

const { postgraphile } = await importPeer('postgraphile');
const { PostGraphileAmberPreset } = await importPeer('postgraphile/presets/amber');
const { makePgService } = await importPeer('postgraphile/adaptors/pg');
const { grafserv } = await importPeer('postgraphile/grafserv/node');

const pgl = postgraphile({
  extends: [PostGraphileAmberPreset],
  // The same pool size as the product's API (DB_POOL_SIZE, 10 by default).
  pgServices: [makePgService({ connectionString: databaseUrl, schemas: [schema], poolConfig: { max: poolSize } })],
  grafserv: { graphqlPath: '/graphql', graphiql: false, watch: false, websockets: false },
  grafast: { explain: false },
});
const serv = pgl.createServ(grafserv);
const server = http.createServer();
await serv.addTo(server, false);
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as AddressInfo;
  process.stdout.write(`PostGraphile: http://127.0.0.1:${port}/graphql\n`);
});

const stop = async () => {
  server.close();
  server.closeAllConnections();
  await pgl.release();
  process.exit(0);
};
process.once('SIGTERM', () => void stop());
process.once('SIGINT', () => void stop());
