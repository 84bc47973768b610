// What an origin returns, and the interface every origin layout implements.

import type { OriginConfig } from '../config';
import type { ArrivalWatcher } from './reading';

export interface StoredObject {
  body: Buffer;
  /** The object's stored Content-Type, if any. */
  contentType?: string;
  lastModified?: Date;
  /** The origin's ETag, used to derive ours. */
  etag?: string;
  /** The key actually read. */
  key: string;
  origin: OriginConfig;
  /** True when the bytes at this URL can never change (an exact Cloudinary version). */
  immutable?: boolean;
  /**
   * The extension the URL asked for, lower-case (`webp`), when the origin chose among stored
   * files by it (Cloudinary backup). Data only: what it means for the output format is decided
   * by `formatWishOf` in image/format.ts. A plain origin reads the key as written and leaves it out.
   */
  requestedExtension?: string;
  /** The format of the chosen file as its key names it (extension, lower-case; '' when none), set with `requestedExtension`. */
  storedFormat?: string;
  /** The Cache-Control the answer must carry instead of the configured one (a web origin's upstream said `private` or `no-store`). */
  cacheControl?: string;
  /**
   * How long the upstream lets a shared cache use these bytes without asking (its `s-maxage`,
   * else `max-age`, less its `Age`; 0 for `no-cache`), where it said: the cache of originals
   * trusts them no longer than this.
   */
  upstreamMaxAgeMs?: number;
  /**
   * The URL that answered with these bytes, after redirects (web origins): their validators hold
   * there only, so a revalidation is conditional on that URL and nowhere else.
   */
  answeredBy?: string;
  /** How long the read of this object took, in ms (for the request's log line and Server-Timing). */
  fetchMs?: number;
  /** Whether a Cloudinary-backup resolution came from its cache, on origins that resolve versions. */
  resolutionCache?: 'hit' | 'miss';
  /** Whether the bytes came from the cache of originals (a fresh or revalidated entry), where it is on. */
  originalsCache?: 'hit' | 'miss';
  /**
   * Set when `body` holds only the object's first bytes (a read with `ReadOptions.prefixBytes`):
   * its whole size. Such an object is never cached, copied or served; it is for reading a header.
   */
  partial?: { totalBytes: number };
}

/** How an origin is asked for a file. */
export interface ReadOptions {
  /**
   * The first bytes will do (a revalidation that may be answered from the image's header, README
   * "Revalidation"): an S3 origin that does not have the file in the cache of originals reads this
   * many bytes with a ranged GET and marks the answer `partial`. Other origins read it whole.
   */
  prefixBytes?: number;
  /**
   * Shown the file's bytes as they arrive, when it is read whole (from S3 or the web) with an
   * announced length (reading.ts `readLimitedBody`): the image header is read from the first of
   * them while the rest is still on its way, and a file over the pixel limit is refused there
   * (pipeline.ts `headerWatcher`). The answer is the same without it, only later.
   */
  onArrival?: ArrivalWatcher;
}

export interface Origin {
  readonly config: OriginConfig;
  /** The object for an image path, or null when it is not there. Any other failure throws an HttpError. */
  fetch(path: string, options?: ReadOptions): Promise<StoredObject | null>;
}

/** Reads one object of an origin by key (through the cache of originals), or null when it is not there. */
export type ObjectReader = (key: string, options?: ReadOptions) => Promise<StoredObject | null>;

/** What a conditional read is asked with: the stored ETag, else the stored Last-Modified. */
export interface Validators {
  etag?: string;
  lastModified?: Date;
  /** Where they were given (StoredObject.answeredBy): sent to that URL only; a redirect elsewhere is asked for the file in full. */
  url?: string;
}

/**
 * A conditional read's answer when the stored bytes are still current (a 304, no body). The
 * headers it carried replace the stored ones (RFC 9111 §4.3.4); a key present as undefined clears one.
 */
export interface NotModified {
  notModified: true;
  updates?: Partial<Pick<StoredObject, 'etag' | 'lastModified' | 'cacheControl' | 'upstreamMaxAgeMs'>>;
}

/**
 * Reads one original from its source: unconditionally without validators, else conditionally
 * (NotModified when they still match). Null when it is not there.
 */
export type ConditionalReader = (validators: Validators | undefined) => Promise<StoredObject | null | NotModified>;
