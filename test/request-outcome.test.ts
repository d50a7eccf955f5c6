/** requestOutcome: what became of a request, from the server's response or from our HTTP answer (docs/state-directory.md, calls.jsonl: `outcome`, `errorCode`). */
import { describe, expect, it } from 'vitest';
import { requestOutcome } from '../server/operations/request-outcome.js';

const error = (code: unknown) => ({ jsonrpc: '2.0', id: 1, error: { code, message: 'x' } });
const text = (t: string) => ({ jsonrpc: '2.0', id: 1, result: { isError: true, content: [{ type: 'text', text: t }] } });

describe('requestOutcome from a response message', () => {
  it.each<[string, unknown, string, number | null]>([
    ['a result', { jsonrpc: '2.0', id: 1, result: { content: [] } }, 'ok', null],
    ['an empty result', { jsonrpc: '2.0', id: 1, result: {} }, 'ok', null],
    ['-32603 (internal error)', error(-32603), 'error', -32603],
    ['-32000 (a server-defined error)', error(-32000), 'error', -32000],
    ...[-32700, -32600, -32601, -32602, -32002].map((code): [string, unknown, string, number | null] => [`${code} (the caller's fault)`, error(code), 'rejected', code]),
    ['a tool result with isError', text('boom'), 'tool_error', null],
    ['an invalid-arguments tool result', text('Input validation error: Invalid arguments for tool echo'), 'rejected', null],
    ['an SDK v1 invalid-arguments tool result', text('MCP error -32602: Input validation error: Invalid arguments for tool echo'), 'rejected', null],
    ['an SDK v1 unknown-tool result', text('MCP error -32602: Tool made-up not found'), 'rejected', null],
    ['an SDK v1 wrapped server error', text('MCP error -32603: boom'), 'tool_error', null],
    ['a caller-fault text not at the start', text('boom: MCP error -32602: x'), 'tool_error', null],
    ['an error whose code is a string', error('-32603'), 'error', null],
    ['an error whose code is a fraction', error(1.5), 'error', null],
    ['an error without a code', { jsonrpc: '2.0', id: 1, error: null }, 'error', null],
  ])('%s is %s with errorCode %s', (_what, message, outcome, errorCode) => {
    expect(requestOutcome(message)).toEqual({ outcome, errorCode });
  });

  it('a message decides, whatever the HTTP status', () => {
    expect(requestOutcome(error(-32602), 500, -32603)).toEqual({ outcome: 'rejected', errorCode: -32602 });
    expect(requestOutcome({ jsonrpc: '2.0', id: 1, result: {} }, 404, -32001)).toEqual({ outcome: 'ok', errorCode: null });
  });
});

describe('requestOutcome from our own answer', () => {
  it('4xx is rejected, 5xx error, with the code of the body when there is one; 2xx ok', () => {
    expect(requestOutcome(undefined, 404, -32001)).toEqual({ outcome: 'rejected', errorCode: -32001 });
    expect(requestOutcome(undefined, 413, -32000)).toEqual({ outcome: 'rejected', errorCode: -32000 });
    expect(requestOutcome(undefined, 400)).toEqual({ outcome: 'rejected', errorCode: null });
    expect(requestOutcome(undefined, 503, -32000)).toEqual({ outcome: 'error', errorCode: -32000 });
    expect(requestOutcome(undefined, 502)).toEqual({ outcome: 'error', errorCode: null });
    expect(requestOutcome(undefined, 200, -32000)).toEqual({ outcome: 'ok', errorCode: null });
    expect(requestOutcome(undefined)).toEqual({ outcome: 'ok', errorCode: null });
  });
});
