/**
 * How the front door reads a request body, once it is admitted under its limit (front-door.ts):
 * parsed as JSON for the servers hosted here, or kept as the bytes that came (and parsed
 * aside, to read from) for the proxy, which forwards them unchanged.
 */
import type http from 'node:http';
import express, { type RequestHandler } from 'express';
import type { Logger } from 'pino';
import { cutOffPast } from './body-budget.js';
import { MAX_JSON_DEPTH, nestsDeeperThan } from './json-depth.js';
import { answerReadError, jsonRpcError } from './json-rpc-error.js';
import { parseBody, readBody, refuseBody } from './read-body.js';

/** A body read: its parsed value (undefined when there was none, or it was not JSON for the proxy), and for the proxy its bytes. */
export interface ReadBody {
  parsed: unknown;
  raw?: Buffer;
}

/** Reads the body of `req` under `limit`; undefined when it answered instead (too large, not JSON, gone). */
export type BodyReader = (req: http.IncomingMessage, res: http.ServerResponse, limit: number) => Promise<ReadBody | undefined>;

/** Whether body-parser's JSON reader takes this body (`application/json`, any parameters). */
function isJson(req: http.IncomingMessage): boolean {
  const type = req.headers['content-type'];
  return typeof type === 'string' && type.split(';', 1)[0]!.trim().toLowerCase() === 'application/json';
}

/**
 * JSON, by express's body-parser (UTF-8; identity, gzip, deflate or br): a body that is not
 * JSON gets 400, one past the limit 413 as soon as it passes it, one nested deeper than
 * {@link MAX_JSON_DEPTH} 400. A body of another media type is left unread (parsed: undefined)
 * for the server to refuse.
 */
export function jsonBodyReader(log: Logger): BodyReader {
  const parsers = new Map<number, RequestHandler>();
  return (req, res, limit) => {
    let parser = parsers.get(limit);
    if (!parser) parsers.set(limit, (parser = express.json({ limit })));
    // body-parser reads a body past its limit to its end before it answers: cut it off instead.
    if (isJson(req)) cutOffPast(req, res, limit);
    return new Promise((resolve) => {
      const request = req as http.IncomingMessage & { body?: unknown };
      parser(request as never, res as never, (err?: unknown) => {
        if (err) {
          answerReadError(err as Error, res, log);
          return resolve(undefined);
        }
        if (nestsDeeperThan(request.body, MAX_JSON_DEPTH)) {
          jsonRpcError(res, 400, -32600, `Invalid Request: JSON nested deeper than ${MAX_JSON_DEPTH} levels`);
          return resolve(undefined);
        }
        resolve({ parsed: request.body });
      });
    });
  };
}

/** The bytes as they came, bounded, with a parsed copy to read from (undefined when not JSON: the upstream answers that). */
export const rawBodyReader: BodyReader = async (req, res, limit) => {
  const body = await readBody(req, limit);
  if (body === 'aborted') return undefined;
  if (body === 'too-large') {
    refuseBody(res, (r) => jsonRpcError(r, 413, -32000, 'Request body too large'));
    return undefined;
  }
  return { raw: body, parsed: parseBody(body) };
};
