/**
 * The live stdio processes of one `--command` child, for the snapshot's `processes` (see
 * shared/snapshot-processes.ts): each from its spawn, with the identity read then (pid, start
 * ticks, uid, boot id), until it has exited, also after its session ended (a server that ignores
 * stdin's end and SIGTERM lives up to 5 s longer). A writer that dies leaves them listed, so that
 * its API or its next start can end exactly them.
 */
import { EventEmitter } from 'node:events';
import type { SnapshotProcess } from '../../../shared/snapshot.js';
import type { StdioProcess } from './stdio-process.js';

interface StdioProcessesEvents {
  /** A process was added, exited, or got its session. */
  change: [];
}

/** The processes not exited yet, in spawn order. */
export class StdioProcesses extends EventEmitter<StdioProcessesEvents> {
  readonly #live = new Map<number, SnapshotProcess>();

  /** Lists `proc` (started) until it has exited. One without an identity (gone already, or no /proc) is not listed. */
  track(proc: StdioProcess): void {
    const id = proc.identity;
    if (!id || proc.exit) return;
    const entry: SnapshotProcess = { ...id, sessionId: null };
    this.#live.set(id.pid, entry);
    this.emit('change');
    void proc.exited.then(() => {
      if (this.#live.get(id.pid) !== entry) return;
      this.#live.delete(id.pid);
      this.emit('change');
    });
  }

  /** The process `pid` serves session `sessionId`. */
  assign(pid: number, sessionId: string): void {
    const entry = this.#live.get(pid);
    if (!entry || entry.sessionId === sessionId) return;
    entry.sessionId = sessionId;
    this.emit('change');
  }

  /** The processes not exited yet (copies). */
  list(): SnapshotProcess[] {
    return [...this.#live.values()].map((p) => ({ ...p }));
  }

  /** How many are live. */
  get size(): number {
    return this.#live.size;
  }
}
