/** Journal lines carry the connection's era: what readers accept. */
import { describe, expect, it } from 'vitest';
import { parseJournalLine } from '../shared/journal.js';

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
});
