/**
 * Tells from an upstream's answer to a request of a session whether the upstream no longer has
 * that session. The specification's answer is 404. Many servers built on the SDK's examples
 * (server-everything among them) answer 400 with a JSON-RPC error "Bad Request: No valid
 * session ID provided" instead; a 400 whose JSON-RPC error speaks of the session id counts too,
 * else the session would linger here until it idled out.
 */
import type http from 'node:http';

/** The most of a 400 body read (such answers are one short line). */
const MAX_ERROR_BYTES = 16 * 1024;

const SESSION_ERROR = /session/i;

/** Hooks of one exchange: `gone` is called once the answer says the session is gone. */
export function sessionGoneReader(gone: () => void): { onResponse: (status: number, headers: http.IncomingHttpHeaders) => void; onChunk: (chunk: Buffer) => void; onEnd: () => void } {
  let chunks: Buffer[] | undefined;
  let size = 0;
  return {
    onResponse(status, headers) {
      if (status === 404) return gone();
      if (status === 400 && /^application\/json\b/i.test(String(headers['content-type'] ?? ''))) chunks = [];
    },
    onChunk(chunk) {
      if (!chunks) return;
      size += chunk.length;
      if (size > MAX_ERROR_BYTES) chunks = undefined;
      else chunks.push(chunk);
    },
    onEnd() {
      if (!chunks) return;
      try {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { error?: { message?: unknown } };
        if (typeof body?.error?.message === 'string' && SESSION_ERROR.test(body.error.message)) gone();
      } catch {
        // Not JSON after all: a 400 about something else.
      }
      chunks = undefined;
    },
  };
}
