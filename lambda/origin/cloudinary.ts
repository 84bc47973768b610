// Cloudinary itself as an origin (`type: cloudinary`, README "Web and Cloudinary origins"): the
// original of an asset, from its delivery URL without transformations, for the paths a
// Cloudinary-backup origin reads (`<resource_type>/<type>/[v<version>/]<public_id>[.<ext>]`).
// An endpoint `["backup", "cloudinary-live"]` then serves what the backup does not hold yet.

import { parseBackupPath, type BackupRequest } from './cloudinary-backup';
import type { ReadOptions, StoredObject } from './types';
import { extensionOfType, HttpOrigin } from './web';

const RESOURCE_TYPES = new Set(['image', 'video', 'raw']);

export class CloudinaryOrigin extends HttpOrigin {
  /** `https://res.cloudinary.com/<cloud>`, or the private CDN / CNAME host (its paths carry no cloud name). */
  get deliveryBase(): string {
    const { deliveryHost, cloud, allowHttp } = this.config;
    return deliveryHost ? `${allowHttp ? 'http' : 'https'}://${deliveryHost}` : `https://res.cloudinary.com/${cloud}`;
  }

  async fetch(path: string, options?: ReadOptions): Promise<StoredObject | null> {
    const [resourceType, type] = path.split('/');
    if (!RESOURCE_TYPES.has(resourceType) || !(this.config.deliveryTypes ?? ['upload']).includes(type)) return null;
    // As the backup reads it: first without the extension (Cloudinary then delivers the asset
    // in its own format, untouched; the extension is only a wish for the output format), then
    // with the whole file name as the public id (raw files, ids with a dot).
    const readings = parseBackupPath(path).flatMap((reading) => {
      const publicId = reading.assetPath.split('/').slice(2);
      if (publicId.length === 0 || publicId.some((s) => s === '' || s === '.' || s === '..')) return [];
      return [{ reading, url: cloudinaryDeliveryUrl(this.deliveryBase, resourceType, type, reading.version, publicId) }];
    });
    // A file the cache holds fresh is served without asking again for the readings before it:
    // their 404 was seen when it was read, no longer ago than its freshness.
    for (const { reading, url } of readings) {
      const cached = this.cached(url);
      if (cached) return withReading(cached, reading);
    }
    for (const { reading, url } of readings) {
      const found = await this.read(url, options);
      if (found) return withReading(found, reading);
    }
    return null;
  }
}

/** The file as found for one reading of the path: its extension, if it had one, is a wish for the output format. */
function withReading(found: StoredObject, reading: BackupRequest): StoredObject {
  return {
    ...found,
    ...(reading.extension ? { requestedExtension: reading.extension, storedFormat: extensionOfType(found.contentType ?? '') } : {}),
  };
}

/**
 * `<base>/<resource_type>/<type>/v<version>/<public id>`, every segment percent-encoded. The
 * version is always written (`v1` when the URL named none): Cloudinary then reads every segment
 * after it as the public id, so a folder named like a transformation (`w_300`) is never applied
 * as one, and Cloudinary delivers the current version whatever the number.
 */
export function cloudinaryDeliveryUrl(base: string, resourceType: string, type: string, version: string | undefined, publicId: readonly string[]): string {
  return [base, resourceType, type, `v${version ?? '1'}`, ...publicId.map(encodeURIComponent)].join('/');
}
