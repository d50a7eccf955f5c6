/**
 * `DELETE …/connections/:sessionId` checks the id with the writer's own rule (`isControlSessionId`
 * of shared/control-request.ts) before it looks for it: an id the writer would refuse ("bad
 * sessionId") is a 400 with one line, never a 202 for a request that does nothing. The CLI's
 * `end-session` uses the same rule (exit 2). Real API, real child, real HTTP.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { cleanup, run, startApi } from './helpers/processes.js';

afterEach(cleanup);

describe('session ids of end-session requests', () => {
  it('the API answers 400 for a control character or an overlong id, 404 for an unknown printable one', async () => {
    const api = await startApi();
    for (const [id, shown] of [['%09tab', '"\\ttab"'], ['a%C2%85b', '"a\\u0085b"'], ['x'.repeat(257), `"${'x'.repeat(100)}"`]] as const) {
      for (const route of [`/api/mcp/connections/${id}`, `/api/mcp/servers/default/connections/${id}`]) {
        const r = await api.json(route, { method: 'DELETE' });
        expect({ route, status: r.status, code: r.body.error?.code }).toEqual({ route, status: 400, code: 'bad_session_id' });
        expect(r.body.error.message).toBe(`Session id ${shown} cannot be ended: a session id is 1-256 printable characters`);
      }
    }
    const unknown = await api.json('/api/mcp/connections/no-such-session', { method: 'DELETE' });
    expect(unknown.status).toBe(404);
  });

  it('the CLI refuses the same ids as bad usage (exit 2, one line)', async () => {
    for (const id of ['\ttab', 'a\u0085b', 'x'.repeat(257), '']) {
      const r = await run(['end-session', id]);
      expect(r.code, JSON.stringify(id)).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(/Invalid SESSION_ID: .* \(1-256 printable characters\)/);
    }
  });
});
