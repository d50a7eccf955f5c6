/**
 * What the calls journal (server/publish/calls-journal.ts, docs/state-directory.md) costs a busy server:
 * `tools/call` `echo` per second through two real products, `mcp-monitor start` with `--calls on`
 * (the default) and with `--calls off`, everything else alike, under the same load: `clients` v1
 * SDK clients over HTTP, each calling in a loop for `seconds`. The rounds alternate which side goes
 * first and the ratio is the median of the rounds' on/off (the machinery of throughput.ts).
 *
 * Also: the child's CPU per call on each side (user + system from /proc/<pid>/stat over the runs'
 * windows, divided by the calls sent in them), and whether the journal got exactly one
 * `tools/call` line per call sent to the "on" side and none on the "off" side.
 */
import { readdir, readFile } from 'node:fs/promises';
import { parseCallLine } from '../shared/calls.js';
import { readSnapshotFile } from '../shared/io/read-snapshot.js';
import { CALLS_JOURNAL } from '../shared/journal-names.js';
import { serverDir, snapshotPath } from '../shared/paths.js';
import { sleep, waitUntil } from './lib/clock.js';
import { load } from './lib/load.js';
import { median, round } from './lib/stats.js';
import { startApi, type Api } from './lib/procs.js';
import { alternate, pairedRatio, runSide, sideRuns, type SideRuns } from './throughput.js';

/** One side (journal on or off) of the calls section. */
export interface CallsSide {
  /** Median rps of the runs. */
  rps: number;
  runs: number[];
  /** `tools/call` sent in the runs (warm-ups included): what the CPU per call is divided by. */
  calls: number;
  /** The child's CPU over the runs, % of one core. */
  childCpuPct: number;
  /** The API's CPU over the runs, % of one core (it watches the server directory the journal is in). */
  apiCpuPct: number;
}

/** `results.json` `calls`. */
export interface CallsResult {
  on: CallsSide;
  off: CallsSide;
  /** Median over the rounds of on/off of one back-to-back pair; target >= 0.97. */
  rpsRatio: number;
  /** The child's CPU (user + system) per call, µs. */
  cpuUsPerCall: { on: number; off: number };
  addedCpuUsPerCall: number;
  /** The API's CPU per call, µs, for what the journal's appends cost the watcher of the directory. */
  apiCpuUsPerCall: { on: number; off: number };
  /**
   * Lines of the journal: `on`, the `tools/call` lines of the "on" side's files (rotated ones
   * included); `expectedOn`, the calls sent to it (the untimed warm-up run's included);
   * `otherOn`, its lines of other methods (each client's `initialize`); `off`, lines of any kind on the "off" side (it has no file at all);
   * `complete`, the first line kept has seq 1 (rotation threw none away); `match`, one line per
   * call and none off.
   */
  linesWritten: { on: number; expectedOn: number; otherOn: number; off: number; complete: boolean; match: boolean };
  /** `callsDropped` of the "on" side's snapshot written after the last line (null: the snapshot has none). */
  callsDropped: number | null;
  clients: number;
  seconds: number;
  rounds: number;
  client: string;
}

/** Options of {@link measureCalls}. */
export interface CallsOptions {
  rounds: number;
  clients: number;
  seconds: number;
  log: (msg: string) => void;
}

function side(s: SideRuns): CallsSide {
  return {
    rps: round(median(s.rps), 1),
    runs: s.rps.map((v) => round(v, 1)),
    calls: s.calls,
    childCpuPct: round((s.cpuS[0]! / s.seconds) * 100, 1),
    apiCpuPct: round((s.cpuS[1]! / s.seconds) * 100, 1),
  };
}

const usPerCall = (s: SideRuns, i: number) => round((s.cpuS[i]! / s.calls) * 1e6, 1);

/** The journal's lines in `api`'s server directory, every file of it, by method. */
async function journalLines(api: Api): Promise<{ toolsCalls: number; other: number; firstSeq: number | undefined }> {
  const dir = serverDir(api.stateDir, 'default');
  let toolsCalls = 0;
  let other = 0;
  let firstSeq: number | undefined;
  for (const name of CALLS_JOURNAL.oldestFirst(await readdir(dir))) {
    for (const text of (await readFile(`${dir}/${name}`, 'utf8')).split('\n')) {
      if (text === '') continue;
      const line = parseCallLine(text);
      firstSeq ??= line.seq;
      if (line.method === 'tools/call') toolsCalls += 1;
      else other += 1;
    }
  }
  return { toolsCalls, other, firstSeq };
}

/**
 * `rounds` rounds of off/on pairs, `clients` v1 clients calling for `seconds` per run, against a
 * product with the journal on and one with it off, both kept for the whole measurement.
 */
export async function measureCalls(o: CallsOptions): Promise<CallsResult> {
  const { rounds, clients, seconds, log } = o;
  const apiOn = await startApi(['--calls', 'on']);
  const apiOff = await startApi(['--calls', 'off']);
  try {
    // Untimed runs first: the bench's own client code and both children are cold.
    await load(apiOff.mcpUrl, 'v1', clients, 1);
    const warmOn = await load(apiOn.mcpUrl, 'v1', clients, 1);
    const on = sideRuns([apiOn.childPid, apiOn.apiPid]);
    const off = sideRuns([apiOff.childPid, apiOff.apiPid]);
    for (let r = 0; r < rounds; r++) {
      await alternate(r, () => runSide(off, apiOff.mcpUrl, 'v1', clients, seconds), () => runSide(on, apiOn.mcpUrl, 'v1', clients, seconds));
      log(`calls: round ${r + 1}/${rounds}: on ${round(on.rps.at(-1)!, 0)} rps, off ${round(off.rps.at(-1)!, 0)} rps`);
    }

    // The last batch goes out within the journal's flushMs (200 ms); read until the count holds.
    const expectedOn = warmOn.totalCalls + on.calls;
    let lines = await journalLines(apiOn);
    for (let i = 0; i < 20 && lines.toolsCalls < expectedOn; i++) {
      await sleep(250);
      const next = await journalLines(apiOn);
      if (next.toolsCalls === lines.toolsCalls && i >= 4) break;
      lines = next;
    }
    const offLines = await journalLines(apiOff);
    // callsDropped is published with the next snapshot write: a heartbeat at the latest.
    const settledAt = Date.now();
    const snap = await waitUntil(async () => {
      const s = await readSnapshotFile(snapshotPath(apiOn.stateDir, 'default'));
      return Date.parse(s.writtenAt) > settledAt ? s : undefined;
    }, 10_000, 'a snapshot written after the last journal line', 100);
    const offCount = offLines.toolsCalls + offLines.other;
    return {
      on: side(on),
      off: side(off),
      rpsRatio: round(pairedRatio(on.rps, off.rps), 3),
      cpuUsPerCall: { on: usPerCall(on, 0), off: usPerCall(off, 0) },
      addedCpuUsPerCall: round(usPerCall(on, 0) - usPerCall(off, 0), 1),
      apiCpuUsPerCall: { on: usPerCall(on, 1), off: usPerCall(off, 1) },
      linesWritten: { on: lines.toolsCalls, expectedOn, otherOn: lines.other, off: offCount, complete: lines.firstSeq === 1, match: lines.toolsCalls === expectedOn && offCount === 0 },
      // Absent only from a child that does not publish it: null, not 0.
      callsDropped: snap.callsDropped ?? null,
      clients,
      seconds,
      rounds,
      client: '@modelcontextprotocol/sdk 1.32.2 (legacy era)',
    };
  } finally {
    await apiOff.close();
    await apiOn.close();
  }
}
