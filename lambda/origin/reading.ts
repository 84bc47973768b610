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
 * A read a watcher refuses is cut only with more than this still to come. A cut connection is not
 * reused, so the next request opens another (to S3, a TLS handshake: about 10 ms in a region,
 * about what 1 MB takes to arrive over one connection); with less to come, reading on is cheaper.
 */
export const CUT_ABOVE_BYTES = 1024 * 1024;

/**
 * Shown a body while it arrives: what has arrived so far (`arrived`, a view of `whole`), and the
 * buffer the whole body is being read into, which is the Buffer the read returns if the body ends
 * at its announced length. Only `arrived` may be read: the rest of `whole` is not written yet (it
 * holds whatever memory it was given). Returns false to be shown more, true once it has seen
 * enough, or a promise once it has seen enough to judge the file: if that promise rejects while
 * more than CUT_ABOVE_BYTES are still to come, the read is cut and fails with its reason (an
 * original over a limit is refused from its header, not downloaded); otherwise the read goes on,
 * and the caller judges the whole file. Either way it is not called again.
 */
export type ArrivalWatcher = (arrived: Buffer, whole: Buffer) => boolean | Promise<unknown>;

/**
 * Reads a body to its end. It is cut (destroyed, so the loop throws) after `idleMs` without data
 * or when `signal` aborts; over `maxBytes` it is a 422 naming limits.maxInputBytes.
 *
 * With the length the origin announced (`expectedBytes`, already checked against the limit), each
 * chunk is copied into one buffer of that size as it arrives and dropped at once: the socket's
 * chunks then die young, in the garbage collector's cheap pass, instead of living until the end
 * and reaching the old generation (a 2.9 MB original is about 45 of them). A body that turns out
 * longer or shorter than announced is read the general way. `watch`, if given, is shown the bytes
 * as they arrive in that buffer, until it has seen enough or the last byte is in.
 */
export async function readLimitedBody(body: Body, idleMs: number, maxBytes: number, signal?: AbortSignal, expectedBytes?: number, watch?: ArrivalWatcher): Promise<Buffer> {
  let chunks: Buffer[] = [];
  let into = expectedBytes !== undefined && Number.isSafeInteger(expectedBytes) && expectedBytes > 0 && expectedBytes <= maxBytes ? Buffer.allocUnsafe(expectedBytes) : undefined;
  let total = 0;
  const cut = () => body.destroy?.(Object.assign(new Error('body read timed out'), { name: 'TimeoutError' }));
  const idle = setTimeout(cut, idleMs);
  signal?.addEventListener('abort', cut, { once: true });
  let refusal: { reason: unknown } | undefined;
  let reading = true;
  const judged = (verdict: Promise<unknown>) =>
    verdict.catch((reason: unknown) => {
      // Judged after the last byte, or near it: the caller sees the same verdict from the whole file.
      if (!reading || !into || into.length - total <= CUT_ABOVE_BYTES) return;
      refusal = { reason };
      // Without an error: the read's own failure is `reason`, thrown below; an error here would
      // reach the HTTP request's listeners too, and could be taken for a failed connection.
      body.destroy?.();
    });
  try {
    for await (const chunk of body) {
      idle.refresh();
      const bytes = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array);
      if (into && total + bytes.length > into.length) {
        // Longer than announced: what was copied so far becomes the first chunk.
        chunks = [into.subarray(0, total)];
        into = undefined;
      }
      total += bytes.length;
      // A Content-Length is checked before reading; this holds when the origin sent none.
      if (total > maxBytes) {
        body.destroy?.();
        throw limitExceeded(`The stored file is over ${maxBytes} bytes, the limit (limits.maxInputBytes)`);
      }
      if (into) {
        bytes.copy(into, total - bytes.length);
        const seen = watch && total < into.length ? watch(into.subarray(0, total), into) : false;
        if (seen !== false) {
          watch = undefined;
          if (seen !== true) void judged(seen);
        }
      } else chunks.push(bytes);
    }
  } catch (error) {
    throw refusal ? refusal.reason : error;
  } finally {
    reading = false;
    clearTimeout(idle);
    signal?.removeEventListener('abort', cut);
  }
  if (refusal) throw refusal.reason;
  if (into) return total === into.length ? into : into.subarray(0, total);
  return chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
}
