/**
 * The soak's clients: for each server, a few loops that each open a session with a real SDK
 * client (v1, or v2 in `auto` mode), call a tool a few times, and end it with DELETE or walk
 * away (so that `--session-idle-ms` ends it). Every outcome is kept with its time, so that the
 * check can tell a failure caused by an injected fault from one that nothing explains.
 */
import { connect, type ClientKind, type LoadClient, type ToolCall } from '../lib/load.js';
import { nowMs, sleep } from '../lib/clock.js';

/** A server of the soak, as its clients see it. */
export interface SoakTarget {
  serverId: string;
  url: string;
  tool: ToolCall;
  kinds: ClientKind[];
}

/** One thing a client did. */
export interface Outcome {
  serverId: string;
  what: 'connect' | 'call' | 'end';
  ok: boolean;
  /** When it began and when it ended (monotonic ms). */
  startMs: number;
  atMs: number;
  sessionId?: string;
  error?: string;
}

/** Everything the clients did, and the legacy session ids they were given. */
export class SoakLedger {
  readonly outcomes: Outcome[] = [];
  /** serverId -> session ids the server issued to our clients (legacy sessions). */
  readonly sessions = new Map<string, Set<string>>();

  record(o: Outcome): void {
    this.outcomes.push(o);
    if (o.what === 'connect' && o.ok && o.sessionId) {
      if (!this.sessions.has(o.serverId)) this.sessions.set(o.serverId, new Set());
      this.sessions.get(o.serverId)!.add(o.sessionId);
    }
  }
}

/** Runs one client loop against `t` until `stop()` says so. */
export async function clientLoop(t: SoakTarget, kind: ClientKind, ledger: SoakLedger, rand: () => number, stop: () => boolean): Promise<void> {
  while (!stop()) {
    let client: LoadClient;
    const connectStart = nowMs();
    try {
      client = await connect(t.url, kind, t.tool);
    } catch (err) {
      ledger.record({ serverId: t.serverId, what: 'connect', ok: false, startMs: connectStart, atMs: nowMs(), error: (err as Error).message.slice(0, 200) });
      await sleep(200);
      continue;
    }
    const sessionId = client.sessionId();
    ledger.record({ serverId: t.serverId, what: 'connect', ok: true, startMs: connectStart, atMs: nowMs(), sessionId });
    const calls = 1 + Math.floor(rand() * 5);
    for (let i = 0; i < calls && !stop(); i += 1) {
      const startMs = nowMs();
      try {
        await client.call();
        ledger.record({ serverId: t.serverId, what: 'call', ok: true, startMs, atMs: nowMs(), sessionId });
      } catch (err) {
        ledger.record({ serverId: t.serverId, what: 'call', ok: false, startMs, atMs: nowMs(), sessionId, error: (err as Error).message.slice(0, 200) });
        break;
      }
      await sleep(50 + rand() * 200);
    }
    // Most clients say goodbye; some just go (the idle timeout ends their session).
    await (rand() < 0.8 ? client.end() : client.leave()).catch(() => undefined);
    await sleep(rand() * 300);
  }
}
