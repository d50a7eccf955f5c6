/**
 * What a 500-tool catalog (the snapshot's `catalog`, server/operations/tool-catalog.ts) costs each
 * snapshot write, three ways:
 *
 * 1. Bytes, from real children: two products `mcp-monitor start --entry catalog-server.js`, one
 *    whose server lists 500 tools (lib/tool-definitions.ts, 300-800 bytes each) and one whose
 *    server has none. A v1 SDK client does the same on both: connect, `tools/list`, DELETE. The
 *    first child's catalog then holds the 500 tools, the second's stays null (its `tools/list` is
 *    answered -32601), and the two snapshots differ by the catalog alone (a few digits aside).
 * 2. CPU per write, from the same children at a 50 ms heartbeat, over the same windows: user +
 *    system time from /proc/<pid>/stat over the snapshots written (the seq's growth), of each child
 *    and of the API reading its snapshots.
 * 3. Wall time per write, in process: the real SnapshotWriter and ToolCatalog on a temp state
 *    directory (the child's code path: build, serialize, temp file, fsync, lock check, rename),
 *    one writer whose catalog was told the same 500 tools and one without, writes alternating
 *    between them. A child's write cannot be timed from outside it, hence this part.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import pino from 'pino';
import { OperationRecorder } from '../server/operations/operation-recorder.js';
import { ToolCatalog } from '../server/operations/tool-catalog.js';
import { SnapshotWriter } from '../server/publish/snapshot-writer.js';
import { WriterLock } from '../server/publish/writer-lock.js';
import { SessionRegistry } from '../server/sessions/session-registry.js';
import { snapshotPath } from '../shared/paths.js';
import { serializeSnapshot, type Snapshot } from '../shared/snapshot.js';
import { nowMs, sleep, waitUntil } from './lib/clock.js';
import { BENCH_DIST, cpuSeconds, startApi, tempDir, type Api } from './lib/procs.js';
import { median, round } from './lib/stats.js';
import { toolDefinitions } from './lib/tool-definitions.js';

/** Tools of the catalog measured: the most a catalog keeps (shared/tool-catalog.ts). */
const TOOLS = 500;
/** The children's heartbeat while their CPU per write is measured. */
const HEARTBEAT_MS = 50;

/** A figure with and without the catalog. */
export interface WithWithout {
  without: number;
  with: number;
}

/** `results.json` `catalog`. */
export interface CatalogResult {
  tools: number;
  /** The tools' definitions as the server lists them: bytes of `JSON.stringify` each, and their sum. */
  definitionBytes: { min: number; p50: number; max: number; total: number };
  /** Whether the child's catalog holds every tool with the byte count the bench computes. */
  catalogMatches: boolean;
  /** `snapshot.json` of the real children, 0 connections, after the same client session on each. */
  snapshotBytes: WithWithout;
  addedBytes: number;
  /** Bytes of the `catalog` value alone in the child's snapshot. */
  catalogJsonBytes: number;
  /** In process, the real SnapshotWriter: wall time per write (request to written), median of the writes. */
  writeMs: WithWithout;
  addedWriteMs: number;
  /** Of which `serializeSnapshot` (JSON.stringify of the whole snapshot), median. */
  serializeMs: WithWithout;
  /** The in-process writers' snapshot bytes (an empty registry: smaller than the children's). */
  inProcessBytes: WithWithout;
  /** Writes timed per side, in process. */
  writes: number;
  /** The real children at a {@link HEARTBEAT_MS} heartbeat: CPU per snapshot write, ms, of the child and of its API. */
  children: { heartbeatMs: number; seconds: number; writes: WithWithout; childCpuMsPerWrite: WithWithout; apiCpuMsPerWrite: WithWithout };
}

/** Options of {@link measureCatalog}. */
export interface CatalogOptions {
  /** Writes timed per side in process. */
  writes: number;
  /** Seconds the children's CPU per write is measured over. */
  seconds: number;
  log: (msg: string) => void;
}

/** Connect, `tools/list` (-32601 when the server has no tools: expected), DELETE. */
async function listOnce(url: string): Promise<void> {
  const transport = new StreamableHTTPClientTransport(new URL(url));
  const client = new Client({ name: 'bench-catalog', version: '1.0.0' });
  await client.connect(transport);
  try {
    await client.listTools();
  } catch (err) {
    if ((err as { code?: number }).code !== -32601) throw err;
  }
  await transport.terminateSession();
  await client.close();
}

/** The child's snapshot once `ready` holds for it, with its bytes as the file has them. */
async function settledSnapshot(api: Api, ready: (s: Snapshot) => boolean): Promise<{ snapshot: Snapshot; bytes: number }> {
  return waitUntil(async () => {
    const text = await readFile(snapshotPath(api.stateDir, 'default'), 'utf8');
    const snapshot = JSON.parse(text) as Snapshot;
    return ready(snapshot) ? { snapshot, bytes: Buffer.byteLength(text, 'utf8') } : undefined;
  }, 10_000, 'the snapshot after the client left', 20);
}

const listedOnce = (s: Snapshot) => s.activeConnections === 0 && (s.operations ?? []).some((o) => o.method === 'tools/list' && o.count === 1);

/** The real SnapshotWriter on a fresh temp state directory, `tools` told to its catalog as one `tools/list` page. */
async function inProcessWriter(tools: object[] | undefined): Promise<{ writer: SnapshotWriter; lock: WriterLock }> {
  const stateDir = await tempDir('catalog');
  const logger = pino({ level: 'silent' });
  const catalog = new ToolCatalog();
  if (tools) catalog.toolsListed({ sessionId: null, cursor: undefined, result: { tools } });
  const lock = new WriterLock({ stateDir, serverId: 'default', logger });
  // A heartbeat that never comes during the measurement: every write is one the bench asked for.
  const writer = new SnapshotWriter({ stateDir, serverId: 'default', heartbeatMs: 3_600_000, registry: new SessionRegistry(), lock, recorder: new OperationRecorder({ knownName: catalog.knownName }), catalog, logger });
  await lock.start();
  await writer.start();
  await writer.markRunning({ url: 'http://127.0.0.1:3322/mcp', endpoint: '/mcp', port: 3322 });
  return { writer, lock };
}

/** Wall ms of one write asked of `writer`, from the request until it is written. */
async function timedWrite(writer: SnapshotWriter): Promise<number> {
  const t0 = nowMs();
  writer.request('heartbeat');
  await writer.flush();
  return nowMs() - t0;
}

function serializeMs(s: Snapshot, n: number): number {
  const ms: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = nowMs();
    serializeSnapshot(s);
    ms.push(nowMs() - t0);
  }
  return median(ms);
}

/** See the file comment. */
export async function measureCatalog(o: CatalogOptions): Promise<CatalogResult> {
  const defs = toolDefinitions(TOOLS);
  const sizes = defs.map((t) => Buffer.byteLength(JSON.stringify(t), 'utf8')).sort((a, b) => a - b);
  const total = sizes.reduce((a, b) => a + b, 0);
  const entry = ['--entry', path.join(BENCH_DIST, 'catalog-server.js'), '--heartbeat-ms', String(HEARTBEAT_MS)];

  o.log(`catalog: two children, ${TOOLS} tools and none`);
  const withApi = await startApi(entry, { BENCH_CATALOG_TOOLS: String(TOOLS) });
  const withoutApi = await startApi(entry, { BENCH_CATALOG_TOOLS: '0' });
  let bytes: WithWithout;
  let catalogJsonBytes: number;
  let catalogMatches: boolean;
  let children: CatalogResult['children'];
  try {
    await listOnce(withApi.mcpUrl);
    await listOnce(withoutApi.mcpUrl);
    const w = await settledSnapshot(withApi, (s) => listedOnce(s) && s.catalog?.tools.length === TOOLS);
    const wo = await settledSnapshot(withoutApi, (s) => listedOnce(s) && s.catalog === null);
    bytes = { without: wo.bytes, with: w.bytes };
    const catalog = w.snapshot.catalog!;
    catalogJsonBytes = Buffer.byteLength(JSON.stringify(catalog), 'utf8');
    catalogMatches = catalog.totalBytes === total && catalog.tools.every((t, i) => t.name === defs[i]!.name && t.bytes === Buffer.byteLength(JSON.stringify(defs[i]), 'utf8'));

    o.log(`catalog: CPU per write of both children at a ${HEARTBEAT_MS} ms heartbeat, ${o.seconds} s`);
    const pids = [withoutApi.childPid, withApi.childPid, withoutApi.apiPid, withApi.apiPid];
    const seqOf = async (api: Api) => (JSON.parse(await readFile(snapshotPath(api.stateDir, 'default'), 'utf8')) as Snapshot).seq;
    const cpu0 = pids.map(cpuSeconds);
    const seq0 = [await seqOf(withoutApi), await seqOf(withApi)];
    await sleep(o.seconds * 1000);
    const cpu = pids.map((p, i) => cpuSeconds(p) - cpu0[i]!);
    const writes = { without: (await seqOf(withoutApi)) - seq0[0]!, with: (await seqOf(withApi)) - seq0[1]! };
    const perWrite = (s: number, n: number) => round((s * 1000) / n, 3);
    children = {
      heartbeatMs: HEARTBEAT_MS,
      seconds: o.seconds,
      writes,
      childCpuMsPerWrite: { without: perWrite(cpu[0]!, writes.without), with: perWrite(cpu[1]!, writes.with) },
      apiCpuMsPerWrite: { without: perWrite(cpu[2]!, writes.without), with: perWrite(cpu[3]!, writes.with) },
    };
  } finally {
    await withoutApi.close();
    await withApi.close();
  }

  o.log(`catalog: ${o.writes} writes each through the real SnapshotWriter, with and without, alternating`);
  const started: { writer: SnapshotWriter; lock: WriterLock }[] = [];
  try {
    const withW = await inProcessWriter(defs);
    started.push(withW);
    const withoutW = await inProcessWriter(undefined);
    started.push(withoutW);
    const ms: { with: number[]; without: number[] } = { with: [], without: [] };
    // Untimed writes first: JIT, the file system's caches.
    for (let i = 0; i < 20; i++) {
      await timedWrite(withW.writer);
      await timedWrite(withoutW.writer);
    }
    for (let i = 0; i < o.writes; i++) {
      // Alternating which goes first, as the other sections' rounds do.
      if (i % 2 === 0) {
        ms.without.push(await timedWrite(withoutW.writer));
        ms.with.push(await timedWrite(withW.writer));
      } else {
        ms.with.push(await timedWrite(withW.writer));
        ms.without.push(await timedWrite(withoutW.writer));
      }
    }
    const lastWith = withW.writer.last!;
    const lastWithout = withoutW.writer.last!;
    const writeMs = { without: round(median(ms.without)), with: round(median(ms.with)) };
    const ser = { without: round(serializeMs(lastWithout, o.writes), 4), with: round(serializeMs(lastWith, o.writes), 4) };
    return {
      tools: TOOLS,
      definitionBytes: { min: sizes[0]!, p50: median(sizes), max: sizes.at(-1)!, total },
      catalogMatches,
      snapshotBytes: bytes,
      addedBytes: bytes.with - bytes.without,
      catalogJsonBytes,
      writeMs,
      addedWriteMs: round(writeMs.with - writeMs.without),
      serializeMs: ser,
      inProcessBytes: { without: Buffer.byteLength(serializeSnapshot(lastWithout)), with: Buffer.byteLength(serializeSnapshot(lastWith)) },
      writes: o.writes,
      children,
    };
  } finally {
    for (const { writer, lock } of started) {
      await writer.close();
      await lock.close();
    }
  }
}
