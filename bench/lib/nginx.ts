/**
 * nginx as the bench's anchor for a reverse proxy: Debian's `nginx-light` (or `nginx`), started
 * on loopback with a temporary configuration in front of one upstream, as an operator would set
 * it up for an MCP server: HTTP/1.1 with a pool of kept-alive connections to the upstream, and
 * buffering off both ways (an MCP answer may be an SSE stream). One process (`master_process
 * off`, one event loop, as the child is), no access log.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { waitUntil } from './clock.js';
import { canConnect, freePort } from './ports.js';
import { removeDir, stop, tempDir, track } from './procs.js';

/** Where Debian puts it, then the PATH. */
export function findNginx(): string | undefined {
  const dirs = ['/usr/sbin', '/usr/local/sbin', '/usr/local/nginx/sbin', ...(process.env.PATH ?? '').split(path.delimiter)];
  return dirs.map((d) => path.join(d, 'nginx')).find((p) => existsSync(p));
}

export interface Nginx {
  url: string;
  pid: number;
  close: () => Promise<void>;
}

function config(dir: string, port: number, upstreamPort: number): string {
  const temp = (name: string) => `${name}_temp_path ${path.join(dir, name)};`;
  return `daemon off;
master_process off;
worker_processes 1;
pid ${path.join(dir, 'nginx.pid')};
error_log ${path.join(dir, 'error.log')} warn;
events { worker_connections 1024; }
http {
  access_log off;
  ${['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map(temp).join('\n  ')}
  upstream mcp {
    server 127.0.0.1:${upstreamPort};
    keepalive 64;
  }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://mcp;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $http_host;
      proxy_buffering off;
      proxy_request_buffering off;
      proxy_read_timeout 1h;
    }
  }
}
`;
}

/** nginx in front of `127.0.0.1:<upstreamPort>`, listening; `path` is the MCP endpoint's path. */
export async function startNginx(binary: string, upstreamPort: number, endpointPath: string): Promise<Nginx> {
  const dir = await tempDir('nginx');
  for (const d of ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) await mkdir(path.join(dir, d));
  const port = await freePort();
  const conf = path.join(dir, 'nginx.conf');
  await writeFile(conf, config(dir, port, upstreamPort));
  const child: ChildProcess = track(spawn(binary, ['-p', dir, '-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] }));
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  try {
    await waitUntil(async () => child.exitCode !== null || (await canConnect(port)), 10_000, 'nginx to listen', 20);
    if (child.exitCode !== null) throw new Error(`bench: nginx exited ${child.exitCode}: ${stderr.trim().split('\n').slice(-2).join(' | ')}`);
  } catch (err) {
    await stop(child);
    await removeDir(dir);
    throw err;
  }
  return {
    url: `http://127.0.0.1:${port}${endpointPath}`,
    pid: child.pid!,
    close: async () => {
      await stop(child);
      await removeDir(dir);
    },
  };
}
