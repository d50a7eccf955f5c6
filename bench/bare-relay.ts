/**
 * The anchor of the wrap section: the least a Node process in the pipe can do. It runs CMD and
 * joins the pipes with stream `pipe()` both ways, nothing observed, nothing published, and exits
 * with CMD's code. Whatever `wrap` costs beyond this is the tap and the publishing; what this
 * costs over `direct` is the extra process in the path (two more hops a call on shared cores).
 * Usage: node bare-relay.js CMD [ARG…]
 */
import { spawn } from 'node:child_process';

const [file, ...args] = process.argv.slice(2);
if (!file) throw new Error('usage: bare-relay CMD [ARG…]');
const child = spawn(file, args, { stdio: ['pipe', 'pipe', 'inherit'] });
process.stdin.pipe(child.stdin);
child.stdout.pipe(process.stdout);
child.stdin.on('error', () => process.stdin.unpipe(child.stdin));
child.on('exit', (code, signal) => {
  process.exitCode = code ?? (signal ? 128 : 1);
  process.stdin.destroy();
});
