/**
 * `GET /`: the live dashboard, static files from `api/public/` (no build step). They hold no
 * data, so they are served without the token; the page asks for the token and sends it on
 * every data request (`fetch` with `Authorization`, socket.io `auth`), which stay behind it.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import express, { Router } from 'express';

/**
 * The folder of the dashboard's files. tsc does not copy them: from `dist/api/routes/` they
 * are in `../../../api/public`, from the sources (`api/routes/`) in `../public`.
 */
export function publicDir(): string {
  const candidates = ['../../../api/public/', '../public/'].map((rel) => fileURLToPath(new URL(rel, import.meta.url)));
  const dir = candidates.find((d) => existsSync(`${d}index.html`));
  if (!dir) throw new Error(`The dashboard's files are missing (looked in ${candidates.join(', ')})`);
  return dir;
}

/** The page and its modules (`<script type="module">`, which CSP `script-src 'self'` allows). */
const PUBLIC_PATHS = /^\/(?:index\.html|(?:control|dashboard|data|dom|operations|render|socket|tools|tools-view)\.js|dashboard\.css|favicon\.svg)?$/;

/** Routes serving the dashboard's shell; mount before the token middleware. */
export function dashboardRoutes(options: { dir?: string } = {}): Router {
  const router = Router();
  const dir = options.dir ?? publicDir();
  // Only same-origin scripts and connections: client names and user agents shown on the page
  // come from strangers, and the page inserts them as text only.
  const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";
  const serve = express.static(dir, {
    index: 'index.html',
    redirect: false,
    // Always revalidate: an upgrade of mcp-monitor must not keep an old script in a browser.
    cacheControl: false,
    setHeaders(res) {
      res.setHeader('Cache-Control', 'no-cache');
      res.setHeader('Content-Security-Policy', csp);
      res.setHeader('X-Content-Type-Options', 'nosniff');
      res.setHeader('Referrer-Policy', 'no-referrer');
    },
  });
  // Only the page's own files: no file-system lookup for every API request that passes by.
  router.use((req, res, next) => (PUBLIC_PATHS.test(req.path) ? serve(req, res, next) : next()));
  return router;
}
