/**
 * The other floor of the backends section: a TCP relay, no HTTP at all. Each client connection
 * gets one to the upstream, the bytes piped both ways. It cannot check, route or record
 * anything; it shows what moving the bytes through a Node process costs, next to nginx (which
 * parses HTTP and still costs about this) and the bare `node:http` proxy.
 * Usage: node bare-tcp-relay.js LISTEN_PORT UPSTREAM_PORT
 */
import net from 'node:net';

const [listenPort, upstreamPort] = process.argv.slice(2).map(Number);
if (!listenPort || !upstreamPort) throw new Error('usage: bare-tcp-relay LISTEN_PORT UPSTREAM_PORT');
net.createServer((client) => {
  const upstream = net.connect(upstreamPort, '127.0.0.1');
  client.pipe(upstream);
  upstream.pipe(client);
  client.on('error', () => upstream.destroy());
  upstream.on('error', () => client.destroy());
  client.on('close', () => upstream.destroy());
  upstream.on('close', () => client.destroy());
}).listen(listenPort, '127.0.0.1');
