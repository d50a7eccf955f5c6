/**
 * Reads the JSON-RPC messages out of an upstream's response while it streams to the client
 * (a tee: the bytes go on unchanged; this only looks). A JSON body is kept up to
 * {@link MAX_MESSAGE_BYTES} and parsed at its end; an SSE body is parsed event by event as it
 * comes, each event's data bounded the same way. What does not parse, or is too large, is
 * skipped: the operation then gets its outcome from the HTTP status.
 */

import { StringDecoder } from 'node:string_decoder';

/** The largest message read (a larger one passes through unread). */
export const MAX_MESSAGE_BYTES = 4 * 1024 * 1024;

/** Gets every JSON-RPC message (or each element of a batch) of a response. */
export type OnMessage = (message: Record<string, unknown>) => void;

function emit(text: string, onMessage: OnMessage): void {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    // Not JSON: the upstream's business; the status tells the outcome.
    return;
  }
  for (const m of Array.isArray(v) ? v : [v]) if (typeof m === 'object' && m !== null) onMessage(m as Record<string, unknown>);
}

/** A reader for one response body. */
export interface ResponseReader {
  push(chunk: Buffer): void;
  end(): void;
}

/** A JSON body: collected (bounded), read once whole. */
function jsonReader(onMessage: OnMessage): ResponseReader {
  let chunks: Buffer[] | undefined = [];
  let size = 0;
  return {
    push(chunk) {
      if (!chunks) return;
      size += chunk.length;
      if (size > MAX_MESSAGE_BYTES) chunks = undefined;
      else chunks.push(chunk);
    },
    end() {
      if (chunks && size > 0) emit(Buffer.concat(chunks, size).toString('utf8'), onMessage);
      chunks = undefined;
    },
  };
}

/** An SSE body: `data:` lines of each event joined and read at the blank line that ends it. */
function sseReader(onMessage: OnMessage): ResponseReader {
  const decoder = new StringDecoder('utf8');
  let line = '';
  let data: string[] = [];
  let dataSize = 0;
  let skipping = false;
  const endEvent = () => {
    if (!skipping && data.length > 0) emit(data.join('\n'), onMessage);
    data = [];
    dataSize = 0;
    skipping = false;
  };
  const takeLine = (l: string) => {
    if (l === '') return endEvent();
    if (!l.startsWith('data:') || skipping) return;
    const v = l.slice(l[5] === ' ' ? 6 : 5);
    dataSize += v.length;
    if (dataSize > MAX_MESSAGE_BYTES) {
      skipping = true;
      data = [];
    } else data.push(v);
  };
  return {
    push(chunk) {
      line += decoder.write(chunk);
      let nl: number;
      while ((nl = line.indexOf('\n')) !== -1) {
        takeLine(line.slice(0, nl).replace(/\r$/, ''));
        line = line.slice(nl + 1);
      }
      // A line with no end in sight is not kept whole: it can only be data too large to read.
      if (line.length > MAX_MESSAGE_BYTES) {
        line = '';
        skipping = true;
        data = [];
      }
    },
    end() {
      if (line !== '') takeLine(line);
      endEvent();
    },
  };
}

/** The reader for a response of `contentType`, or undefined when it carries no JSON-RPC. */
export function responseReader(contentType: string | undefined, onMessage: OnMessage): ResponseReader | undefined {
  const type = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  if (type === 'application/json') return jsonReader(onMessage);
  if (type === 'text/event-stream') return sseReader(onMessage);
  return undefined;
}
