/**
 * What a stdio server prints is hostile input: warnings about stdout lines that are not
 * JSON-RPC messages are rate-limited like its stderr, with one "dropped" summary.
 */
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { StdioProcess } from '../server/backends/command/stdio-process.js';
import { waitFor } from './helpers/wait-for.js';

const procs: StdioProcess[] = [];
afterEach(async () => {
  await Promise.all(procs.splice(0).map((p) => p.close()));
});

describe('StdioProcess output', () => {
  it('logs at most 60 warnings a minute for 5000 non-JSON stdout lines, then one summary with the count', async () => {
    const lines: { msg: string; dropped?: number }[] = [];
    const sink = new Writable({ write: (chunk, _e, cb) => { for (const l of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(l)); cb(); } });
    const p = new StdioProcess([process.execPath, '-e', 'process.stdout.write("x\\n".repeat(5000))'], pino({ level: 'info' }, sink));
    procs.push(p);
    await p.start();
    await p.exited;
    await waitFor(() => lines.some((l) => l.dropped !== undefined), { what: 'the summary' });
    const warnings = lines.filter((l) => l.msg.includes('not JSON; dropped'));
    expect(warnings).toHaveLength(60);
    const summary = lines.filter((l) => l.dropped !== undefined);
    expect(summary).toHaveLength(1);
    expect(summary[0]!.dropped).toBe(5000 - 60);
  });
});
