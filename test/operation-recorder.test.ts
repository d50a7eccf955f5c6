/** OperationRecorder, told of FinishedRequests: counts, errors, buckets, the cap of 100 entries, carry-over. */
import { describe, expect, it } from 'vitest';
import { MAX_OPERATIONS, OPERATION_BOUNDS } from '../shared/operations.js';
import type { CallOutcome } from '../server/operations/finished-request.js';
import { OperationRecorder, errorTypeOf } from '../server/operations/operation-recorder.js';

/** Tells `r` of one request as an endpoint would (`answered` as the endpoints judge it by default). */
function record(r: OperationRecorder, method: string, name: string | null, seconds: number, outcome: CallOutcome, answered = outcome === 'ok'): void {
  r.finished({ endedAtMs: Date.now(), seconds, sessionId: null, era: 'legacy', client: null, method, name, outcome, errorCode: outcome === 'error' ? -32603 : null, answered });
}

describe('OperationRecorder', () => {
  it('counts and times by method, and by name for tools/call and prompts/get only', () => {
    const r = new OperationRecorder();
    record(r, 'tools/call', 'echo', 0.004, 'ok');
    record(r, 'tools/call', 'echo', 0.3, 'error');
    record(r, 'tools/call', 'echo', 0.02, 'rejected');
    record(r, 'tools/list', 'ignored', 0.001, 'ok');
    record(r, 'prompts/get', 'p', 12, 'ok');
    const ops = r.operations();
    // A success and a caller's fault are one entry (errorType null, no errors); a failure is an
    // entry of its error type, all of whose requests are errors.
    const echo = ops.find((o) => o.name === 'echo' && o.errorType === null)!;
    expect(echo).toMatchObject({ method: 'tools/call', count: 2, errors: 0 });
    expect(echo.durationSeconds.sum).toBeCloseTo(0.024);
    // 0.004 under 0.01; 0.02 on a bound falls in that bound's bucket.
    expect(echo.durationSeconds.buckets).toEqual([1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2]);
    const failed = ops.find((o) => o.name === 'echo' && o.errorType === '-32603')!;
    expect(failed).toMatchObject({ method: 'tools/call', count: 1, errors: 1 });
    expect(failed.durationSeconds.buckets).toEqual([0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1]);
    expect(ops.find((o) => o.method === 'tools/list')).toMatchObject({ name: null, count: 1, errors: 0 });
    // 12 s: past the old last bound (10 s), under the conventions' 30 s.
    expect(ops.find((o) => o.method === 'prompts/get')!.durationSeconds.buckets).toEqual(OPERATION_BOUNDS.map((b) => (b >= 30 ? 1 : 0)));
  });

  it('never holds more than 100 entries, whatever names and methods clients invent', () => {
    const r = new OperationRecorder();
    for (let i = 0; i < 500; i += 1) record(r, 'tools/call', `tool-${i}`, 0.001, 'ok');
    for (let i = 0; i < 500; i += 1) record(r, `x/${i}`, null, 0.001, 'ok');
    for (let i = 0; i < 50; i += 1) record(r, 'prompts/get', `p-${i}`, 0.001, 'ok');
    const ops = r.operations();
    expect(ops.length).toBeLessThanOrEqual(MAX_OPERATIONS);
    const total = ops.reduce((n, o) => n + o.count, 0);
    expect(total).toBe(1050);
    expect(ops.find((o) => o.method === 'tools/call' && o.name === '_OTHER')!.count).toBeGreaterThan(400);
    expect(ops.find((o) => o.method === '_OTHER' && o.name === null)!.count).toBe(500);
    expect(ops.find((o) => o.method === 'prompts/get' && o.name === '_OTHER')!.count).toBe(50);
  });

  it('gives a name or method an entry only once the server answered it with a result', () => {
    const r = new OperationRecorder();
    for (let i = 0; i < 500; i += 1) record(r, 'tools/call', `junk-${i}`, 0.001, i % 2 ? 'rejected' : 'error');
    for (let i = 0; i < 50; i += 1) record(r, 'prompts/get', `p-${i}`, 0.001, 'rejected');
    for (let i = 0; i < 50; i += 1) record(r, `x/${i}`, null, 0.001, 'rejected');
    // A 2xx status without a result message shows nothing about the name.
    record(r, 'tools/call', 'unseen', 0.001, 'ok', false);
    record(r, 'tools/list', null, 0.001, 'rejected');
    record(r, 'tools/call', 'echo', 0.001, 'ok');
    record(r, 'tools/call', 'echo', 0.001, 'error');
    record(r, 'prompts/get', 'greet', 0.001, 'ok');
    record(r, 'custom/method', null, 0.001, 'ok');
    record(r, '', null, 0.001, 'rejected');
    const got = r.operations().map((o) => [o.method, o.name, o.errorType, o.count, o.errors]);
    expect(got).toEqual([
      ['tools/call', '_OTHER', '-32603', 250, 250],
      ['tools/call', '_OTHER', null, 251, 0],
      ['prompts/get', '_OTHER', null, 50, 0],
      ['_OTHER', null, null, 51, 0],
      ['tools/list', null, null, 1, 0],
      ['tools/call', 'echo', null, 1, 0],
      ['tools/call', 'echo', '-32603', 1, 1],
      ['prompts/get', 'greet', null, 1, 0],
      ['custom/method', null, null, 1, 0],
    ]);
  });

  it('asks the catalog hook first, and the answers only while it knows no catalog', () => {
    const catalog = new Set(['listed']);
    let known = false;
    const r = new OperationRecorder({ knownName: (method, name) => (known ? method === 'tools/call' && catalog.has(name) : undefined) });
    record(r, 'tools/call', 'answered', 0.001, 'ok');
    known = true;
    record(r, 'tools/call', 'listed', 0.001, 'error');
    record(r, 'tools/call', 'not-listed', 0.001, 'ok');
    record(r, 'tools/call', 'answered', 0.001, 'ok');
    expect(r.operations().map((o) => [o.name, o.count])).toEqual([['answered', 1], ['listed', 1], ['_OTHER', 2]]);
  });

  it('reads a carried-over _other as _OTHER, merged with an _OTHER of the same method', () => {
    const r = new OperationRecorder();
    const h = (n: number) => ({ sum: n, buckets: OPERATION_BOUNDS.map(() => n) });
    r.carryOver({
      operations: [
        { method: 'tools/call', name: '_other', count: 3, errors: 1, durationSeconds: h(3) },
        { method: 'tools/call', name: '_OTHER', count: 2, errors: 0, durationSeconds: h(2) },
        { method: '_other', name: null, count: 4, errors: 0, durationSeconds: h(4) },
      ],
    });
    record(r, 'tools/call', 'invented', 0.001, 'rejected');
    const ops = r.operations();
    expect(ops.map((o) => [o.method, o.name, o.count, o.errors])).toEqual([['tools/call', '_OTHER', 6, 1], ['_OTHER', null, 4, 0]]);
    expect(ops[0]!.durationSeconds.buckets).toEqual(OPERATION_BOUNDS.map(() => 6));
  });

  it('bounds what a client wrote: no control characters, no megabyte names', () => {
    const r = new OperationRecorder();
    record(r, `tools/call`, `evil\u001b[2J${'n'.repeat(10_000)}`, 0.001, 'ok');
    record(r, `m\u0007${'x'.repeat(1000)}`, null, 0.001, 'ok');
    const [a, b] = r.operations();
    expect(a!.name).toMatch(/^evil\[2Jn+$/);
    expect(a!.name!.length).toBe(128);
    expect(b!.method.length).toBe(64);
    expect(b!.method).not.toMatch(/\u0007/);
  });

  it('carries counts over from a previous writer and goes on from them', () => {
    const a = new OperationRecorder();
    record(a, 'tools/call', 'echo', 0.01, 'ok');
    a.sessionEnded(5);
    const b = new OperationRecorder();
    b.carryOver({ operations: a.operations(), sessionDurations: a.sessionDurations() });
    // A carried-over name is known: its errors count under it, not under _OTHER.
    record(b, 'tools/call', 'echo', 0.01, 'error');
    b.sessionEnded(100);
    expect(b.operations().map((o) => [o.name, o.errorType, o.count, o.errors])).toEqual([['echo', null, 1, 0], ['echo', '-32603', 1, 1]]);
    expect(b.sessionDurations()).toMatchObject({ count: 2, sum: 105, buckets: [0, 1, 1, 2, 2, 2, 2, 2] });
    // Copies: changing what was handed out changes nothing inside.
    b.operations()[0]!.count = 99;
    expect(b.operations()[0]!.count).toBe(1);
  });

  it('names what made a request fail as the OpenTelemetry conventions do: tool_error, the JSON-RPC code, _OTHER; never a caller fault', () => {
    expect(errorTypeOf({ outcome: 'tool_error', errorCode: null })).toBe('tool_error');
    expect(errorTypeOf({ outcome: 'error', errorCode: -32603 })).toBe('-32603');
    expect(errorTypeOf({ outcome: 'error', errorCode: 42 })).toBe('42');
    // A failure without a JSON-RPC code (a 502 of ours with no body, a hostile non-integer code).
    expect(errorTypeOf({ outcome: 'error', errorCode: null })).toBe('_OTHER');
    expect(errorTypeOf({ outcome: 'rejected', errorCode: -32602 })).toBeNull();
    expect(errorTypeOf({ outcome: 'ok', errorCode: null })).toBeNull();

    const r = new OperationRecorder();
    const at = (outcome: CallOutcome, errorCode: number | null) =>
      r.finished({ endedAtMs: Date.now(), seconds: 0.001, sessionId: null, era: 'modern', client: null, method: 'tools/call', name: 'echo', outcome, errorCode, answered: outcome === 'ok' || outcome === 'tool_error' });
    at('ok', null);
    at('tool_error', null);
    at('tool_error', null);
    at('error', -32001);
    at('error', null);
    at('rejected', -32602);
    expect(r.operations().map((o) => [o.errorType, o.count, o.errors])).toEqual([[null, 2, 0], ['tool_error', 2, 2], ['-32001', 1, 1], ['_OTHER', 1, 1]]);
  });

  it('puts new error codes under _OTHER near the cap, and never passes 100 entries however many codes a server invents', () => {
    const r = new OperationRecorder();
    for (let i = 0; i < 80; i += 1) record(r, 'tools/call', `tool-${i}`, 0.001, 'ok');
    for (let i = 0; i < 500; i += 1) r.finished({ endedAtMs: Date.now(), seconds: 0.001, sessionId: null, era: 'legacy', client: null, method: 'tools/call', name: 'tool-0', outcome: 'error', errorCode: -40_000 - i, answered: false });
    for (let i = 0; i < 500; i += 1) record(r, `x/${i}`, null, 0.001, 'error');
    const ops = r.operations();
    expect(ops.length).toBeLessThanOrEqual(MAX_OPERATIONS);
    expect(ops.reduce((n, o) => n + o.count, 0)).toBe(1080);
    expect(ops.reduce((n, o) => n + o.errors, 0)).toBe(1000);
    // The first codes have entries of their own; past the cap, the rest go under error type
    // `_OTHER` (and, the name having no such entry yet, under the method's `_OTHER` name).
    const codes = ops.filter((o) => o.method === 'tools/call' && o.errorType !== null);
    expect(codes.reduce((n, o) => n + o.count, 0)).toBe(500);
    expect(codes.filter((o) => o.name === 'tool-0' && o.errorType !== '_OTHER').length).toBeGreaterThan(0);
    expect(codes.find((o) => o.errorType === '_OTHER')!.count).toBeGreaterThan(400);
    expect(ops.find((o) => o.method === '_OTHER' && o.errorType !== null)!.count).toBe(500);
    for (const o of ops) expect(o.errors).toBe(o.errorType === null ? 0 : o.count);
  });

  it('keeps a carried-over entry from before errorType (its errors included) apart from the new error entries', () => {
    const r = new OperationRecorder();
    r.carryOver({ operations: [{ method: 'tools/call', name: 'echo', count: 5, errors: 2, durationSeconds: { sum: 1, buckets: OPERATION_BOUNDS.map(() => 5) } }] });
    record(r, 'tools/call', 'echo', 0.001, 'ok');
    record(r, 'tools/call', 'echo', 0.001, 'error');
    expect(r.operations().map((o) => [o.name, o.errorType, o.count, o.errors])).toEqual([['echo', null, 6, 2], ['echo', '-32603', 1, 1]]);
  });
});
