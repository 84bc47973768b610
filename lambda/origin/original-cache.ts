// The cache of originals (README "The cache of originals"): the files recently read from S3,
// kept in memory so that a srcset burst (one original at five widths) costs one GET. Bounded by
// bytes (least recently used goes first), on an injected clock; an entry is trusted for
// `freshMs` after S3 last vouched for it, then revalidated with a conditional GET.

import type { S3Client } from '@aws-sdk/client-s3';
import type { LimitsConfig, OriginConfig } from '../config';
import { getObject, getObjectIfChanged, NOT_MODIFIED } from './s3';
import type { StoredObject } from './types';

/** An original as read, and when S3 last vouched for its bytes. */
interface CachedOriginal {
  object: StoredObject;
  /** When the GET that vouched for the bytes (its 200 or its 304) was sent. */
  checkedAt: number;
  /** The memory it holds, in bytes (see `costOf`). */
  cost: number;
}

/** The keys, the object and the Map's own entry: small next to any image, counted all the same. */
const ENTRY_OVERHEAD_BYTES = 1024;

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
   * shared pool keeps the pool's 8 KiB slab alive) plus the overhead.
   */
  static costOf(object: StoredObject): number {
    return object.body.buffer.byteLength + ENTRY_OVERHEAD_BYTES;
  }

  /**
   * Reads `key` of `origin` through the cache: a fresh entry without asking S3; an entry past
   * its freshness with a conditional GET (a 304 reads no body and keeps the entry); else a GET,
   * whose result is kept when it has an ETag and fits.
   */
  async read(client: S3Client, origin: OriginConfig, key: string, limits: LimitsConfig): Promise<StoredObject | null> {
    if (this.maxBytes === 0) return getObject(client, origin, key, limits);
    const id = JSON.stringify([origin.name, origin.bucket, key]);
    const cached = this.touch(id);
    // Taken before the call: bytes read by a GET sent at t are known current at t, not later.
    const askedAt = this.now();
    if (cached && askedAt - cached.checkedAt < this.freshMs) return { ...cached.object, fetchMs: 0, originalsCache: 'hit' };
    const answer = cached?.object.etag
      ? await getObjectIfChanged(client, origin, key, limits, cached.object.etag)
      : await getObject(client, origin, key, limits);
    if (answer === NOT_MODIFIED) {
      // Still the same bytes; kept unless it was evicted or replaced while the call was out.
      if (this.entries.get(id) === cached) cached!.checkedAt = Math.max(cached!.checkedAt, askedAt);
      return { ...cached!.object, fetchMs: this.now() - askedAt, originalsCache: 'hit' };
    }
    if (!answer) {
      this.remove(id);
      return null;
    }
    this.store(id, answer, askedAt);
    return { ...answer, originalsCache: 'miss' };
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
    const cost = OriginalCache.costOf(object);
    // Without an ETag there is nothing to revalidate with; over the cap it would evict too much.
    if (!object.etag || cost > this.maxEntryBytes) return;
    // The body is kept as read (no copy): nothing downstream writes to it.
    this.entries.set(id, { object, checkedAt, cost });
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
