// One error type for everything the service answers with a non-2xx status.
// `code` is the short machine-readable reason sent in the `x-afterimage-error` header.

/** Every reason the service answers with a non-2xx status, and that status: the code decides it. */
export const ERROR_STATUS = {
  EINVAL: 400, // bad path or transformation
  ESIGNATURE: 401, // missing, wrong or expired signature
  ENOENT: 404, // file in no origin
  EMETHOD: 405, // method not allowed
  ELIMIT: 422, // over a limit (input, output, cost model)
  EUNREADABLE: 422, // input is not a decodable image
  EACCES: 502, // origin refused: credentials, permissions, missing bucket
  EORIGIN: 502, // origin failed after retries
  EDEADLINE: 503, // the request ran past its deadline; the work was stopped
  EBUSY: 503, // every render slot busy and the queue full
  EABORTED: 503, // the client went away; never sent, the work is dropped
  ETIMEDOUT: 504, // origin timed out
  EINTERNAL: 500, // a bug or a broken deployment; the message never carries details
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

export class HttpError extends Error {
  readonly status: number;
  /**
   * The origin, and where known the key, whose read failed or was refused: the request's log
   * record names them (README "Observability"), as it does for a file that was read.
   */
  source?: { origin: string; key?: string };

  constructor(
    readonly code: ErrorCode,
    message: string,
    /** Never cached (`Cache-Control: no-store`), as every 5xx: a refusal that depends on budgets, not on the URL alone. */
    readonly noStore = false,
  ) {
    super(message);
    this.name = 'HttpError';
    this.status = ERROR_STATUS[code];
  }
}

export const badRequest = (message: string) => new HttpError('EINVAL', message);
export const unauthorized = (message: string) => new HttpError('ESIGNATURE', message);
export const notFound = (message: string) => new HttpError('ENOENT', message);
export const methodNotAllowed = (message: string) => new HttpError('EMETHOD', message);
/** Over a limit; `noStore` where the refusal depends on budgets an operator may raise. */
export const limitExceeded = (message: string, noStore = false) => new HttpError('ELIMIT', message, noStore);
export const unreadable = (message: string) => new HttpError('EUNREADABLE', message);
export const originRefused = (message: string) => new HttpError('EACCES', message);
export const originFailed = (message: string) => new HttpError('EORIGIN', message);
export const originTimedOut = (message: string) => new HttpError('ETIMEDOUT', message);
export const busy = (message: string) => new HttpError('EBUSY', message);
export const internalError = (message: string) => new HttpError('EINTERNAL', message);

/** Names the origin (and key) a failure came from on an HttpError that does not name one yet; other errors pass unchanged. */
export function fromSource<E>(error: E, origin: string, key?: string): E {
  if (error instanceof HttpError && error.source === undefined) error.source = key === undefined ? { origin } : { origin, key };
  return error;
}
