/** The nesting bound of request bodies (server/endpoint/json-depth.ts), on the real built-in server. */
import { afterEach, describe, expect, it } from 'vitest';
import { MAX_JSON_DEPTH, nestsDeeperThan } from '../server/endpoint/json-depth.js';
import { cleanup } from './helpers/processes.js';
import { startServer } from './helpers/server-process.js';

afterEach(cleanup);

const nested = (depth: number) => JSON.parse('['.repeat(depth) + ']'.repeat(depth)) as unknown;

describe('JSON nesting bound', () => {
  it('counts arrays and objects, not scalars, without recursion', () => {
    expect(nestsDeeperThan(nested(MAX_JSON_DEPTH), MAX_JSON_DEPTH)).toBe(false);
    expect(nestsDeeperThan(nested(MAX_JSON_DEPTH + 1), MAX_JSON_DEPTH)).toBe(true);
    expect(nestsDeeperThan({ a: { b: [1, 'x', null] } }, 3)).toBe(false);
    expect(nestsDeeperThan({ a: { b: [[1]] } }, 3)).toBe(true);
    expect(nestsDeeperThan('[[[[', 1)).toBe(false);
    expect(nestsDeeperThan(nested(200_000), MAX_JSON_DEPTH)).toBe(true);
  });

  it('an initialize with arguments 1000 deep is served; 1001 deep gets 400 with a one-line reason', async () => {
    const { url, proc } = await startServer();
    const init = (depth: number) =>
      fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
        body: `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"deep","version":"1"},"x":${'['.repeat(depth - 2)}${']'.repeat(depth - 2)}}}`,
      });
    expect((await init(MAX_JSON_DEPTH)).status).toBe(200);
    const refused = await init(MAX_JSON_DEPTH + 1);
    expect(refused.status).toBe(400);
    expect(await refused.json()).toMatchObject({ error: { code: -32600, message: 'Invalid Request: JSON nested deeper than 1000 levels' } });
    expect(proc.alive).toBe(true);
  });
});
