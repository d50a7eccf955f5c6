/** Whether anything listens on a port: what a lifecycle test checks once an object is closed. */
import net from 'node:net';

/** Resolves true when a connection to `host:port` is refused (ECONNREFUSED), false when one is accepted. */
export function refused(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, host);
    s.once('connect', () => {
      s.destroy();
      resolve(false);
    });
    s.once('error', (err: NodeJS.ErrnoException) => (err.code === 'ECONNREFUSED' ? resolve(true) : reject(err)));
  });
}
