// README "Revalidation": a request with If-None-Match for an S3 original that is not in the cache
// of originals is first answered from the image's header alone (a ranged GET of its first
// 64 KiB); the original is read whole only when that does not settle it. Real s3rver behind the
// fault proxy, which records every request's Range and the bytes the server sent.

import sharp from 'sharp';
import { holdsWholeHeader, HEADER_PREFIX_BYTES } from '../lambda/image/header-prefix';
import { inspectInput } from '../lambda/image/pipeline';
import { parseConfig } from '../lambda/config';
import { BACKUP_BUCKET, CLOUD, backupOrigin } from './helpers/cloudinary-fixture';
import { startFaultProxy, type FaultProxy, type ProxiedRequest } from './helpers/fault-proxy';
import { headerReads } from './helpers/header-reads';
import { s3Origin, startHarness, type Harness, type HttpResult } from '../tools/harness';

const LIMITS = parseConfig({ origins: [{ name: 'm', type: 's3', bucket: 'b', region: 'us-east-1' }] }).limits;

/** Noise: a photograph's cost in bytes, so the file is well past the first 64 KiB. */
function noise(width: number, height: number, channels: 3 | 4): sharp.Sharp {
  return sharp({ create: { width, height, channels, background: { r: 90, g: 140, b: 200, alpha: 0.8 }, noise: { type: 'gaussian', mean: 128, sigma: 40 } } });
}

/** A JPEG whose markers before the first scan run past `bytes`: comment segments after SOI. */
function withLongHeader(jpeg: Buffer, bytes: number): Buffer {
  const segments: Buffer[] = [];
  for (let total = 0; total < bytes; total += 40_004) {
    const segment = Buffer.alloc(40_004, 0x41);
    segment.writeUInt16BE(0xfffe, 0); // COM
    segment.writeUInt16BE(40_002, 2);
    segments.push(segment);
  }
  return Buffer.concat([jpeg.subarray(0, 2), ...segments, jpeg.subarray(2)]);
}

let proxy: FaultProxy;
let cold: Harness; // the cache of originals off: every request reaches the bucket
let cached: Harness; // the shipped default: the cache of originals on
let tight: Harness; // the cache off, and a memory budget the original's size decides on
let strict: Harness; // the cache off, and a pixel limit wide.png is over
const files: Record<string, Buffer> = {};

beforeAll(async () => {
  files['photo.jpg'] = await noise(900, 700, 3).jpeg({ quality: 90 }).toBuffer();
  files['cutout.png'] = await noise(500, 400, 4).png().toBuffer();
  files['long-header.jpg'] = withLongHeader(await noise(300, 200, 3).jpeg().toBuffer(), HEADER_PREFIX_BYTES + 10_000);
  files['small.jpg'] = await noise(60, 40, 3).jpeg().toBuffer();
  files['photo.webp'] = await noise(600, 400, 3).webp({ quality: 90 }).toBuffer();
  files['empty.jpg'] = Buffer.alloc(0);
  files['wide.png'] = await noise(1500, 1200, 4).png().toBuffer(); // about 6.7 MB
  let endpoint = '';
  proxy = await startFaultProxy(() => endpoint);
  const start = (originalCacheMB: number, memoryBudgetMB?: number, maxInputPixels?: number) => startHarness({
    buckets: ['media', BACKUP_BUCKET],
    seed: async (s3) => {
      endpoint = s3.endpoint;
      for (const [key, body] of Object.entries(files)) await s3.put('media', key, body, key.endsWith('.png') ? 'image/png' : 'image/jpeg');
      for (const version of [1700000000, 1700000100]) await s3.put(BACKUP_BUCKET, `res/${CLOUD}/image/upload/shoe/${version}.jpg`, files['photo.jpg'], 'image/jpeg');
    },
    config: () => ({
      origins: [s3Origin({ endpoint: proxy.endpoint }, { name: 'media', bucket: 'media' }), backupOrigin(proxy.endpoint, { name: 'backup' })],
      endpoints: [{ prefix: '', origins: ['media'] }, { prefix: '/demo', origins: ['backup'], cloudinaryUrls: true }],
      output: { format: 'auto' },
      limits: { originalCacheMB, ...(memoryBudgetMB ? { memoryBudgetMB } : {}), ...(maxInputPixels ? { maxInputPixels } : {}) },
    }),
  });
  cold = await start(0);
  tight = await start(0, 194);
  cached = await start(64);
  strict = await start(0, undefined, 1_000_000);
  // The proxy forwards to the S3 server seeded last: both services read the same objects, with
  // the same ETags and Last-Modified, so an ETag one of them gave holds for the other.

});

afterAll(async () => {
  await cold?.close();
  await cached?.close();
  await tight?.close();
  await strict?.close();
  await proxy?.close();
});

beforeEach(() => {
  proxy.setRules([]);
  proxy.clear();
});

const AVIF = { accept: 'image/avif,image/webp,*/*' };
const reads = () => proxy.requests.filter((r: ProxiedRequest) => !r.list && r.method === 'GET');
const headersOf = (r: HttpResult) => Object.fromEntries(['etag', 'cache-control', 'vary', 'last-modified', 'content-security-policy'].map((name) => [name, r.headers.get(name)]));

/** The 200 a viewer got, then the same request revalidated with its ETag. */
async function revalidate(harness: Harness, path: string, etag?: string) {
  const first = await harness.get(path, AVIF);
  expect(first.status).toBe(200);
  proxy.clear();
  const again = await harness.get(path, { ...AVIF, 'if-none-match': etag ?? first.headers.get('etag')! });
  return { first, again };
}

describe('a revalidation read from the header alone (the cache of originals off)', () => {
  test.each([
    ['/tr:w-200/photo.jpg', 'JPEG'],
    ['/tr:w-200/cutout.png', 'PNG with alpha'],
    ['/photo.jpg', 'JPEG, no transformation'],
  ])('%s (%s): a 304 after one ranged GET of the first 64 KiB, with the headers of the 200', async (path) => {
    const { first, again } = await revalidate(cold, path);
    expect(again.status).toBe(304);
    expect(again.body.length).toBe(0);
    expect(headersOf(again)).toEqual(headersOf(first));
    expect(reads().map((r) => [r.range, r.status, r.bodyBytes])).toStrictEqual([[`bytes=0-${HEADER_PREFIX_BYTES - 1}`, 206, HEADER_PREFIX_BYTES]]);
  });

  test('a changed image (another ETag) gets its 200 after the ranged GET and one whole read: the same bytes as without If-None-Match', async () => {
    const { first, again } = await revalidate(cold, '/tr:w-200/photo.jpg', '"an-older-version"');
    expect(again.status).toBe(200);
    expect(again.body.equals(first.body)).toBe(true);
    expect(headersOf(again)).toEqual(headersOf(first));
    expect(reads().map((r) => [r.range, r.status])).toStrictEqual([[`bytes=0-${HEADER_PREFIX_BYTES - 1}`, 206], [undefined, 200]]);
  });

  test('the log line of a revalidation that read twice counts both reads', async () => {
    const serve = (headers: Record<string, string>) => cold.service.serve({ method: 'GET', rawPath: '/tr:w-200/photo.jpg', rawQuery: '', headers: { ...AVIF, ...headers } });
    const { record } = await serve({ 'if-none-match': '"an-older-version"' });
    expect(record.status).toBe(200);
    expect(record.bytesIn).toBe(HEADER_PREFIX_BYTES + files['photo.jpg'].length);
    expect(record.timings.fetch).toBeGreaterThan(0);
    const once = (await serve({ 'if-none-match': (await cold.get('/tr:w-200/photo.jpg', AVIF)).headers.get('etag')! })).record;
    expect([once.status, once.bytesIn]).toEqual([304, HEADER_PREFIX_BYTES]);
  });

  test('a header longer than 64 KiB is still answered 304, after a whole read', async () => {
    const { again } = await revalidate(cold, '/tr:w-100/long-header.jpg');
    expect(again.status).toBe(304);
    expect(reads().map((r) => r.range)).toStrictEqual([`bytes=0-${HEADER_PREFIX_BYTES - 1}`, undefined]);
  });

  test('a key not named as a JPEG or PNG is read whole at once: one GET, as before', async () => {
    const { again } = await revalidate(cold, '/tr:w-100/photo.webp');
    expect(again.status).toBe(304);
    expect(reads().map((r) => r.range)).toStrictEqual([undefined]);
  });

  test('a file shorter than 64 KiB arrives whole from the ranged GET: one read, for a 304 or a 200', async () => {
    expect((await revalidate(cold, '/tr:w-50/small.jpg')).again.status).toBe(304);
    expect(reads()).toHaveLength(1);
    const { first, again } = await revalidate(cold, '/tr:w-50/small.jpg', '"an-older-version"');
    expect([again.status, again.body.equals(first.body)]).toEqual([200, true]);
    expect(reads()).toHaveLength(1);
  });

  test('an empty object (S3 answers a ranged GET of it 416) is read whole and answered as without If-None-Match', async () => {
    const plain = await cold.get('/empty.jpg');
    proxy.setRules([{ fault: 'invalid-range', when: (r) => r.range !== undefined }]);
    proxy.clear();
    const again = await cold.get('/empty.jpg', { 'if-none-match': '"x"' });
    expect([again.status, again.headers.get('x-afterimage-error')]).toEqual([plain.status, plain.headers.get('x-afterimage-error')]);
    // The first answered by the rule (416), the second forwarded to the S3 server.
    expect(reads().map((r) => [r.range, r.status])).toStrictEqual([[`bytes=0-${HEADER_PREFIX_BYTES - 1}`, undefined], [undefined, 200]]);
  });

  test('a Cloudinary backup asset: the version resolved, then the ranged GET of that file', async () => {
    const { first, again } = await revalidate(cold, '/demo/image/upload/w_200/shoe.jpg');
    expect(again.status).toBe(304);
    expect(headersOf(again)).toEqual(headersOf(first));
    expect(reads().map((r) => [r.key, r.range])).toStrictEqual([[`res/${CLOUD}/image/upload/shoe/1700000100.jpg`, `bytes=0-${HEADER_PREFIX_BYTES - 1}`]]);
  });

  test('an empty object answered by s3rver as it is (a 206 announcing one byte it never sends) is not waited for', async () => {
    const plain = await cold.get('/empty.jpg');
    proxy.clear();
    const started = Date.now();
    const again = await cold.get('/empty.jpg', { 'if-none-match': '"x"' });
    expect([again.status, again.headers.get('x-afterimage-error')]).toEqual([plain.status, plain.headers.get('x-afterimage-error')]);
    expect(Date.now() - started).toBeLessThan(1000);
    expect(reads().map((r) => r.range)).toStrictEqual([`bytes=0-${HEADER_PREFIX_BYTES - 1}`]);
  });

  test('the cost model sees the whole file\'s size from the first bytes: a format chosen for the size is confirmed by one ranged GET', async () => {
    // The cost model counts the original's bytes: at a 194 MB budget this 6.7 MB PNG is too big for
    // AVIF at 1200 wide and steps down to WebP, where 64 KiB of it would still have fitted AVIF.
    const { first, again } = await revalidate(tight, '/tr:w-1200/wide.png');
    expect(first.headers.get('content-type')).toBe('image/webp');
    expect(again.status).toBe(304);
    expect(reads().map((r) => r.range)).toStrictEqual([`bytes=0-${HEADER_PREFIX_BYTES - 1}`]);
  });

  test('orig-true (served as stored) never reads a prefix', async () => {
    const { again } = await revalidate(cold, '/tr:orig-true/photo.jpg');
    expect(again.status).toBe(304);
    expect(reads().map((r) => r.range)).toStrictEqual([undefined]);
  });
});

describe('a whole read: the header is read from the first bytes while the rest arrives', () => {

  test.each([['a JPEG', '/tr:w-200/photo.jpg', 'photo.jpg'], ['a PNG', '/tr:w-200/cutout.png', 'cutout.png']])('%s: one header read, from fewer bytes than the file, and the same answer as from the whole file', async (_name, path, key) => {
    let answer: HttpResult | undefined;
    const { lengths } = await headerReads(async () => {
      answer = await cold.get(path, AVIF);
    });
    expect(answer!.status).toBe(200);
    expect(reads().map((r) => r.range)).toStrictEqual([undefined]); // one whole read
    expect(lengths).toHaveLength(1);
    expect(lengths[0]).toBeLessThan(files[key].length);
    // What the whole file's header says, and so the same format, ETag and pixels.
    const whole = await inspectInput(Buffer.from(files[key]), LIMITS);
    expect(answer!.headers.get('content-type')).toBe('image/avif');
    expect(await sharp(answer!.body).metadata()).toMatchObject({ width: 200, height: Math.round((200 * whole!.height) / whole!.width) });
    const again = await cold.get(path, { ...AVIF, 'if-none-match': answer!.headers.get('etag')! });
    expect(again.status).toBe(304); // the ETag from the early header is the one the header of the first 64 KiB gives
  });

  test('orig-true (served as stored) reads no header at all', async () => {
    const { lengths } = await headerReads(async () => expect((await cold.get('/tr:orig-true/photo.jpg')).status).toBe(200));
    expect(lengths).toStrictEqual([]);
  });
});

describe('an original over the pixel limit is refused from its header, not downloaded', () => {
  // wide.png: 1500x1200 (1.8 million pixels, about 6.7 MB); `strict` allows 1,000,000.
  /** The 422 the whole file gets from the header check after the read. */
  const wholeFileError = async () => {
    const failure = await inspectInput(Buffer.from(files['wide.png']), { ...LIMITS, maxInputPixels: 1_000_000 }).then(() => undefined, (error: Error & { code: string }) => error);
    return `${failure!.code} - ${failure!.message}`;
  };
  const overLimit = async (r: HttpResult) => {
    expect(r.status).toBe(422);
    expect(r.headers.get('x-afterimage-error')).toBe(await wholeFileError());
    expect(r.headers.get('x-afterimage-error')).toMatch(/^ELIMIT - .*1500x1200 = 1800000 pixels.*limits\.maxInputPixels/);
  };

  test('the 422 comes with the read cut after its first bytes', async () => {
    const refused = await strict.get('/tr:w-200/wide.png', AVIF);
    await overLimit(refused);
    expect(refused.headers.get('server-timing')).toMatch(/^lookup;dur=[\d.]+, total;dur=[\d.]+$/);
    // The proxy sees the connection close a moment after the service has answered.
    for (let waited = 0; reads()[0]?.cut === undefined && waited < 5_000; waited += 10) await new Promise((resolve) => setTimeout(resolve, 10));
    const [read] = reads();
    expect(reads()).toHaveLength(1);
    expect(read.range).toBeUndefined(); // a whole read, cut
    expect(read.cut).toBe(true);
    expect(read.forwardedBytes).toBeLessThan(files['wide.png'].length / 2);
  });

  test('the same answer as when the header is read from the whole file: a revalidation (a prefix read) gets it too', async () => {
    await overLimit(await strict.get('/tr:w-200/wide.png', { ...AVIF, 'if-none-match': '"anything"' }));
    expect(reads()[0].range).toBe(`bytes=0-${HEADER_PREFIX_BYTES - 1}`);
  });

  test('orig-true, served as stored without a header read, is not refused, even while a refused read of the same file is under way', async () => {
    const [refused, stored] = await Promise.all([strict.get('/tr:w-200/wide.png', AVIF), strict.get('/tr:orig-true/wide.png')]);
    await overLimit(refused);
    expect(stored.status).toBe(200);
    expect(stored.body.equals(files['wide.png'])).toBe(true);
  });

  test("a missing layer's 404 still comes before the refusal, as when the header is checked after the read", async () => {
    const missing = await strict.get('/tr:l-image,i-nolayer.png,l-end/wide.png', AVIF);
    expect(missing.status).toBe(404);
    expect(missing.headers.get('x-afterimage-error')).toMatch(/^ENOENT - No origin of this endpoint has the layer image "nolayer\.png"/);
    await overLimit(await strict.get('/tr:l-image,i-small.jpg,l-end/wide.png', AVIF)); // layers there: the refusal
  });

  test('under the limit, the same file is read whole and rendered', async () => {
    const answer = await cold.get('/tr:w-200/wide.png', AVIF);
    expect(answer.status).toBe(200);
    expect(reads().map((r) => [r.cut, r.bodyBytes])).toStrictEqual([[undefined, files['wide.png'].length]]);
  });
});

describe('with the cache of originals on', () => {
  test('a file in the cache is answered from it, never ranged; a file not in it is ranged and not kept', async () => {
    const { again } = await revalidate(cached, '/tr:w-120/photo.jpg');
    expect(again.status).toBe(304);
    expect(reads()).toStrictEqual([]); // fresh in the cache: no request at all

    proxy.clear();
    const etag = (await cold.get('/tr:w-120/cutout.png', AVIF)).headers.get('etag')!;
    proxy.clear();
    expect((await cached.get('/tr:w-120/cutout.png', { ...AVIF, 'if-none-match': etag })).status).toBe(304);
    expect(reads().map((r) => r.range)).toStrictEqual([`bytes=0-${HEADER_PREFIX_BYTES - 1}`]);
    // The 64 KiB were not kept as the original: the next render reads the file whole, once.
    proxy.clear();
    expect((await cached.get('/tr:w-120/cutout.png', AVIF)).status).toBe(200);
    expect(reads().map((r) => [r.range, r.status])).toStrictEqual([[undefined, 200]]);
  });
});

describe('the header read from the first bytes is the header read from the whole file', () => {
  async function variants(): Promise<[string, Buffer][]> {
    const photo = () => noise(320, 240, 3);
    const cutout = () => noise(320, 240, 4);
    return [
      ['baseline JPEG', await photo().jpeg().toBuffer()],
      ['progressive JPEG', await photo().jpeg({ progressive: true }).toBuffer()],
      ['JPEG, EXIF orientation 6', await photo().jpeg().withMetadata({ orientation: 6 }).toBuffer()],
      ['JPEG with a P3 profile', await photo().withIccProfile('p3').jpeg().toBuffer()],
      ['CMYK JPEG', await photo().toColourspace('cmyk').jpeg().toBuffer()],
      ['greyscale JPEG', await photo().greyscale().jpeg().toBuffer()],
      ['JPEG 4:4:4', await photo().jpeg({ chromaSubsampling: '4:4:4' }).toBuffer()],
      ['RGBA PNG', await cutout().png().toBuffer()],
      ['RGB PNG', await photo().png().toBuffer()],
      ['palette PNG with transparency', await cutout().png({ palette: true }).toBuffer()],
      ['grey PNG', await photo().greyscale().png().toBuffer()],
      ['grey PNG with alpha', await cutout().toColourspace('b-w').png().toBuffer()],
      ['16-bit PNG', await photo().toColourspace('rgb16').png().toBuffer()],
      ['interlaced PNG', await cutout().png({ progressive: true }).toBuffer()],
    ];
  }

  /** The shortest prefix that holds the whole header. */
  function shortestPrefix(file: Buffer): Buffer {
    for (let length = 8; length <= file.length; length++) if (holdsWholeHeader(file.subarray(0, length))) return file.subarray(0, length);
    throw new Error('no prefix holds the header');
  }

  test('for every JPEG and PNG variant, from the shortest prefix that holds the header', async () => {
    for (const [name, file] of await variants()) {
      const prefix = shortestPrefix(file);
      expect({ name, shorter: prefix.length < file.length }).toEqual({ name, shorter: true });
      expect({ name, header: await inspectInput(prefix, LIMITS) }).toEqual({ name, header: await inspectInput(file, LIMITS) });
    }
  });

  test('anything else is never taken for a whole header', async () => {
    expect(holdsWholeHeader(await noise(64, 64, 3).webp().toBuffer())).toBe(false);
    expect(holdsWholeHeader(await noise(64, 64, 3).gif().toBuffer())).toBe(false);
    expect(holdsWholeHeader(Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"/>'))).toBe(false);
    expect(holdsWholeHeader(Buffer.from([0xff, 0xd8, 0xff, 0xd9]))).toBe(false); // SOI, EOI: no scan
    expect(holdsWholeHeader(Buffer.alloc(0))).toBe(false);
  });

  test('the marker walk: fill bytes pass; a stray byte, a JPEG with more pictures (MPF, UltraHDR), IEND first or a chunk past the end do not', async () => {
    const jpeg = await noise(32, 32, 3).jpeg().toBuffer();
    expect(holdsWholeHeader(jpeg)).toBe(true);
    // Fill bytes (0xFF) before a marker are allowed.
    expect(holdsWholeHeader(Buffer.concat([jpeg.subarray(0, 2), Buffer.from([0xff, 0xff]), jpeg.subarray(2)]))).toBe(true);
    // A byte that is no marker where one must be.
    expect(holdsWholeHeader(Buffer.concat([jpeg.subarray(0, 2), Buffer.from([0xff, 0xe0, 0x00, 0x04, 0x00, 0x00, 0x12]), jpeg.subarray(2)]))).toBe(false);
    // An APP2 segment naming MPF (the multi-picture format UltraHDR's gain map uses).
    const mpf = Buffer.from([0xff, 0xe2, 0x00, 0x0a, 0x4d, 0x50, 0x46, 0x00, 0x4d, 0x4d, 0x00, 0x2a]);
    expect(holdsWholeHeader(Buffer.concat([jpeg.subarray(0, 2), mpf, jpeg.subarray(2)]))).toBe(false);
    const png = await noise(32, 32, 4).png().toBuffer();
    expect(holdsWholeHeader(png)).toBe(true);
    const iend = Buffer.from([0, 0, 0, 0, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82]);
    expect(holdsWholeHeader(Buffer.concat([png.subarray(0, 33), iend, png.subarray(33)]))).toBe(false);
    const huge = Buffer.from([0x7f, 0xff, 0xff, 0xff, 0x74, 0x45, 0x58, 0x74]); // a tEXt chunk 2 GB long
    expect(holdsWholeHeader(Buffer.concat([png.subarray(0, 33), huge, png.subarray(33)]))).toBe(false);
  });
});
