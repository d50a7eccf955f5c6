/**
 * DNS-rebinding protection of the API (api/host-check.ts), against the real `start`: a
 * `Host` that is not allowed gets 403 with the error JSON on every kind of request (REST, a
 * probe, the dashboard, /metrics, SSE) and on the socket.io handshake, even with a matching
 * `Origin`; the loopback names and `--allowed-hosts` pass. Bound to every interface without a
 * token, the API warns at start.
 */
import http from 'node:http';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { cleanup, startApi } from './helpers/processes.js';

afterEach(async () => {
  await cleanup();
});

/** A GET with an arbitrary `Host` (fetch will not send one): status, content type and body (unread for a 200 stream). */
function getWithHost(port: number, path: string, host: string, headers: Record<string, string> = {}): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, headers: { ...headers, host } }, (res) => {
      const type = String(res.headers['content-type'] ?? '');
      if (type.startsWith('text/event-stream')) {
        // An accepted SSE stream never ends: its status is the answer.
        res.destroy();
        return resolve({ status: res.statusCode!, type, body: '' });
      }
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode!, type, body }));
    });
    req.on('error', reject);
  });
}

const PATHS = ['/api/mcp/connections', '/livez', '/readyz', '/metrics', '/api/mcp/events', '/', '/dashboard.js'];
const HANDSHAKE = '/socket.io/?EIO=4&transport=polling';

describe('Host check', () => {
  it('refuses a rebound name everywhere, socket.io included, and accepts the loopback names and --allowed-hosts', async () => {
    const api = await startApi({ args: ['--allowed-hosts', 'monitor.example'] });
    const evil = `attacker.example:${api.port}`;
    for (const p of PATHS) {
      const r = await getWithHost(api.port, p, evil);
      expect({ path: p, status: r.status }).toEqual({ path: p, status: 403 });
      expect(JSON.parse(r.body).error).toMatchObject({ code: 'forbidden_host', message: expect.stringMatching(/attacker\.example.*not allowed/) });
    }
    // After a rebind, Origin and Host agree: the origin check alone let this through.
    const sio = await getWithHost(api.port, HANDSHAKE, evil, { origin: `http://${evil}` });
    expect(sio.status).toBe(403);
    expect(JSON.parse(sio.body).message).toMatch(/attacker\.example.*not allowed/);

    for (const good of [`localhost:${api.port}`, `127.0.0.1:${api.port}`, `[::1]:${api.port}`, `monitor.example:${api.port}`, 'MONITOR.example:8443']) {
      for (const p of PATHS) {
        const r = await getWithHost(api.port, p, good);
        // /readyz may say 503 on a loaded machine (a late heartbeat): still not refused.
        const status = p === '/readyz' && r.status === 503 ? 200 : r.status;
        expect({ host: good, path: p, status }).toEqual({ host: good, path: p, status: 200 });
      }
      const hs = await getWithHost(api.port, HANDSHAKE, good, { origin: `http://${good}` });
      expect({ host: good, status: hs.status }).toEqual({ host: good, status: 200 });
    }
    // No Host at all (HTTP/1.0) is no allowed name either.
    const bare = await new Promise<string>((resolve, reject) => {
      const s = net.connect(api.port, '127.0.0.1');
      let out = '';
      s.setEncoding('utf8');
      s.on('data', (d: string) => (out += d));
      s.on('end', () => resolve(out));
      s.on('error', reject);
      s.write('GET /livez HTTP/1.0\r\n\r\n');
    });
    expect(bare).toMatch(/^HTTP\/1\.1 403 /);
  });

  it('warns at start when bound to every interface without a token, and then does not check Host', async () => {
    const api = await startApi({ args: ['--host', '0.0.0.0'] });
    const token = await api.proc.waitForLog((l) => l.level === 40 && /without a token/.test(String(l.msg)));
    expect(token.msg).toMatch(/0\.0\.0\.0/);
    expect(token.msg).toMatch(/write routes \(restart, stop, start, ending sessions\) are open to them and to every local user/);
    await api.proc.waitForLog((l) => l.level === 40 && /Host header not checked/.test(String(l.msg)));
    expect((await getWithHost(api.port, '/livez', `attacker.example:${api.port}`)).status).toBe(200);
  });

  it('does not warn with a token and --allowed-hosts on every interface, and checks Host against them', async () => {
    const api = await startApi({ args: ['--host', '0.0.0.0', '--allowed-hosts', 'monitor.example', '--token', 's3cret'] });
    expect((await getWithHost(api.port, '/livez', `attacker.example:${api.port}`)).status).toBe(403);
    expect((await getWithHost(api.port, '/livez', `monitor.example:${api.port}`)).status).toBe(200);
    expect(api.proc.logs().filter((l) => l.level === 40 && /without a token|write routes|Host header not checked/.test(String(l.msg)))).toEqual([]);
  });
});
