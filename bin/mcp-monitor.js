#!/usr/bin/env node
// The `mcp-monitor` command: dispatches to the compiled entry points (built by `npm run build`,
// which `npm ci` runs through the `prepare` script). `start` is the API, `watch` the API with no
// child, `server` the MCP child, `wrap` the stdio tap (the child's wiring in front of a
// client's stdio server), everything else the CLI; they share no code but shared/.
const [command, ...rest] = process.argv.slice(2);

const entry =
  command === 'start' ? ['../dist/api/main.js', rest]
    : command === 'watch' ? ['../dist/api/watch.js', rest]
      : command === 'server' ? ['../dist/server/main.js', rest]
        : command === 'wrap' ? ['../dist/server/wrap-main.js', rest]
        : ['../dist/cli/main.js', process.argv.slice(2)];

const { main } = await import(entry[0]);
await main(entry[1]);
