// What every origin call shares, S3 or web: one bound on the whole call, and a body read within
// the input limit that a stalled connection cannot hold open.

import type { LimitsConfig } from '../config';
import { limitExceeded } from '../errors';

/** Bounds a whole origin call: every attempt has its own timeout; this covers retries and backoff too. */
export function originCallSignal(limits: LimitsConfig): AbortSignal {
  return AbortSignal.timeout(limits.originTimeoutMs * (limits.originRetries + 1) + 2000);
}

type Body = AsyncIterable<unknown> & { destroy?: (error?: Error) => void };

/**
 * Reads a body to its end. It is cut (destroyed, so the loop throws) after `idleMs` without data
 * or when `signal` aborts; over `maxBytes` it is a 422 naming limits.maxInputBytes.
 */
export async function readLimitedBody(body: Body, idleMs: number, maxBytes: number, signal?: AbortSignal): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  const cut = () => body.destroy?.(Object.assign(new Error('body read timed out'), { name: 'TimeoutError' }));
  const idle = setTimeout(cut, idleMs);
  signal?.addEventListener('abort', cut, { once: true });
  try {
    for await (const chunk of body) {
      idle.refresh();
      const bytes = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array);
      total += bytes.length;
      // A Content-Length is checked before reading; this holds when the origin sent none.
      if (total > maxBytes) {
        body.destroy?.();
        throw limitExceeded(`The stored file is over ${maxBytes} bytes, the limit (limits.maxInputBytes)`);
      }
      chunks.push(bytes);
    }
  } finally {
    clearTimeout(idle);
    signal?.removeEventListener('abort', cut);
  }
  return Buffer.concat(chunks);
}
