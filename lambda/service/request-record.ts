// README "Observability": what one request did, filled in by the service as it goes and handed
// to the adapters with the response, which decide how to log and count it. Never a secret: the
// path is kept with its signatures redacted, and no key, credential or header is recorded.

/** Time spent in each stage of one request, in ms; a stage the request never reached is absent. */
export interface StageTimings {
  /** Finding the file: the origins' walk (listings, misses), less the read of the file found. */
  lookup?: number;
  /** Reading the file found from its origin. */
  fetch?: number;
  /** Waiting for a render slot. */
  queue?: number;
  /** Reading the image's header and running the steps that are drawn before the last one. */
  transform?: number;
  /** The last pipeline: sharp is lazy, so this holds the final step's pixel work and the encoding. */
  encode?: number;
  /** The whole request, from its arrival at the service to its answer. */
  total: number;
}

export interface RequestRecord {
  method: string;
  /** The path and query as received, each signature replaced by `REDACTED`. */
  url: string;
  /** The endpoint's prefix ('' for the default endpoint), once the URL was matched to one. */
  endpoint?: string;
  /** The origin that answered, and the key it read (a web origin's: the URL, redacted as `url` is). */
  origin?: string;
  key?: string;
  status: number;
  /** The `x-afterimage-error` code of an error answer. */
  errorCode?: string;
  /** Bytes read from the origin, and bytes of the response body (Content-Length for HEAD). */
  bytesIn?: number;
  bytesOut: number;
  /** The Cloudinary-backup resolution cache, on origins that resolve versions. */
  resolutionCache?: 'hit' | 'miss';
  /** An originals cache in front of the origins, where one is configured. */
  originalsCache?: 'hit' | 'miss';
  /** The output format of a rendered image. */
  format?: string;
  timings: StageTimings;
}

/** Longest URL kept in a record (a log line stays small whatever the URL). */
const MAX_RECORDED_URL = 2048;

/** Query parameters that carry a signature, credential or token: their values are never recorded. */
const SECRET_QUERY_PARAMETER = /^(ik-s|signature|sig|token|x-amz-signature|x-amz-credential|x-amz-security-token|x-goog-signature|x-goog-credential|awsaccesskeyid)$/i;

/** Cloudinary's URL signature component, anywhere in the path. */
const CLOUDINARY_SIGNATURE = /(^|\/)s--[^/]*--(?=\/|$)/g;

/** The path and query with every signature replaced, safe to log; cut at 2048 characters (after the redaction). */
export function redactUrl(rawPath: string, rawQuery: string): string {
  const url = redactedUrl(rawPath, rawQuery);
  return url.length > MAX_RECORDED_URL ? `${url.slice(0, MAX_RECORDED_URL)}…` : url;
}

/**
 * An origin's key as recorded. A web origin's key (and a fetch URL's) is the URL it read, whose
 * query may carry a token and whose path a Cloudinary signature: redacted as `redactUrl` redacts
 * the request's own. A bucket's key is kept as it is.
 */
export function redactKey(key: string): string {
  if (!/^https?:\/\//i.test(key)) return key;
  const query = key.indexOf('?');
  return query < 0 ? redactUrl(key, '') : redactUrl(key.slice(0, query), key.slice(query + 1));
}

function redactedUrl(rawPath: string, rawQuery: string): string {
  const path = redactEncodedQuery(rawPath.replace(CLOUDINARY_SIGNATURE, '$1s--REDACTED--'));
  if (rawQuery === '') return path;
  return `${path}?${rawQuery.split('&').map((pair) => redactPair(pair, /=/)).join('&')}`;
}

/**
 * A remote URL percent-encoded in one path segment (a Cloudinary fetch URL) keeps its query in
 * the path: `%3F`, then `name%3Dvalue` pairs joined by `%26`. Each pair is judged as a query's.
 */
function redactEncodedQuery(path: string): string {
  const start = path.search(/%3F/i);
  if (start < 0) return path;
  // split with a capturing group: the separators stay, at the odd places.
  const parts = path.slice(start + 3).split(/(%26|&)/i);
  return path.slice(0, start + 3) + parts.map((part, i) => (i % 2 === 1 ? part : redactPair(part, /=|%3D/i))).join('');
}

/** `name=value` (`equals` finds the `=`) with the value replaced when the name, percent-decoded, is a secret's. */
function redactPair(pair: string, equals: RegExp): string {
  const match = equals.exec(pair);
  const name = match ? pair.slice(0, match.index) : pair;
  let decoded = name;
  try {
    decoded = decodeURIComponent(name);
  } catch {
    // A malformed name is kept as written; it is matched undecoded.
  }
  return SECRET_QUERY_PARAMETER.test(decoded) ? `${name}${match?.[0] ?? '='}REDACTED` : pair;
}

/** Milliseconds rounded to 0.1, as logged and sent. */
export function roundMs(ms: number): number {
  return Math.round(ms * 10) / 10;
}

/** The `Server-Timing` header value (W3C Server Timing) of a record's stages, in a fixed order. */
export function serverTiming(timings: StageTimings): string {
  const order = ['lookup', 'fetch', 'queue', 'transform', 'encode', 'total'] as const;
  return order
    .filter((name) => timings[name] !== undefined)
    .map((name) => `${name};dur=${roundMs(timings[name]!)}`)
    .join(', ');
}
