// The time a render may still take. Every sharp pipeline gets sharp's timeout (libvips stops its
// work when it runs out), and a chain checks the signal between its pipelines, so a request past
// its deadline, or whose client went away, stops rendering.

import type sharp from 'sharp';
import { HttpError } from '../errors';

export interface Deadline {
  /** `performance.now()` by which the request must be answered. */
  readonly at: number;
  /** Aborted at the deadline or when the client goes away; its reason is the HttpError to answer with. */
  readonly signal: AbortSignal;
  /** The setting (or caller) that set the deadline, for the message: `limits.requestTimeoutMs = 20000 ms`. */
  readonly source: string;
}

/** 503, never cached: the same request may finish on a less busy machine, or with more time left. */
export function deadlineExceeded(deadline: Pick<Deadline, 'source'>): HttpError {
  return new HttpError('EDEADLINE', `The request did not finish within its deadline (${deadline.source}); its work was stopped`);
}

/**
 * The pipeline, bounded by what is left of the deadline (whole seconds, as sharp counts them,
 * rounded up: the service answers at the deadline itself; libvips stops at most a second later).
 * Throws the signal's reason when the request is already over.
 */
export function withinDeadline(image: sharp.Sharp, deadline: Deadline | undefined): sharp.Sharp {
  if (!deadline) return image;
  deadline.signal.throwIfAborted();
  const left = deadline.at - performance.now();
  if (left <= 0) throw deadlineExceeded(deadline);
  return image.timeout({ seconds: Math.min(3600, Math.ceil(left / 1000)) });
}

/** True for the error sharp rejects with when its timeout stopped libvips. */
export function isSharpTimeout(error: unknown): boolean {
  return /^timeout:/.test(String((error as Error)?.message ?? ''));
}
