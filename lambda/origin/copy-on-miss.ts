// Copy on miss (`copyTo`, README "Copy on miss"): a file a web or Cloudinary origin had to
// fetch is written into an S3 origin in the background, where the endpoint's earlier origin
// finds it next time. In the backup layout for a Cloudinary-backup origin, at the same key for
// a plain one. Never written: what the upstream marked `private` or `no-store`, nor what the
// cache of originals answered (a hit or a 304: the copy was written when the file was fetched).

import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { LimitsConfig, OriginConfig } from '../config';
import type { BackgroundWork } from './background';
import { parseBackupPath } from './cloudinary-backup';
import { encodeKeyPath, folderPrefix, plainKey } from './keys';
import type { Origin, ReadOptions, StoredObject } from './types';
import { extensionOfType } from './web';
import { originCallSignal, type ArrivalWatcher } from './reading';

/**
 * The key a copy is written at: the key the target origin reads for this path. In the backup
 * layout the version is the URL's `v<digits>`, else the upstream's Last-Modified in seconds
 * (Cloudinary versions are upload times in seconds), else the time of the copy.
 */
export function copyKey(path: string, found: StoredObject, target: OriginConfig, now: () => number = Date.now): string {
  if (target.type !== 'cloudinary-backup') return plainKey(path, target);
  const readings = parseBackupPath(path);
  // The reading that found the file: the extension was a format wish (first), or part of the id (last).
  const reading = found.requestedExtension !== undefined ? readings[0] : readings[readings.length - 1];
  const version = reading.version ?? String(Math.floor((found.lastModified?.getTime() ?? now()) / 1000));
  const format = extensionOfType(found.contentType ?? '') || reading.extension || 'bin';
  return `${folderPrefix(target.folder)}${encodeKeyPath(reading.assetPath, target)}/${version}.${format}`;
}

export class CopyOnMissOrigin implements Origin {
  constructor(
    private readonly origin: Origin,
    private readonly target: OriginConfig,
    /** Writes with the function's role, never with the read-only keys (README "Copy on miss"). */
    private readonly writer: S3Client,
    private readonly background: BackgroundWork,
    private readonly limits: LimitsConfig,
  ) {}

  get config() {
    return this.origin.config;
  }

  async fetch(path: string, options?: ReadOptions): Promise<StoredObject | null> {
    // Every file it fetches is copied, whatever this request does with it: a watcher may read the
    // header early, but not cut the read (an image over the pixel limit is read whole and copied,
    // then refused from the whole file).
    const watch = options?.onArrival;
    const headerOnly: ArrivalWatcher | undefined = watch && ((arrived, whole) => {
      const seen = watch(arrived, whole);
      if (typeof seen === 'boolean') return seen;
      seen.catch(() => undefined); // the refusal comes again from the whole file
      return true;
    });
    const found = await this.origin.fetch(path, headerOnly ? { ...options, onArrival: headerOnly } : options);
    if (found && !found.partial && !found.cacheControl && found.originalsCache !== 'hit') {
      const key = copyKey(path, found, this.target);
      this.background.run(`copy of "${path.slice(0, 200)}" from origin "${this.config.name}" into origin "${this.target.name}"`, () => this.copy(key, found));
    }
    return found;
  }

  private async copy(key: string, found: StoredObject): Promise<void> {
    await this.writer.send(
      new PutObjectCommand({ Bucket: this.target.bucket, Key: key, Body: found.body, ContentType: found.contentType }),
      { abortSignal: originCallSignal(this.limits) },
    );
    // One line per copy: when they stop, the target holds everything asked for (README "Migrating from Cloudinary").
    console.log(`afterimage: copied "${key.slice(0, 300)}" (${found.body.length} bytes) from origin "${this.config.name}" into origin "${this.target.name}"`);
  }
}
