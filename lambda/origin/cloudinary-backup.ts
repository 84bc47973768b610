// The Cloudinary backup layout (`type: cloudinary-backup`, README "Serving a Cloudinary backup"): each upload is stored
// as `<folder>/<resource_type>/<type>/<public_id>/<version>.<format>`. A URL names the asset, so
// its versions are listed and one is chosen; the choice is cached briefly, the bytes by the
// cache of originals (original-cache.ts), like any origin's.

import type { S3Client } from '@aws-sdk/client-s3';
import type { LimitsConfig, OriginConfig } from '../config';
import { HttpError } from '../errors';
import { encodeKeyPath, folderPrefix } from './keys';
import type { ResolutionCache } from './resolution-cache';
import { listPage } from './s3';
import type { ObjectReader, Origin, ReadOptions, StoredObject } from './types';

/** What a request path asks of the backup. */
export interface BackupRequest {
  /** `<resource_type>/<type>/<public_id>` (or less, under a deeper folder), without extension or version marker. */
  assetPath: string;
  /** The requested extension, lower-case; absent when the URL has none. */
  extension?: string;
  /** The digits of a `v<digits>` version marker. */
  version?: string;
}

/** The stored object chosen for a request. */
export interface VersionResolution {
  key: string;
  version: string;
  /** The stored format (the key's extension, lower-case); '' when the key has none. */
  format: string;
  /** True when `exactVersions` served the version the URL named. */
  exact: boolean;
}

/** A folder that is a cloud's root in the backup layout: `…/res/<cloud>/`. */
const CLOUD_ROOT = /(^|\/)res\/[^/]+\/$/;
const VERSION_MARKER = /^v(\d+)$/;
/** `<version>.<format>`; raw files may carry several extensions (`1700000000.tar.gz`), the last is the format. */
const VERSION_FILE = /^(\d+)(?:\.(?:[^/]*\.)?([^./]+))?$/;

/** `jpg` and `jpeg` (and `tif`/`tiff`) name one format. */
function sameFormat(a: string, b: string): boolean {
  const canonical = (f: string) => (f === 'jpg' ? 'jpeg' : f === 'tif' ? 'tiff' : f);
  return canonical(a) === canonical(b);
}

/**
 * The readings of a request path, most likely first: `image/upload/v3/shop/shoe.jpg` is the asset
 * `image/upload/shop/shoe` with the extension `jpg` and the version marker `3`. A public id may
 * itself end in an extension (raw files), so the whole file name is the second reading.
 */
export function parseBackupPath(path: string): BackupRequest[] {
  const segments = path.split('/');
  let version: string | undefined;
  // The first `v<digits>` segment is the marker (Cloudinary forbids folders of that form); the
  // last segment is the file name, never a marker.
  const markerIndex = segments.findIndex((s, i) => i < segments.length - 1 && VERSION_MARKER.test(s));
  if (markerIndex >= 0) {
    version = VERSION_MARKER.exec(segments[markerIndex])![1];
    segments.splice(markerIndex, 1);
  }
  const name = segments.pop()!;
  const dirs = segments.length > 0 ? `${segments.join('/')}/` : '';
  const withVersion = version === undefined ? {} : { version };
  const dot = name.lastIndexOf('.');
  if (dot <= 0 || dot === name.length - 1) return [{ assetPath: dirs + name, ...withVersion }];
  return [
    { assetPath: dirs + name.slice(0, dot), extension: name.slice(dot + 1).toLowerCase(), ...withVersion },
    { assetPath: dirs + name, ...withVersion },
  ];
}

/**
 * Chooses among an asset's stored versions (the keys listed under `prefix`): the highest
 * numeric version, or with `exactVersions` the version the URL named when it exists. Among
 * formats of one version the requested extension wins.
 */
export function resolveCloudinaryVersion(
  keys: readonly string[],
  prefix: string,
  request: BackupRequest,
  exactVersions: boolean,
): VersionResolution | undefined {
  const stored: { key: string; version: bigint; digits: string; format: string }[] = [];
  for (const key of keys) {
    if (!key.startsWith(prefix)) continue;
    const match = VERSION_FILE.exec(key.slice(prefix.length));
    if (match) stored.push({ key, version: BigInt(match[1]), digits: match[1], format: (match[2] ?? '').toLowerCase() });
  }
  if (stored.length === 0) return undefined;

  const named = exactVersions && request.version !== undefined ? BigInt(request.version) : undefined;
  const exact = named !== undefined && stored.some((s) => s.version === named);
  // biome-ignore lint/complexity/useMathMinMax: versions are bigints, which Math.max does not take
  const wanted = exact ? named : stored.reduce((max, s) => (s.version > max ? s.version : max), stored[0].version);
  const candidates = stored.filter((s) => s.version === wanted).sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const chosen = (request.extension && candidates.find((s) => sameFormat(s.format, request.extension!))) || candidates[0];
  return { key: chosen.key, version: chosen.digits, format: chosen.format, exact };
}

/**
 * True when a listing page already reached names that sort after every possible version file
 * (`<digits>…`): listings are in key order, so later pages hold only nested public ids, and a
 * request for a name that is also a large folder stops here instead of paging through it.
 */
export function pastVersionFiles(names: readonly string[], prefix: string): boolean {
  return names.some((name) => name.length > prefix.length && name.charCodeAt(prefix.length) > 0x39 /* '9' */);
}

export class CloudinaryBackupOrigin implements Origin {
  constructor(
    readonly config: OriginConfig,
    private readonly client: S3Client,
    private readonly limits: LimitsConfig,
    private readonly resolutions: ResolutionCache<VersionResolution>,
    private readonly read: ObjectReader,
  ) {}

  async fetch(path: string, options?: ReadOptions): Promise<StoredObject | null> {
    if (!this.servesDeliveryType(path)) return null;
    for (const request of parseBackupPath(path)) {
      const found = await this.fetchAsset(request, options);
      if (found) return found;
    }
    return null;
  }

  /**
   * Under a cloud's root folder the path names the delivery type (`image/<type>/…`): only the
   * configured types are served, so `private` and `authenticated` assets stay private.
   */
  private servesDeliveryType(path: string): boolean {
    if (!CLOUD_ROOT.test(folderPrefix(this.config.folder))) return true;
    const type = path.split('/')[1];
    return (this.config.deliveryTypes ?? ['upload']).includes(type);
  }

  private async fetchAsset(request: BackupRequest, options?: ReadOptions): Promise<StoredObject | null> {
    const prefix = `${folderPrefix(this.config.folder)}${encodeKeyPath(request.assetPath, this.config)}/`;
    // Everything that can change the choice is in the key, so an entry never answers for another asset.
    const cacheKey = JSON.stringify([this.config.name, prefix, request.extension ?? '', request.version ?? '']);

    const cached = this.resolutions.get(cacheKey);
    if (cached) {
      const object = await this.read(cached.key, options);
      if (object) return { ...this.toStoredObject(object, cached, request), resolutionCache: 'hit' };
      // Deleted or replaced since it was cached: forget it and resolve again, once.
      this.resolutions.delete(cacheKey);
    }

    // With exactVersions, a version the URL names in the format it names is read by its key,
    // without listing (a LIST costs what 12.5 GETs do): the listing would choose that file too.
    // Anything else is listed, after this one GET: another format of the version, a version not
    // stored. `v1` (what Cloudinary's SDKs write when they name none) is listed at once.
    const direct = this.exactKey(prefix, request);
    if (direct) {
      const object = await this.read(direct.key, options).catch((error: unknown) => {
        // Keys whose s3:ListBucket has an s3:prefix condition (the policy README "Connecting a
        // backup on Amazon S3" gives) get S3's 403 for a key that is not there, not a 404: a
        // miss, which the listing settles. Keys that may not read at all are refused there too.
        if (error instanceof HttpError && error.code === 'EACCES') return null;
        throw error;
      });
      if (object) {
        this.resolutions.set(cacheKey, direct);
        return { ...this.toStoredObject(object, direct, request), resolutionCache: 'miss' };
      }
    }

    const resolution = resolveCloudinaryVersion(await this.listVersions(prefix), prefix, request, this.config.exactVersions ?? false);
    if (!resolution) return null;
    const object = await this.read(resolution.key, options);
    if (!object) return null;
    this.resolutions.set(cacheKey, resolution);
    return { ...this.toStoredObject(object, resolution, request), resolutionCache: 'miss' };
  }

  /** The key of the version and format the URL names, when exactVersions lets it be read without a listing. */
  private exactKey(prefix: string, request: BackupRequest): VersionResolution | undefined {
    const { version, extension } = request;
    // Raw files keep their extension in the public id (parseBackupPath's second reading): not tried by key.
    if (!this.config.exactVersions || version === undefined || version === '1' || !extension || request.assetPath.startsWith('raw/')) return undefined;
    return { key: `${prefix}${version}.${extension}`, version, format: extension, exact: true };
  }

  /** Every key directly under the asset's folder (a nested public id's versions are rolled up by the delimiter). */
  private async listVersions(prefix: string): Promise<string[]> {
    const keys: string[] = [];
    let token: string | undefined;
    do {
      const page = await listPage(this.client, this.config, prefix, this.limits, token, '/');
      for (const object of page.Contents ?? []) if (object.Key) keys.push(object.Key);
      const names = [...(page.Contents ?? []).map((o) => o.Key ?? ''), ...(page.CommonPrefixes ?? []).map((p) => p.Prefix ?? '')];
      token = page.IsTruncated && !pastVersionFiles(names, prefix) ? page.NextContinuationToken : undefined;
    } while (token);
    return keys;
  }

  /** What was found, and how: the extension asked for and the format stored are passed on as data. */
  private toStoredObject(object: StoredObject, resolution: VersionResolution, request: BackupRequest): StoredObject {
    return {
      ...object,
      ...(resolution.exact ? { immutable: true } : {}),
      ...(request.extension ? { requestedExtension: request.extension, storedFormat: resolution.format } : {}),
    };
  }
}
