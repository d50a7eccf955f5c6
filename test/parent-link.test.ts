/**
 * Lifecycle of ParentLink (server/parent-link.ts), in a real child with a real IPC channel (the
 * built dist/, as `mcp-monitor server` runs it): the constructor starts watching; close() returns
 * the same promise and removes its `disconnect` listener, so that the API going away afterwards
 * calls nothing.
 */
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { ROOT } from './helpers/processes.js';

/** Runs `body` in a child with an IPC channel; the child sends 'ready', is disconnected, and prints a JSON report. */
async function child(body: string): Promise<{ code: number | null; report: any }> {
  const script = `
    import { ParentLink } from './dist/server/parent-link.js';
    // Alive until the parent disconnects (the channel itself is unreferenced by ParentLink).
    const keep = setInterval(() => {}, 1000);
    const report = {};
    ${body}
    process.on('disconnect', () => setImmediate(() => {
      clearInterval(keep);
      process.stdout.write(JSON.stringify(report));
    }));
    process.send('ready');`;
  const proc = spawn(process.execPath, ['--input-type=module', '-e', script], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit', 'ipc'] });
  let out = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.once('message', () => proc.disconnect());
  const code = await new Promise<number | null>((resolve) => proc.once('exit', resolve));
  return { code, report: out ? JSON.parse(out) : undefined };
}

describe('ParentLink lifecycle', () => {
  it('while watching: the channel closing calls onGone', async () => {
    const { code, report } = await child(`
      const link = new ParentLink({});
      report.called = 0;
      link.onGone(() => (report.called += 1));
      process.on('disconnect', () => (report.gone = link.gone));`);
    expect(code).toBe(0);
    expect(report).toEqual({ called: 1, gone: true });
  });

  it('close() returns the same promise and removes its listener: the channel closing afterwards calls nothing', async () => {
    const { code, report } = await child(`
      const before = process.listenerCount('disconnect');
      const link = new ParentLink({});
      report.added = process.listenerCount('disconnect') - before;
      report.called = 0;
      link.onGone(() => (report.called += 1));
      const a = link.close();
      report.same = a === link.close();
      await a;
      report.left = process.listenerCount('disconnect') - before;
      link.onGone(() => (report.called += 1));
      process.on('disconnect', () => (report.gone = link.gone));`);
    expect(code).toBe(0);
    expect(report).toEqual({ added: 1, called: 0, same: true, left: 0, gone: false });
  });
});
