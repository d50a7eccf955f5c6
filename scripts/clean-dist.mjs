#!/usr/bin/env node
// Removes what `npm run build` writes (dist/api, dist/cli, dist/server, dist/shared), so that a
// build right after it holds only what the current sources compile to: tsc never deletes the
// output of a source file that was removed or renamed, and `npm pack` ships all of dist/ it
// is told to. dist/.bench (the bench's own build) is left alone.
import { rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const dist = fileURLToPath(new URL('../dist/', import.meta.url));
for (const dir of ['api', 'cli', 'server', 'shared']) rmSync(path.join(dist, dir), { recursive: true, force: true });
