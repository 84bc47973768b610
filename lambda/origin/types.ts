// What an origin returns, and the interface every origin layout implements.

import type { OriginConfig } from '../config';

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
  /** How long the read of this object took, in ms (for the request's log line and Server-Timing). */
  fetchMs?: number;
  /** Whether a Cloudinary-backup resolution came from its cache, on origins that resolve versions. */
  resolutionCache?: 'hit' | 'miss';
  /** Whether the bytes came from the cache of originals (a fresh or revalidated entry), where it is on. */
  originalsCache?: 'hit' | 'miss';
}

export interface Origin {
  readonly config: OriginConfig;
  /** The object for an image path, or null when it is not there. Any other failure throws an HttpError. */
  fetch(path: string): Promise<StoredObject | null>;
}

/** Reads one object of an origin by key (through the cache of originals), or null when it is not there. */
export type ObjectReader = (key: string) => Promise<StoredObject | null>;
