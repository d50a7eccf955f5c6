/**
 * One watcher of bench/watch-cost.ts, in its own process so that its CPU can be read from
 * /proc: `api` = the API's real SnapshotWatcher (chokidar, settle re-read, rescan); `raw` =
 * `fs.watch` on the server directory and one read + validate per event naming snapshot.json.
 * Tells its parent over IPC how many snapshots it read, when asked.
 */
import { watch } from 'node:fs';
import path from 'node:path';
import { SnapshotWatcher } from '../api/snapshot-watcher.js';
import { createLogger } from '../shared/io/logger.js';
import { SNAPSHOT_FILE } from '../shared/paths.js';
import { readSnapshotFileText } from '../shared/io/read-snapshot.js';

const [mode, stateDir, ...serverIds] = process.argv.slice(2) as [string, string, ...string[]];
let reads = 0;
if (mode === 'api') {
  const w = new SnapshotWatcher({ stateDir, logger: createLogger('watch-cost', 'silent') });
  w.on('snapshot', () => (reads += 1));
  await w.start();
} else {
  for (const serverId of serverIds) {
    const dir = path.join(stateDir, serverId);
    watch(dir, (_event, name) => {
      if (name !== SNAPSHOT_FILE) return;
      // A failed read is simply not counted: the bench compares reads with writes.
      readSnapshotFileText(path.join(dir, SNAPSHOT_FILE)).then(() => (reads += 1), () => undefined);
    });
  }
}
process.on('message', () => process.send!({ reads }));
process.send!({ ready: true });
process.on('disconnect', () => process.exit(0));
process.on('SIGTERM', () => process.exit(0));
