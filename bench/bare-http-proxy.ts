/**
 * The Node floor of the backends section: the least an HTTP reverse proxy written on `node:http`
 * does, as `--upstream` is. Each request goes to the upstream on a kept-alive connection
 * (`http.Agent`), the request and the answer piped as they come, the headers as they were,
 * nothing read, checked or recorded. What `--upstream` costs beyond it is the product's own
 * work; what it costs beyond nginx is the price of `node:http` itself.
 * Usage: node bare-http-proxy.js LISTEN_PORT UPSTREAM_PORT
 */
import http from 'node:http';

const [listenPort, upstreamPort] = process.argv.slice(2).map(Number);
if (!listenPort || !upstreamPort) throw new Error('usage: bare-http-proxy LISTEN_PORT UPSTREAM_PORT');
const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
http.createServer((req, res) => {
  const up = http.request({ agent, host: '127.0.0.1', port: upstreamPort, method: req.method, path: req.url, headers: req.headers }, (answer) => {
    res.writeHead(answer.statusCode ?? 502, answer.headers);
    answer.pipe(res);
  });
  up.on('error', () => res.destroy());
  res.on('close', () => up.destroy());
  req.pipe(up);
}).listen(listenPort, '127.0.0.1');
