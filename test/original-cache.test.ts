// README "The cache of originals": a srcset burst costs one S3 GET, a changed original is served
// within cache.originalTtlSeconds, the cache is bounded by bytes and comes out of the memory
// budget. A real s3rver over HTTP, with a proxy in front of it counting the requests that reach it;
// and which concurrent reads of one file share one origin call.

import sharp from 'sharp';
import { ConfigError, parseConfig, type AfterimageConfigInput, type OriginConfig } from '../lambda/config';
import { affordableFormat, estimateCost } from '../lambda/image/cost';
import { CoalescingOrigin } from '../lambda/origin/coalescing';
import { ENTRY_FRACTION, OriginalCache } from '../lambda/origin/original-cache';
import type { ArrivalWatcher } from '../lambda/origin/reading';
import type { Origin, ReadOptions } from '../lambda/origin/types';
import { ImageService, type ServiceResponse } from '../lambda/service/image-service';
import { startEmbeddedS3, type EmbeddedS3 } from '../local/embedded-s3';
import { SAMPLE_BUCKET } from '../local/samples';
import { sampleConfig } from '../local/start';
import { decode, s3Origin, solidImage } from '../tools/harness';
import { BACKUP_BUCKET, GREEN, RED, UPLOAD, backupOrigin, expectColour } from './helpers/cloudinary-fixture';
import { startFaultProxy, type FaultProxy, type ProxiedRequest } from './helpers/fault-proxy';
import { measureCacheMemory, seedCacheMemoryJob } from '../tools/cache-memory';

const BUCKET = 'originals';
const WIDTHS = [320, 640, 960, 1280, 1920];
const TTL_SECONDS = 10;

let s3: EmbeddedS3;
let proxy: FaultProxy;
let now = 1_000_000;

beforeAll(async () => {
  s3 = await startEmbeddedS3([BUCKET, BACKUP_BUCKET, SAMPLE_BUCKET]);
  proxy = await startFaultProxy(s3.endpoint);
});

afterAll(async () => {
  await proxy.close();
  await s3.close();
});

beforeEach(() => proxy.clear());

/** A service over the counting proxy, on the test's clock. */
function service(input: Partial<AfterimageConfigInput> = {}): ImageService {
  return new ImageService(
    parseConfig({ origins: [s3Origin(proxy, { name: 'originals', bucket: BUCKET })], cache: { originalTtlSeconds: TTL_SECONDS }, ...input }),
    { now: () => now },
  );
}

function get(images: ImageService, path: string, headers: Record<string, string> = {}): Promise<ServiceResponse> {
  return images.handle({ method: 'GET', rawPath: path, rawQuery: '', headers });
}

/** The object reads (not listings) that reached the S3 server for `key`. */
function reads(key: string): ProxiedRequest[] {
  return proxy.requests.filter((r) => r.method === 'GET' && !r.list && r.key === key);
}

/** Noise (it barely compresses), so the stored file is about `side`² × 3 bytes at quality 100. */
function noiseJpeg(side: number, seed = 0): Promise<Buffer> {
  return sharp({ create: { width: side, height: side, channels: 3, background: { r: seed, g: 0, b: 0 }, noise: { type: 'gaussian', mean: 128, sigma: 80 } } })
    .jpeg({ quality: 100 })
    .toBuffer();
}

async function until(condition: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function burst(images: ImageService, key: string, concurrently = false): Promise<ServiceResponse[]> {
  const one = (w: number) => get(images, `/tr:w-${w},f-jpg/${key}`);
  if (concurrently) return Promise.all(WIDTHS.map(one));
  const answers: ServiceResponse[] = [];
  for (const w of WIDTHS) answers.push(await one(w));
  return answers;
}

describe('a srcset burst costs one S3 GET', () => {
  it('five widths one after another: one GET, five renders', async () => {
    await s3.put(BUCKET, 'burst/one-by-one.jpg', await solidImage(1000, 650, RED), 'image/jpeg');
    const answers = await burst(service(), 'burst/one-by-one.jpg');
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 200, 200]);
    expect(await Promise.all(answers.map(async (a) => (await decode(a.body)).width))).toEqual(WIDTHS);
    expect(reads('burst/one-by-one.jpg')).toHaveLength(1);
  });

  it('five widths at once: one GET (coalesced above the cache)', async () => {
    await s3.put(BUCKET, 'burst/at-once.jpg', await solidImage(1000, 650, RED), 'image/jpeg');
    const answers = await burst(service(), 'burst/at-once.jpg', true);
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 200, 200]);
    expect(reads('burst/at-once.jpg')).toHaveLength(1);
  });

  it("each request's record says whether the cache answered (the log line's and metrics' originalsCache)", async () => {
    await s3.put(BUCKET, 'burst/recorded.jpg', await solidImage(1000, 650, RED), 'image/jpeg');
    const images = service();
    const served = [];
    for (const w of WIDTHS.slice(0, 3)) served.push(await images.serve({ method: 'GET', rawPath: `/tr:w-${w}/burst/recorded.jpg`, rawQuery: '', headers: {} }));
    expect(served.map((s) => s.record.originalsCache)).toEqual(['miss', 'hit', 'hit']);
    expect(served[1].record.timings.fetch).toBe(0);
  });

  it('with the cache turned off (limits.originalCacheMB 0), one GET a width', async () => {
    await s3.put(BUCKET, 'burst/uncached.jpg', await solidImage(1000, 650, RED), 'image/jpeg');
    await burst(service({ limits: { originalCacheMB: 0 } }), 'burst/uncached.jpg');
    expect(reads('burst/uncached.jpg')).toHaveLength(5);
  });

  it('one cache for every endpoint and origin of the process: the same key through two endpoints is one GET', async () => {
    await s3.put(BUCKET, 'burst/two-endpoints.jpg', await solidImage(100, 60, RED), 'image/jpeg');
    const images = service({ endpoints: [{ prefix: '', origins: ['originals'] }, { prefix: '/other', origins: ['originals'] }] });
    expect((await get(images, '/tr:w-50/burst/two-endpoints.jpg')).status).toBe(200);
    expect((await get(images, '/other/tr:w-40/burst/two-endpoints.jpg')).status).toBe(200);
    expect(reads('burst/two-endpoints.jpg')).toHaveLength(1);
  });
});

describe('locally (npm start) the same cache works with the local configuration', () => {
  it('the sample setup: a burst is one GET', async () => {
    await s3.put(SAMPLE_BUCKET, 'local/burst.jpg', await solidImage(1000, 650, RED), 'image/jpeg');
    const images = new ImageService(parseConfig(sampleConfig(proxy.endpoint)));
    expect(images.originals.maxBytes).toBe(256 * 2 ** 20);
    const answers = await burst(images, 'local/burst.jpg');
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 200, 200]);
    expect(reads('local/burst.jpg')).toHaveLength(1);
  });
});

describe('a cached original is current within cache.originalTtlSeconds', () => {
  it('serves new bytes once the entry is older than the TTL (a conditional GET answered 200)', async () => {
    const images = service();
    await s3.put(BUCKET, 'fresh/changing.jpg', await solidImage(60, 40, RED), 'image/jpeg');
    await expectColour((await get(images, '/tr:w-30/fresh/changing.jpg')).body, RED);
    await s3.put(BUCKET, 'fresh/changing.jpg', await solidImage(60, 40, GREEN), 'image/jpeg');

    // Within the TTL the cached bytes are served without asking: the documented staleness.
    now += (TTL_SECONDS - 1) * 1000;
    await expectColour((await get(images, '/tr:w-30/fresh/changing.jpg')).body, RED);
    expect(reads('fresh/changing.jpg')).toHaveLength(1);

    now += 1000;
    const changed = await get(images, '/tr:w-30/fresh/changing.jpg');
    await expectColour(changed.body, GREEN);
    const [, revalidation] = reads('fresh/changing.jpg');
    expect(revalidation.status).toBe(200);
    // And the new bytes are what is cached now.
    await expectColour((await get(images, '/tr:w-20/fresh/changing.jpg')).body, GREEN);
    expect(reads('fresh/changing.jpg')).toHaveLength(2);
  });

  it('an unchanged original past the TTL costs a 304 with no body, and is trusted for another TTL', async () => {
    const images = service();
    await s3.put(BUCKET, 'fresh/same.jpg', await solidImage(60, 40, RED), 'image/jpeg');
    const first = await get(images, '/tr:w-30/fresh/same.jpg');
    now += TTL_SECONDS * 1000;
    const again = await get(images, '/tr:w-30/fresh/same.jpg');
    expect(again.status).toBe(200);
    expect(again.headers.etag).toBe(first.headers.etag);
    await expectColour(again.body, RED);
    const [read, revalidation] = reads('fresh/same.jpg');
    expect(read).toMatchObject({ status: 200 });
    expect(read.bodyBytes).toBeGreaterThan(0);
    expect(revalidation).toMatchObject({ status: 304, bodyBytes: 0 });
    now += (TTL_SECONDS - 1) * 1000;
    await get(images, '/tr:w-30/fresh/same.jpg');
    expect(reads('fresh/same.jpg')).toHaveLength(2);
  });

  it("a client's If-None-Match is answered 304 from the cached original, without a GET", async () => {
    const images = service();
    await s3.put(BUCKET, 'fresh/client-304.jpg', await solidImage(60, 40, RED), 'image/jpeg');
    const first = await get(images, '/tr:w-30/fresh/client-304.jpg');
    const revalidated = await get(images, '/tr:w-30/fresh/client-304.jpg', { 'if-none-match': first.headers.etag });
    expect(revalidated.status).toBe(304);
    expect(reads('fresh/client-304.jpg')).toHaveLength(1);
  });

  it('a deleted original is a 404 once the TTL has passed', async () => {
    const images = service();
    await s3.put(BUCKET, 'fresh/deleted.jpg', await solidImage(60, 40, RED), 'image/jpeg');
    expect((await get(images, '/fresh/deleted.jpg')).status).toBe(200);
    const { DeleteObjectCommand } = await import('@aws-sdk/client-s3');
    await s3.client.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: 'fresh/deleted.jpg' }));
    expect((await get(images, '/fresh/deleted.jpg')).status).toBe(200);
    now += TTL_SECONDS * 1000;
    expect((await get(images, '/fresh/deleted.jpg')).status).toBe(404);
    now += 1000;
    expect((await get(images, '/fresh/deleted.jpg')).status).toBe(404);
    expect(reads('fresh/deleted.jpg')).toHaveLength(3);
  });

  it('cache.originalTtlSeconds 0: every request asks S3, but an unchanged original is a 304 without a body', async () => {
    const images = service({ cache: { originalTtlSeconds: 0 } });
    await s3.put(BUCKET, 'fresh/always.jpg', await solidImage(60, 40, RED), 'image/jpeg');
    await get(images, '/tr:w-30/fresh/always.jpg');
    await get(images, '/tr:w-20/fresh/always.jpg');
    expect(reads('fresh/always.jpg').map((r) => r.status)).toEqual([200, 304]);
  });
});

describe('bounded by bytes (limits.originalCacheMB), least recently used first', () => {
  // A 1 MB cache keeps originals of up to 128 KiB (an eighth).
  const limits = { originalCacheMB: 1 };

  it('evicts the least recently used original when the bytes are over the limit', async () => {
    const images = service({ limits });
    const file = await noiseJpeg(160);
    const cost = OriginalCache.costOf({ body: file, key: '', origin: undefined as never });
    expect(cost).toBeLessThan(2 ** 20 / ENTRY_FRACTION);
    const fits = Math.floor(2 ** 20 / cost);
    const keys = Array.from({ length: fits + 1 }, (_, i) => `lru/${i}.jpg`);
    await Promise.all(keys.map((key) => s3.put(BUCKET, key, file, 'image/jpeg')));

    for (const key of keys.slice(0, fits)) await get(images, `/tr:w-10/${key}`);
    expect(images.originals.size).toBe(fits);
    expect(images.originals.bytes).toBe(fits * cost);
    // Used again: now the most recent, so the second one is the oldest.
    await get(images, `/tr:w-10/${keys[0]}`);
    await get(images, `/tr:w-10/${keys[fits]}`);
    expect(images.originals.bytes).toBeLessThanOrEqual(2 ** 20);
    proxy.clear();
    await get(images, `/tr:w-10/${keys[0]}`);
    await get(images, `/tr:w-10/${keys[fits]}`);
    expect(proxy.requests).toHaveLength(0);
    await get(images, `/tr:w-10/${keys[1]}`);
    expect(reads(keys[1])).toHaveLength(1);
  });

  it('does not keep an original over an eighth of the cache', async () => {
    const images = service({ limits });
    const big = await noiseJpeg(400);
    expect(big.length).toBeGreaterThan(2 ** 20 / ENTRY_FRACTION);
    await s3.put(BUCKET, 'cap/big.jpg', big, 'image/jpeg');
    await s3.put(BUCKET, 'cap/small.jpg', await noiseJpeg(100), 'image/jpeg');
    for (const w of [40, 30]) {
      await get(images, `/tr:w-${w}/cap/big.jpg`);
      await get(images, `/tr:w-${w}/cap/small.jpg`);
    }
    expect(reads('cap/big.jpg')).toHaveLength(2);
    expect(reads('cap/small.jpg')).toHaveLength(1);
  });

  it('counts long keys and URLs: many small files at long URLs cannot hold far more than the bound', async () => {
    const body = Buffer.alloc(5000);
    const short = { body, key: 'a.jpg', origin: undefined as never };
    const url = `https://images.example.org/${'x'.repeat(7800)}`;
    const long = { body, key: url, answeredBy: url, origin: undefined as never };
    expect(OriginalCache.costOf(short, '["web","w","a.jpg"]')).toBe(body.buffer.byteLength + 1024);
    // The URL is held three times (the entry's id, the key, the answering URL), two bytes a character at most.
    expect(OriginalCache.costOf(long, JSON.stringify(['fetch', '/f', url]))).toBeGreaterThanOrEqual(body.buffer.byteLength + 1024 + 2 * 3 * 7800 - 2 * 256);
    // Through the cache: a 1 MB cache holds 5 KB files at such URLs by their whole cost, not 6 KB each.
    const cache = new OriginalCache(2 ** 20, 10_000, () => 0);
    for (let i = 0; i < 100; i++) {
      const at = `${url}?${i}`;
      await cache.read(['fetch', '/f', at], async () => ({ body: Buffer.alloc(5000), key: at, answeredBy: at, etag: `"${i}"`, origin: undefined as never }));
    }
    expect(cache.bytes).toBeLessThanOrEqual(2 ** 20);
    expect(cache.size).toBeLessThan(Math.floor(2 ** 20 / (5000 + 1024 + 3 * 2 * 7800 - 512)) + 1);
  });

  it('counts what a body keeps alive: a small body read into Node\'s shared pool holds the pool\'s slab', () => {
    const pooled = Buffer.from('tiny');
    expect(pooled.buffer.byteLength).toBeGreaterThan(pooled.length);
    expect(OriginalCache.costOf({ body: pooled, key: 'k', origin: undefined as never })).toBe(pooled.buffer.byteLength + 1024);
  });
});

describe('the Cloudinary backup layout reads through the cache', () => {
  const asset = `${UPLOAD}/cached/shoe`;

  it('a burst costs one listing and one GET; a new version is served once the resolution expires', async () => {
    await s3.put(BACKUP_BUCKET, `${asset}/1600000000.jpg`, await solidImage(1000, 650, RED), 'image/jpeg');
    const images = new ImageService(
      parseConfig({
        origins: [backupOrigin(proxy.endpoint, { name: 'backup' })],
        endpoints: [{ prefix: '/cld', origins: ['backup'], cloudinaryUrls: true }],
        cache: { resolutionTtlSeconds: 60, originalTtlSeconds: TTL_SECONDS },
      }),
      { now: () => now },
    );
    const url = (w: number) => `/cld/image/upload/w_${w},f_jpg/cached/shoe.jpg`;
    for (const w of WIDTHS) expect((await get(images, url(w))).status).toBe(200);
    expect(proxy.requests.filter((r) => r.list)).toHaveLength(1);
    expect(reads(`${asset}/1600000000.jpg`)).toHaveLength(1);

    await s3.put(BACKUP_BUCKET, `${asset}/1700000000.jpg`, await solidImage(1000, 650, GREEN), 'image/jpeg');
    now += 30_000;
    // The resolution still names the old version (its own TTL); its original is revalidated: a 304.
    await expectColour((await get(images, url(320))).body, RED);
    expect(reads(`${asset}/1600000000.jpg`).map((r) => r.status)).toEqual([200, 304]);
    now += 31_000;
    await expectColour((await get(images, url(320))).body, GREEN);
    await expectColour((await get(images, url(640))).body, GREEN);
    expect(reads(`${asset}/1700000000.jpg`)).toHaveLength(1);
  });
});

describe('two paths to one key (a Cloudinary version marker and none)', () => {
  it('an older read that finishes last does not replace the newer bytes', async () => {
    const key = `${UPLOAD}/race/1600000000.jpg`;
    await s3.put(BACKUP_BUCKET, key, await solidImage(60, 40, RED), 'image/jpeg');
    const images = new ImageService(
      parseConfig({ origins: [backupOrigin(proxy.endpoint, { name: 'backup' })], cache: { originalTtlSeconds: TTL_SECONDS } }),
      { now: () => now },
    );
    // The first read gets its headers and first bytes, then its body is held back.
    let held = true;
    proxy.setRules([{ fault: 'stall-body', delayMs: 1500, when: (r) => !r.list && held }]);
    const older = get(images, '/image/upload/race.jpg');
    await until(() => reads(key).some((r) => r.status === 200));
    held = false;
    proxy.setRules([]);
    await s3.put(BACKUP_BUCKET, key, await solidImage(60, 40, GREEN), 'image/jpeg');
    now += 1;
    await expectColour((await get(images, '/image/upload/v1600000000/race.jpg')).body, GREEN);
    await expectColour((await older).body, RED);
    // Within the TTL, the cache holds the newer bytes.
    await expectColour((await get(images, '/image/upload/race.jpg')).body, GREEN);
    expect(reads(key)).toHaveLength(2);
  });
});

describe('limits.originalCacheMB comes out of limits.memoryBudgetMB', () => {
  const origins = [{ name: 'o', type: 's3', bucket: 'b' }];

  it('defaults to 256 MB of the default 1228 MB budget, and to a quarter of the budget above 128 MB when that is less', () => {
    expect(parseConfig({ origins }).limits).toMatchObject({ memoryBudgetMB: 1228, originalCacheMB: 256 });
    expect(parseConfig({ origins }, { memorySizeMB: 512 }).limits).toMatchObject({ memoryBudgetMB: 409, originalCacheMB: 70 });
    expect(parseConfig({ origins, limits: { memoryBudgetMB: 128 } }).limits.originalCacheMB).toBe(0);
  });

  it('refuses a cache that would leave a render less than the cache, with what would fit', () => {
    expect(() => parseConfig({ origins, limits: { originalCacheMB: 600 } }, { target: 'lambda', memorySizeMB: 1536 })).toThrow(
      new ConfigError([
        'limits.originalCacheMB (600 MB) does not fit in limits.memoryBudgetMB (1228 MB): the cache comes out of the budget, and at most 550 MB ' +
          '(half of the budget above the 128 MB the process needs) may go to it, so that a render keeps the rest. ' +
          "Lower limits.originalCacheMB, or raise limits.memoryBudgetMB (in Lambda: the function's memorySize)",
      ]),
    );
    expect(parseConfig({ origins, limits: { originalCacheMB: 550 } }).limits.originalCacheMB).toBe(550);
  });

  it('holds a render to the budget less the cache, and says so', () => {
    const input = { format: 'jpeg', width: 4000, height: 4000, pages: 1, animated: false, hasAlpha: false, channels: 3, bytesPerSample: 1, progressive: false, bytes: 4_000_000 };
    const steps = [{ blur: 10 }, { blur: 10 }];
    const needs = Math.ceil(estimateCost(input, steps, {}, 'jpeg').memoryMiB);
    const request = (originalCacheMB: number) => ({
      input,
      steps,
      output: {},
      decision: { format: 'jpeg' as const, negotiated: false },
      limits: { ...parseConfig({ origins }).limits, memoryBudgetMB: needs + 50, originalCacheMB },
    });
    // Within the budget alone, not within the budget less a 100 MB cache.
    expect(affordableFormat(request(0))).toBe('jpeg');
    expect(() => affordableFormat(request(100))).toThrow(
      `would need about ${needs} MB at peak; the budget is ${needs - 50} MB (limits.memoryBudgetMB ${needs + 50} less limits.originalCacheMB 100)`,
    );
  });
});

describe('a full cache and the worst request the limits allow stay within limits.memoryBudgetMB (VmHWM of a child process)', () => {
  // At full scale with the default limits (a 1536 MB function: a 1228 MB budget, 256 MB of it for
  // the cache). The child fills its cache from the S3 server, then serves the largest input the
  // model allows the heaviest chain with the 972 MB left, and reads its peak, everything included.
  it('a progressive JPEG under rt-45:bl-20:e-contrast, with 256 MB of originals cached', async () => {
    const limits = parseConfig({ origins: [{ name: 'o', type: 's3', bucket: 'b' }] }).limits;
    expect(limits).toMatchObject({ memoryBudgetMB: 1228, originalCacheMB: 256 });
    const job = await seedCacheMemoryJob(s3, BUCKET, { kind: 'jpeg-progressive', chain: 'rt-45:bl-20:e-contrast,f-jpg', limits: { originalCacheMB: 256 } });
    // Time is not what is measured here: a busy machine must not turn the answer into a 503.
    const result = await measureCacheMemory({ ...job, limits: { ...job.limits, requestTimeoutMs: 600_000 } });
    expect(result).toMatchObject({ status: 200, contentType: 'image/jpeg' });
    // The cache really was full while the request ran.
    expect(result.cachedBytes).toBeGreaterThan(0.95 * 256 * 2 ** 20);
    expect(result.cachedBytes).toBeLessThanOrEqual(256 * 2 ** 20);
    expect(result.peakMiB).toBeLessThanOrEqual(limits.memoryBudgetMB);
  }, 180_000);
});

describe('coalescing: which reads of one file share an origin call (lambda/origin/coalescing.ts)', () => {
  /** An origin whose calls stay open until released; counts them, with the options each was given. */
  function heldOrigin() {
    const calls: (ReadOptions | undefined)[] = [];
    let release!: () => void;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    const origin: Origin = {
      config: { name: 'held', type: 's3', bucket: 'b' } as OriginConfig,
      async fetch(path, options) {
        calls.push(options);
        await held;
        return { body: Buffer.from(path), key: path, origin: origin.config };
      },
    };
    return { origin, calls, release };
  }
  const watch: ArrivalWatcher = () => true;

  it('reads for a render (watched) share one call; a read of the file as stored (orig-true) never joins them, since a watcher may refuse the file', async () => {
    const { origin, calls, release } = heldOrigin();
    const coalescing = new CoalescingOrigin(origin);
    const reads = [coalescing.fetch('a.jpg', { onArrival: watch }), coalescing.fetch('a.jpg', { onArrival: watch }), coalescing.fetch('a.jpg'), coalescing.fetch('a.jpg')];
    expect(coalescing.pending).toBe(2);
    release();
    await Promise.all(reads);
    expect(calls.map((options) => options?.onArrival !== undefined)).toEqual([true, false]);
  });

  it('a read of the first bytes shares only with reads of as many', async () => {
    const { origin, calls, release } = heldOrigin();
    const coalescing = new CoalescingOrigin(origin);
    const reads = [coalescing.fetch('a.jpg', { prefixBytes: 65_536, onArrival: watch }), coalescing.fetch('a.jpg', { onArrival: watch }), coalescing.fetch('a.jpg', { prefixBytes: 65_536 })];
    release();
    await Promise.all(reads);
    expect(calls.map((options) => options?.prefixBytes)).toEqual([65_536, undefined]);
  });
});
