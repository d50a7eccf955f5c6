/**
 * `--command` flow control (see server/backends/command/bridge-flow.ts), end to end with real processes and
 * sockets: a stdio server flooding a client that never reads its GET stream is paused (its stdout
 * pipe fills) instead of being buffered by the child, and flows again once the client reads; a
 * stdio server that stops reading its stdin gets its session's POSTs refused with 503 (not 202 for
 * ever). Either way the process and the session live on, and another session still answers.
 */
import { readFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { cleanup, makeStateDir, ROOT } from './helpers/processes.js';
import { rawCall, rawSession } from './helpers/raw-mcp.js';
import { readSnap, startServer } from './helpers/server-process.js';
import { waitFor } from './helpers/wait-for.js';

afterEach(async () => {
  await cleanup();
});

const FLOOD = path.join(ROOT, 'test', 'fixtures', 'stdio-flood.mjs');
const DEAF = path.join(ROOT, 'test', 'fixtures', 'stdio-unreading.mjs');
const SESSION = (sid: string) => ({ 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-session-id': sid, 'mcp-protocol-version': '2025-06-18' });

/** Opens the session's GET stream on a raw socket that reads nothing until resumed. */
function unreadStream(url: string, sid: string): Promise<net.Socket> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const s = net.connect(Number(u.port), u.hostname, () => {
      s.pause();
      s.write(`GET ${u.pathname} HTTP/1.1\r\nHost: ${u.host}\r\nAccept: text/event-stream\r\nMcp-Session-Id: ${sid}\r\nMcp-Protocol-Version: 2025-06-18\r\n\r\n`);
      resolve(s);
    });
    s.on('error', reject);
  });
}

/** The value of `read` once two reads `ms` apart agree. */
async function settled(read: () => Promise<number>, ms = 1000): Promise<number> {
  let last = await read();
  for (;;) {
    await new Promise((r) => setTimeout(r, ms));
    const now = await read();
    if (now === last) return now;
    last = now;
  }
}

async function pidOf(stateDir: string, sid: string): Promise<number | undefined> {
  return (await readSnap(stateDir)).connections.find((c) => c.sessionId === sid)?.process?.pid;
}

describe('--command flow control', () => {
  it('pauses a flooding process while its client does not read its GET stream, and resumes it when it does', async () => {
    const M = 40_000;
    const dir = await makeStateDir();
    const { url, stateDir } = await startServer({ args: ['--command', `${process.execPath} ${FLOOD} ${dir} ${M}`] });
    const sid = await rawSession(url, 'slow-reader');
    const pid = await waitFor(() => pidOf(stateDir, sid), { what: 'the session row with its pid' });
    const taken = async () => Number(await readFile(path.join(dir, `${pid}.count`), 'utf8'));
    const stream = await unreadStream(url, sid);
    // The GET stream is open: with no request open, the flood goes to it.
    await waitFor(async () => (await readSnap(stateDir)).connections.length === 1, { what: 'the session listed' });
    await new Promise((r) => setTimeout(r, 200));
    const start = await fetch(url, { method: 'POST', headers: SESSION(sid), body: JSON.stringify({ jsonrpc: '2.0', method: 'flood' }) });
    await start.text();
    expect(start.status).toBe(202);
    const note = `${JSON.stringify({ jsonrpc: '2.0', method: 'notifications/message', params: { level: 'info', data: 'y'.repeat(1000) } })}\n`;
    const total = M * note.length;
    // Stalled: the pipe, the child's stream buffers and the sockets hold what it wrote, not the child's heap.
    // Under load the process may take a while to read `flood`: wait for its first bytes, then for the stall.
    await waitFor(async () => (await taken()) > 0, { timeout: 15_000, what: 'the flood begun' });
    const stalled = await settled(taken);
    expect(stalled).toBeGreaterThan(0);
    expect(stalled).toBeLessThan(total / 2);
    // Same process, same session, and another session of the same child answers.
    expect(await pidOf(stateDir, sid)).toBe(pid);
    const other = await rawSession(url, 'other');
    expect((await rawCall(url, other, 'ping')).body).toMatchObject({ result: {} });
    // The client reads: the flood flows to its end.
    let received = 0;
    stream.on('data', (d: Buffer) => (received += d.length));
    stream.resume();
    await waitFor(async () => (await taken()) === total, { timeout: 30_000, what: 'the whole flood written' });
    await waitFor(() => received > total, { timeout: 30_000, what: 'the whole flood received' });
    expect(await pidOf(stateDir, sid)).toBe(pid);
    stream.destroy();
  });

  it('answers 503 with Retry-After to the POSTs of a session whose process stopped reading its stdin', async () => {
    const { url, stateDir } = await startServer({ args: ['--command', `${process.execPath} ${DEAF}`] });
    const sid = await rawSession(url, 'deaf-big-posts');
    const pid = await waitFor(() => pidOf(stateDir, sid), { what: 'the session row with its pid' });
    const big = JSON.stringify({ jsonrpc: '2.0', method: 'notifications/x', params: { pad: 'z'.repeat(4 * 1024 * 1024 - 200) } });
    const answers: { status: number; retryAfter: string | null; body: any }[] = [];
    for (let i = 0; i < 8; i++) {
      const r = await fetch(url, { method: 'POST', headers: SESSION(sid), body: big });
      const text = await r.text();
      answers.push({ status: r.status, retryAfter: r.headers.get('retry-after'), body: text ? JSON.parse(text) : undefined });
    }
    const statuses = answers.map((a) => a.status);
    const first503 = statuses.indexOf(503);
    // 8 MiB are taken (two or three 4 MiB messages), then nothing more while it reads nothing.
    expect(first503).toBeGreaterThanOrEqual(2);
    expect(first503).toBeLessThanOrEqual(3);
    expect(statuses.slice(0, first503)).toEqual(Array(first503).fill(202));
    expect(statuses.slice(first503)).toEqual(Array(8 - first503).fill(503));
    expect(answers[first503]).toMatchObject({ retryAfter: expect.stringMatching(/^\d+$/), body: { jsonrpc: '2.0', error: { code: -32000, message: expect.stringMatching(/not reading its input/) } } });
    // The session and its process live on; another session of the same child answers.
    const snap = await readSnap(stateDir);
    expect(snap.connections.find((c) => c.sessionId === sid)?.process?.pid).toBe(pid);
    const other = await rawSession(url, 'other');
    expect((await rawCall(url, other, 'ping')).body).toMatchObject({ result: {} });
  });
});
