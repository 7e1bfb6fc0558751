/**
 * The floor for the memory workload: a bare `ws` server on node:http that speaks just enough
 * graphql-transport-ws (ack, keep the subscribe message) to hold the same idle subscriptions as
 * the API, with no GraphQL, no feed and no database. Prints `listening <port>` on stdout.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';

const server = http.createServer((_req, res) => res.end());
const wss = new WebSocketServer({ server, path: '/graphql' });
const subscriptions = new Map<object, unknown>();
wss.on('connection', (socket) => {
  socket.on('message', (data: Buffer) => {
    const message = JSON.parse(data.toString('utf8')) as { type: string; id?: string; payload?: unknown };
    if (message.type === 'connection_init') socket.send(JSON.stringify({ type: 'connection_ack' }));
    else if (message.type === 'subscribe') subscriptions.set(socket, message.payload);
    else if (message.type === 'ping') socket.send(JSON.stringify({ type: 'pong' }));
  });
  socket.on('close', () => subscriptions.delete(socket));
});
server.listen(0, '127.0.0.1', () => process.stdout.write(`listening ${(server.address() as AddressInfo).port}\n`));
process.on('SIGTERM', () => {
  for (const client of wss.clients) client.terminate();
  server.close(() => process.exit(0));
});
