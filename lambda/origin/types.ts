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
  /** Cloudinary backup: the stored format differs from the requested extension → that extension is a format wish. */
  formatWish?: string;
}

export interface Origin {
  readonly config: OriginConfig;
  /** The object for an image path, or null when it is not there. Any other failure throws an HttpError. */
  fetch(path: string): Promise<StoredObject | null>;
}
