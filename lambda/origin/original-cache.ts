// The cache of originals (README "The cache of originals"): the files recently read from S3 or
// from a web or Cloudinary upstream, kept in memory so that a srcset burst (one original at five
// widths) costs one read. Bounded by bytes (least recently used goes first), on an injected
// clock; an entry is trusted for `freshMs` (or less, where the upstream says so) after its
// source last vouched for it, then revalidated with a conditional read.

import type { S3Client } from '@aws-sdk/client-s3';
import type { LimitsConfig, OriginConfig } from '../config';
import { getObject, getObjectIfChanged, getObjectPrefix } from './s3';
import type { ConditionalReader, ReadOptions, StoredObject, Validators } from './types';

/** The keys a revalidation reads the first bytes of (README "Revalidation"): named as JPEG or PNG files, the headers read from a prefix. */
const HEADER_KEY = /\.(jpe?g|png)$/i;

/** An original as read, and when its source last vouched for its bytes. */
interface CachedOriginal {
  object: StoredObject;
  /** When the GET that vouched for the bytes (its 200 or its 304) was sent. */
  checkedAt: number;
  /** How long after `checkedAt` it is served without asking: the cache's TTL, or the upstream's shorter max-age. */
  freshMs: number;
  /** The memory it holds, in bytes (see `costOf`). */
  cost: number;
}

/** The keys, the object and the Map's own entry: small next to any image, counted all the same. */
const ENTRY_OVERHEAD_BYTES = 1024;

/**
 * The characters of an entry's strings (its id, key and answering URL) that ENTRY_OVERHEAD_BYTES
 * covers; beyond them each counts 2 bytes. Web and fetch entries hold their URL three times, and
 * a URL can be kilobytes long: many small files at long URLs must not hold far more than the bound.
 */
const TEXT_CHARS_IN_OVERHEAD = 256;

/** An original over this fraction of the cache is not kept: one file must not evict all the others. */
export const ENTRY_FRACTION = 8;

export class OriginalCache {
  private readonly entries = new Map<string, CachedOriginal>();
  private held = 0;

  /**
   * @param maxBytes most bytes held (bodies plus a small overhead each); 0 turns the cache off
   * @param freshMs how long after S3 vouched for an original it is served without asking again
   */
  constructor(
    readonly maxBytes: number,
    readonly freshMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** The largest entry kept, in bytes, overhead included. */
  get maxEntryBytes(): number {
    return Math.floor(this.maxBytes / ENTRY_FRACTION);
  }

  /** Bytes held now. */
  get bytes(): number {
    return this.held;
  }

  get size(): number {
    return this.entries.size;
  }

  /**
   * The memory an entry holds: its body's whole backing store (a small body read into Node's
   * shared pool keeps the pool's 8 KiB slab alive), the overhead, and its strings past what the
   * overhead covers (`id`: the entry's id in the cache).
   */
  static costOf(object: StoredObject, id = ''): number {
    const text = id.length + object.key.length + (object.answeredBy?.length ?? 0);
    return object.body.buffer.byteLength + ENTRY_OVERHEAD_BYTES + 2 * Math.max(0, text - TEXT_CHARS_IN_OVERHEAD);
  }

  /**
   * Reads `key` of an S3 origin through the cache (revalidated with If-None-Match: S3 always sends
   * an ETag). With `prefixBytes`, a file the cache does not hold is read only that far (a ranged
   * GET, not kept); one it holds is answered as always, fresh or revalidated, whole.
   */
  readS3(client: S3Client, origin: OriginConfig, key: string, limits: LimitsConfig, options?: ReadOptions): Promise<StoredObject | null> {
    const source = ['s3', origin.name, origin.bucket ?? '', key];
    // Only a key named as a JPEG or PNG: any other file would be read twice.
    if (options?.prefixBytes && HEADER_KEY.test(key) && !this.entries.has(JSON.stringify(source))) return this.readPrefix(source, client, origin, key, limits, options.prefixBytes);
    return this.read(source, (validators) => validators?.etag
      ? getObjectIfChanged(client, origin, key, limits, validators.etag, options?.onArrival)
      : getObject(client, origin, key, limits, options?.onArrival));
  }

  /** A ranged read; a file that fitted in it whole is kept as a full read's answer would be. */
  private async readPrefix(source: readonly string[], client: S3Client, origin: OriginConfig, key: string, limits: LimitsConfig, bytes: number): Promise<StoredObject | null> {
    const askedAt = this.now();
    const answer = await getObjectPrefix(client, origin, key, limits, bytes);
    if (!answer || answer.partial || this.maxBytes === 0) return answer;
    this.store(JSON.stringify(source), answer, askedAt);
    return { ...answer, originalsCache: 'miss' };
  }

  /**
   * Reads one original through the cache. `source` names it (the kind of source, the origin, and
   * the bucket and key or the URL asked for); `readSource` reads it from there. A fresh entry is
   * served without asking; an entry past its freshness is revalidated (a NotModified reads no
   * body and keeps the entry), or read again in full when it has no validator; else the source
   * is read, and the result kept when its source allows, it can be revalidated or is fresh for a
   * while, and it fits.
   */
  async read(source: readonly string[], readSource: ConditionalReader): Promise<StoredObject | null> {
    if (this.maxBytes === 0) return (await readSource(undefined)) as StoredObject | null;
    const id = JSON.stringify(source);
    const cached = this.touch(id);
    // Taken before the call: bytes read by a GET sent at t are known current at t, not later.
    const askedAt = this.now();
    if (cached && askedAt - cached.checkedAt < cached.freshMs) return { ...cached.object, fetchMs: 0, originalsCache: 'hit' };
    const answer = await readSource(cached ? validatorsOf(cached.object) : undefined);
    if (answer && 'notModified' in answer) {
      // Still the same bytes, under the headers the 304 brought; kept unless it was evicted or replaced while the call was out.
      const object = { ...cached!.object, ...answer.updates };
      if (this.entries.get(id) === cached) {
        if (this.keeps(object)) Object.assign(cached!, { object, freshMs: this.freshnessOf(object), checkedAt: Math.max(cached!.checkedAt, askedAt) });
        else this.remove(id);
      }
      return { ...object, fetchMs: this.now() - askedAt, originalsCache: 'hit' };
    }
    if (!answer) {
      this.remove(id);
      return null;
    }
    this.store(id, answer, askedAt);
    return { ...answer, originalsCache: 'miss' };
  }

  /**
   * The original under `source` while its entry is fresh, as `read` would serve it, without
   * asking its source; undefined when there is no fresh entry (or the cache is off).
   */
  fresh(source: readonly string[]): StoredObject | undefined {
    const id = JSON.stringify(source);
    const cached = this.entries.get(id);
    if (!cached || this.now() - cached.checkedAt >= cached.freshMs) return undefined;
    this.touch(id);
    return { ...cached.object, fetchMs: 0, originalsCache: 'hit' };
  }

  /** How long an entry is served without asking: the cache's TTL, or less where the upstream says so. */
  private freshnessOf(object: StoredObject): number {
    return Math.max(0, Math.min(this.freshMs, object.upstreamMaxAgeMs ?? Infinity));
  }

  /**
   * Whether an original may be kept at all: never what the upstream marked `private` or
   * `no-store`; never one that could only ever be read again in full (no validator, no freshness).
   */
  private keeps(object: StoredObject): boolean {
    if (object.cacheControl) return false;
    return validatorsOf(object) !== undefined || this.freshnessOf(object) > 0;
  }

  /** The entry, now the most recently used. */
  private touch(id: string): CachedOriginal | undefined {
    const entry = this.entries.get(id);
    if (!entry) return undefined;
    // Re-inserting keeps the Map's order = least recently used first.
    this.entries.delete(id);
    this.entries.set(id, entry);
    return entry;
  }

  private store(id: string, object: StoredObject, checkedAt: number): void {
    // A slower call sent earlier (another path to the same key) does not replace newer bytes.
    if ((this.entries.get(id)?.checkedAt ?? -Infinity) > checkedAt) return;
    this.remove(id);
    const cost = OriginalCache.costOf(object, id);
    // Over the cap it would evict too much.
    if (!this.keeps(object) || cost > this.maxEntryBytes) return;
    // The body is kept as read (no copy): nothing downstream writes to it.
    this.entries.set(id, { object, checkedAt, freshMs: this.freshnessOf(object), cost });
    this.held += cost;
    for (const [oldest, entry] of this.entries) {
      if (this.held <= this.maxBytes) break;
      this.entries.delete(oldest);
      this.held -= entry.cost;
    }
  }

  private remove(id: string): void {
    const entry = this.entries.get(id);
    if (!entry) return;
    this.entries.delete(id);
    this.held -= entry.cost;
  }
}

/** The validator a revalidation is sent with: the ETag, else the Last-Modified; undefined when there is neither. */
function validatorsOf(object: StoredObject): Validators | undefined {
  const where = object.answeredBy === undefined ? {} : { url: object.answeredBy };
  if (object.etag) return { etag: object.etag, ...where };
  if (object.lastModified) return { lastModified: object.lastModified, ...where };
  return undefined;
}
