/** ModernClients on its own: its sweep timer runs only between start() and close(). */
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { ModernClients } from '../server/sessions/modern-clients.js';
import { SessionRegistry } from '../server/sessions/session-registry.js';

/** A table whose clock counts its readings (each sweep reads it once). */
function table(): { clients: ModernClients; readings: () => number } {
  let n = 0;
  const clients = new ModernClients({ registry: new SessionRegistry(), windowMs: 1000, max: 4, logger: pino({ level: 'silent' }), sweepIntervalMs: 5, clock: () => (n += 1) });
  return { clients, readings: () => n };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('ModernClients lifecycle', () => {
  it('start() twice throws; close() stops the sweep', async () => {
    const { clients, readings } = table();
    clients.start();
    expect(() => clients.start()).toThrow(/already started/);
    await sleep(40);
    expect(readings()).toBeGreaterThan(0);
    clients.close();
    const after = readings();
    await sleep(40);
    expect(readings()).toBe(after);
  });

  it('start() after close() starts no sweep', async () => {
    const { clients, readings } = table();
    clients.close();
    clients.start();
    await sleep(40);
    expect(readings()).toBe(0);
  });
});
