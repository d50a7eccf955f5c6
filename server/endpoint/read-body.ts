/**
 * A request body read whole, bounded: what the proxy forwards (the bytes as they came) and
 * reads from. No framework in between: on the proxy's path every microsecond is paid twice,
 * once here and once in the upstream.
 */
import type http from 'node:http';

/** The body, or why there is none to forward: over `limit` (answer 413), or the client went away. */
export type BodyRead = Buffer | 'too-large' | 'aborted';

export function readBody(req: http.IncomingMessage, limit: number): Promise<BodyRead> {
  const declared = Number(req.headers['content-length']);
  if (declared > limit) return Promise.resolve('too-large');
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = (v: BodyRead) => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onGone);
      req.off('close', onGone);
      resolve(v);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        // Nothing more is read: the answer closes the connection (see `refuseBody`).
        req.pause();
        return done('too-large');
      }
      chunks.push(chunk);
    };
    const onEnd = () => done(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
    const onGone = () => done('aborted');
    req.on('data', onData);
    req.once('end', onEnd);
    req.once('error', onGone);
    req.once('close', onGone);
  });
}

/** Answers 413 and closes the connection: the rest of the body is never read. */
export function refuseBody(res: http.ServerResponse, answer: (res: http.ServerResponse) => void): void {
  res.shouldKeepAlive = false;
  res.once('finish', () => res.req.destroy());
  answer(res);
}

/** The parsed copy of a body, to read from (never forwarded: the bytes are). */
export function parseBody(body: Buffer | undefined): unknown {
  if (!body || body.length === 0) return undefined;
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    // Not JSON: the upstream answers it (a parse error); nothing to record but the status.
    return undefined;
  }
}
