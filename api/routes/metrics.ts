/** `GET /metrics`: the Prometheus text exposition (behind the token when one is set). */
import { Router } from 'express';
import type { Metrics } from '../metrics.js';

export function metricsRoutes(metrics: Metrics): Router {
  const router = Router();
  router.get('/metrics', async (_req, res) => {
    const text = await metrics.metrics();
    res.set('Content-Type', metrics.contentType).set('Cache-Control', 'no-store').send(text);
  });
  return router;
}
