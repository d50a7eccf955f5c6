/** The API's error shape: `{"error":{"code":"…","message":"…"}}` with a fitting status. */
import type { Response } from 'express';

export function sendError(res: Response, status: number, code: string, message: string): void {
  res.status(status).json({ error: { code, message } });
}
