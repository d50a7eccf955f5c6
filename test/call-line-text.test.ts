/**
 * The calls journal's line text (server/publish/call-line-text.ts) against the line object as
 * the contract defines it, serialized by shared/calls.ts: the same text for hostile strings,
 * every outcome, odd durations and error codes, times of every shape; and the byte queue the
 * journal keeps its lines in (server/publish/line-queue.ts).
 */
import { describe, expect, it } from 'vitest';
import { CALL_CLIENT_MAX, CALL_METHOD_MAX, CALL_NAME_MAX, CALL_SESSION_ID_MAX, parseCallLine, serializeCallLine, type CallLine } from '../shared/calls.js';
import type { FinishedRequest } from '../server/operations/finished-request.js';
import { CallLineText } from '../server/publish/call-line-text.js';
import { LineQueue } from '../server/publish/line-queue.js';
import { boundText } from '../server/sessions/client-fields.js';

/** The line of `r` as an object, field by field as docs/state-directory.md describes it. */
function lineOf(r: FinishedRequest, seq: number, pid: number): CallLine {
  return {
    ts: new Date(r.endedAtMs).toISOString(),
    seq,
    pid,
    sessionId: r.sessionId === null ? null : (boundText(r.sessionId, CALL_SESSION_ID_MAX) ?? null),
    era: r.era,
    client: r.client === null ? null : (boundText(r.client, CALL_CLIENT_MAX) ?? null),
    method: boundText(r.method, CALL_METHOD_MAX) ?? '',
    name: r.name === null ? null : (boundText(r.name, CALL_NAME_MAX) ?? null),
    durationMs: Number.isFinite(r.seconds) && r.seconds > 0 ? Math.round(r.seconds * 1e6) / 1e3 : 0,
    outcome: r.outcome,
    errorCode: Number.isSafeInteger(r.errorCode) ? r.errorCode : null,
  };
}

/** A small deterministic generator, so that a failure can be run again. */
function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

const NASTY = ['', '"', '\\', '\u0000', '\u001b[2J', '\u009b', '\u2028', '\u2029', '\ud800', '\udc00', '😀', 'é', '</script>', '\n', '\r', '\t', 'x'.repeat(300)];

function stringFrom(next: () => number): string {
  let s = '';
  const parts = Math.floor(next() * 6);
  for (let i = 0; i < parts; i++) s += next() < 0.5 ? NASTY[Math.floor(next() * NASTY.length)] : String.fromCharCode(Math.floor(next() * 0x10000));
  return s;
}

describe('the calls journal line text', () => {
  it('is the serialized line object for hostile strings, every outcome and era, odd durations and codes', () => {
    const next = random(20261206);
    const pick = <T,>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)]!;
    const text = new CallLineText(4242);
    // Few distinct values, as clients send them, so that the remembered answers are used as well.
    const clients = [null, 'claude-desktop', ...Array.from({ length: 4 }, () => stringFrom(next))];
    const methods = ['tools/call', 'resources/read', '', ...Array.from({ length: 4 }, () => stringFrom(next))];
    const names = [null, 'echo', ...Array.from({ length: 4 }, () => stringFrom(next))];
    const sessions = [null, 'sess-1', ...Array.from({ length: 300 }, () => stringFrom(next))];
    const seconds = [0, -1, 1e-9, 0.0123456, 2, 1e9, Number.NaN, Number.POSITIVE_INFINITY, 5e-7];
    const codes = [null, -32602, -32603, 0, 1.5, Number.NaN, 2 ** 60];
    let at = Date.parse('2026-12-06T23:59:58.990Z');
    for (let seq = 1; seq <= 5000; seq++) {
      at += Math.floor(next() * 7);
      const r: FinishedRequest = {
        endedAtMs: at,
        seconds: pick(seconds),
        sessionId: pick(sessions),
        era: pick(['legacy', 'modern'] as const),
        client: pick(clients),
        method: pick(methods),
        name: pick(names),
        outcome: pick(['ok', 'error', 'tool_error', 'rejected'] as const),
        errorCode: pick(codes),
        answered: next() < 0.5,
      };
      const line = text.text(r, seq);
      expect(line).toBe(serializeCallLine(lineOf(r, seq, 4242)));
      expect(parseCallLine(line.slice(0, -1))).toEqual(lineOf(r, seq, 4242));
    }
  });

  it('writes times of every shape as toISOString does', () => {
    const text = new CallLineText(1);
    const r: Omit<FinishedRequest, 'endedAtMs'> = { seconds: 0.001, sessionId: null, era: 'legacy', client: null, method: 'ping', name: null, outcome: 'ok', errorCode: null, answered: true };
    for (const ms of [0, 1, 9, 10, 99, 100, 999, 1000, 1001, Date.parse('2026-12-06T18:00:00.050Z'), Date.parse('2026-12-06T18:00:00.050Z') + 0.7, 253402300799999, 253402300800000, Date.parse('1969-12-31T23:59:59.999Z')]) {
      const ts = (JSON.parse(text.text({ ...r, endedAtMs: ms }, 1)) as CallLine).ts;
      expect(ts, String(ms)).toBe(new Date(ms).toISOString());
    }
  });
});

describe('LineQueue', () => {
  it('gives back the bytes of the lines queued, in order, in batches of any size across its chunks', () => {
    const next = random(7);
    const q = new LineQueue();
    const queued: string[] = [];
    let taken = '';
    const takenSizes: number[] = [];
    for (let round = 0; round < 200; round++) {
      const adds = Math.floor(next() * 400);
      for (let i = 0; i < adds; i++) {
        // Mostly short lines, some far longer than a chunk, some of multi-byte characters.
        const long = next() < 0.01;
        const t = `${long ? 'é'.repeat(40_000) : stringFrom(next)}\n`;
        q.push(t);
        queued.push(t);
      }
      const batch = q.take(Math.floor(next() * 500));
      taken += batch.data.toString('utf8');
      takenSizes.push(...batch.sizes);
      expect(batch.data.length).toBe(batch.sizes.reduce((a, b) => a + b, 0));
    }
    const rest = q.take(Number.MAX_SAFE_INTEGER);
    taken += rest.data.toString('utf8');
    takenSizes.push(...rest.sizes);
    expect(q.length).toBe(0);
    expect(taken).toBe(Buffer.from(queued.join('')).toString('utf8'));
    expect(takenSizes).toEqual(queued.map((t) => Buffer.byteLength(t)));
  });

  it('counts its lines, takes none from an empty queue, and forgets everything on clear', () => {
    const q = new LineQueue();
    expect(q.take(10)).toEqual({ data: Buffer.alloc(0), sizes: [] });
    q.push('a\n');
    q.push('bb\n');
    expect(q.length).toBe(2);
    expect(q.take(1).data.toString()).toBe('a\n');
    q.clear();
    expect(q.length).toBe(0);
    q.push('c\n');
    expect(q.take(5).data.toString()).toBe('c\n');
  });
});
