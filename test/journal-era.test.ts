/** Journal lines carry the connection's era: what readers accept. */
import { describe, expect, it } from 'vitest';
import { parseJournalLine, type ConnectLine } from '../shared/journal.js';
import { connectionOf } from '../shared/replay.js';

const base = { ts: '2026-12-01T10:00:00.000Z', pid: 42, seq: 3, sessionId: 'm-0123456789abcdef' };

describe('the era of connect and disconnect lines', () => {
  it('accepts legacy, modern, and none (lines written before eras were recorded)', () => {
    expect(parseJournalLine(JSON.stringify({ event: 'connect', ...base, era: 'modern' }))).toMatchObject({ era: 'modern' });
    expect(parseJournalLine(JSON.stringify({ event: 'disconnect', ...base, reason: 'idle', durationMs: 5, requestCount: 2, era: 'legacy' }))).toMatchObject({ era: 'legacy' });
    expect(parseJournalLine(JSON.stringify({ event: 'connect', ...base }))).not.toHaveProperty('era');
  });

  it('refuses an era it does not know, naming it', () => {
    expect(() => parseJournalLine(JSON.stringify({ event: 'connect', ...base, era: 'future' }))).toThrow(/era is "future", expected one of legacy\|modern/);
    expect(() => parseJournalLine(JSON.stringify({ event: 'disconnect', ...base, reason: 'idle', durationMs: 5, requestCount: 2, era: 7 }))).toThrow(/era is 7/);
  });

  it('takes a wrap connection (transport stdio, launchedBy) and refuses a transport or launcher it cannot read', () => {
    const wrap = { event: 'connect', ...base, transport: 'stdio', clientIP: null, launchedBy: { pid: 7, name: 'Claude' } };
    expect(parseJournalLine(JSON.stringify(wrap))).toMatchObject({ transport: 'stdio', launchedBy: { pid: 7, name: 'Claude' } });
    expect(connectionOf(parseJournalLine(JSON.stringify(wrap)) as ConnectLine)).toMatchObject({ transport: 'stdio', clientIP: null, launchedBy: { pid: 7, name: 'Claude' } });
    expect(connectionOf(parseJournalLine(JSON.stringify({ event: 'connect', ...base })) as ConnectLine)).toMatchObject({ transport: 'http', launchedBy: null });
    expect(() => parseJournalLine(JSON.stringify({ ...wrap, transport: 'carrier-pigeon' }))).toThrow(/transport is "carrier-pigeon"/);
    expect(() => parseJournalLine(JSON.stringify({ ...wrap, launchedBy: { pid: -1, name: 'x' } }))).toThrow(/launchedBy must be/);
    expect(() => parseJournalLine(JSON.stringify({ ...wrap, launchedBy: { pid: 3, name: {} } }))).toThrow(/launchedBy must be/);
  });
});
