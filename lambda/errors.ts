// One error type for everything the service answers with a non-2xx status.
// `code` is the short machine-readable reason sent in the `x-afterimage-error` header.

export type ErrorCode =
  | 'EINVAL'    // bad path or transformation (400)
  | 'ESIGNATURE' // missing, wrong or expired signature (401)
  | 'ENOENT'    // file in no origin (404)
  | 'EMETHOD'   // method not allowed (405)
  | 'ELIMIT'    // over an input limit (422)
  | 'EUNREADABLE' // input is not a decodable image (422)
  | 'EACCES'    // origin refused: credentials, permissions, missing bucket (502)
  | 'EORIGIN'   // origin failed after retries (502)
  | 'ETIMEDOUT' // origin timed out (504)
  | 'EDEADLINE' // the request ran past its deadline; the work was stopped (503)
  | 'EBUSY'     // every render slot busy and the queue full (503)
  | 'EABORTED'  // the client went away; never sent, the work is dropped
  | 'EINTERNAL'; // a bug; the message never carries details (500)

export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: ErrorCode,
    message: string,
    /** Never cached (`Cache-Control: no-store`), as every 5xx: a refusal that depends on budgets, not on the URL alone. */
    readonly noStore = false,
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

export const badRequest = (message: string) => new HttpError(400, 'EINVAL', message);
export const notFound = (message: string) => new HttpError(404, 'ENOENT', message);

/** Describes a received value for an error message: `"abc"`, `12`, `undefined`. */
export function describeValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 80 ? `${value.slice(0, 77)}...` : value);
  if (value === null || value === undefined) return String(value);
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  return String(value);
}
