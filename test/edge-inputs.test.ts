// README "Decisions and details": inputs at the edges. Images too small for an operation still render; a file
// sharp reports as truncated or corrupt is a quick 422 (no decode of the size it declares);
// valid files that are merely unusual still render. Real files, made and cut from sharp's own.

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { decode, s3Origin, solidImage, startHarness, type Harness } from '../tools/harness';
import { measurePeakRss } from '../tools/peak-rss';

const BUCKET = 'inputs';
const RED = { r: 255, g: 0, b: 0 };
let h: Harness;

/** A JPEG's start of scan: where its entropy-coded data begins. */
function scanStart(jpeg: Buffer): number {
  let i = 2;
  while (jpeg[i] === 0xff) {
    const length = jpeg.readUInt16BE(i + 2);
    if (jpeg[i + 1] === 0xda) return i + 2 + length;
    i += 2 + length;
  }
  throw new Error('no start of scan');
}

const EOI = Buffer.from([0xff, 0xd9]);

/** The damaged files: each is cut from, or broken in, a JPEG sharp made. */
const damaged: Record<string, Buffer> = {};
/** Valid files that are unusual in some way, with the size they display at. */
const unusual: Record<string, Buffer> = {};

beforeAll(async () => {
  const big = await sharp({ create: { width: 7000, height: 7000, channels: 3, background: { r: 10, g: 200, b: 30 } } }).jpeg().toBuffer();
  const bigProgressive = await sharp({ create: { width: 7000, height: 7000, channels: 3, background: { r: 10, g: 200, b: 30 } } }).jpeg({ progressive: true }).toBuffer();
  const scan = scanStart(big);
  // 267 bytes declaring 7000x7000: the headers and a few bytes of scan data.
  damaged['cut.jpg'] = big.subarray(0, 267);
  // The same cut, closed with an end-of-image marker: libjpeg only warns, then decodes 49 megapixels of nothing.
  damaged['cut-closed.jpg'] = Buffer.concat([big.subarray(0, 265), EOI]);
  damaged['cut-closed-progressive.jpg'] = Buffer.concat([bigProgressive.subarray(0, 400), EOI]);
  // Scan data overwritten in the middle: the rest of the file is there.
  const overwritten = Buffer.from(big);
  overwritten.fill(0x55, scan + 1000, scan + 3000);
  damaged['overwritten.jpg'] = overwritten;

  const photo = sharp({ create: { width: 120, height: 80, channels: 3, background: { r: 30, g: 60, b: 200 } } });
  const jpeg = await photo.clone().jpeg().toBuffer();
  // "Corrupt JPEG data: 2 extraneous bytes before marker 0xdb": a warning that loses no pixel.
  unusual['stray-bytes.jpg'] = Buffer.concat([jpeg.subarray(0, 71), Buffer.from([0x00, 0x11]), jpeg.subarray(71)]);
  unusual['trailing-garbage.jpg'] = Buffer.concat([jpeg, Buffer.from('appended by some upload tool')]);
  unusual['progressive.jpg'] = await photo.clone().jpeg({ progressive: true }).toBuffer();
  unusual['cmyk.jpg'] = await photo.clone().toColourspace('cmyk').jpeg().toBuffer();
  unusual['grey.jpg'] = await photo.clone().greyscale().jpeg().toBuffer();
  unusual['444.jpg'] = await photo.clone().jpeg({ quality: 100, chromaSubsampling: '4:4:4' }).toBuffer();
  unusual['16-bit.png'] = await photo.clone().toColourspace('rgb16').png().toBuffer();
  unusual['palette.png'] = await photo.clone().png({ palette: true }).toBuffer();
  unusual['interlaced.png'] = await photo.clone().png({ progressive: true }).toBuffer();
  unusual['trailing-garbage.png'] = Buffer.concat([await photo.clone().png().toBuffer(), Buffer.from('garbage')]);
  unusual['lossless.webp'] = await photo.clone().webp({ lossless: true }).toBuffer();
  unusual['photo.avif'] = await photo.clone().avif().toBuffer();
  unusual['photo.tiff'] = await photo.clone().tiff().toBuffer();
  unusual['photo.gif'] = await photo.clone().gif().toBuffer();

  h = await startHarness({
    buckets: [BUCKET],
    config: (s3) => ({ origins: [s3Origin(s3, { name: 'main', bucket: BUCKET })] }),
    seed: async (s3) => {
      for (const [name, bytes] of Object.entries({ ...damaged, ...unusual })) await s3.put(BUCKET, name, bytes, 'application/octet-stream');
      for (const [w, ht] of [[1, 1], [2, 2], [2, 50], [50, 2], [3, 3]]) await s3.put(BUCKET, `tiny-${w}x${ht}.png`, await solidImage(w, ht, RED, 'png'), 'image/png');
      await s3.put(BUCKET, 'photo.png', await solidImage(60, 40, RED, 'png'), 'image/png');
    },
  });
});

afterAll(() => h?.close());

describe('t: trim on an image too small to hold a border', () => {
  it.each([
    ['1x1', '/tr:t-true/tiny-1x1.png', [1, 1]],
    ['2x2', '/tr:t-true/tiny-2x2.png', [2, 2]],
    ['2x50', '/tr:t-40/tiny-2x50.png', [2, 50]],
    ['50x2', '/tr:t-true/tiny-50x2.png', [50, 2]],
    ['3x3, the smallest sharp trims', '/tr:t-true/tiny-3x3.png', [3, 3]],
    ['2x2 after a resize in an earlier step', '/tr:w-2,h-2,c-force:t-true/photo.png', [2, 2]],
  ])('%s: rendered as it is, not a 422', async (_, path, size) => {
    const response = await h.get(path as string);
    expect({ status: response.status, error: response.headers.get('x-afterimage-error') }).toEqual({ status: 200, error: null });
    const image = await decode(response.body);
    expect([image.width, image.height]).toEqual(size);
  });
});

describe('a truncated or corrupt file is a quick 422', () => {
  it.each(['cut.jpg', 'cut-closed.jpg', 'cut-closed-progressive.jpg', 'overwritten.jpg'])('%s', async (name) => {
    for (const accept of ['image/avif', 'image/jpeg']) {
      const response = await h.get(`/${name}`, { accept });
      expect(response.status).toBe(422);
      expect(response.headers.get('x-afterimage-error')).toMatch(/^EUNREADABLE - The image could not be processed: VipsJpeg: (Corrupt JPEG data|premature end)/);
      expect(response.headers.get('cache-control')).toBe('public, max-age=60');
    }
  });

  it('without decoding the 49 megapixels it declares (peak memory of the render, in a child process)', async () => {
    const dir = join(__dirname, '.tmp');
    mkdirSync(dir, { recursive: true });
    const file = join(dir, 'cut-closed.jpg');
    writeFileSync(file, damaged['cut-closed.jpg']);
    const valid = join(dir, 'valid-small.jpg');
    writeFileSync(valid, unusual['progressive.jpg']);
    // The same child rendering a small valid file: what Node, sharp and libvips cost alone.
    // AVIF out, the cost model's limits raised out of the way: only the decoder can stop it.
    const limits = { maxAvifPixels: 50_000_000, maxEncodeSeconds: 900, memoryBudgetMB: 4096 };
    const baseline = await measurePeakRss({ inputFile: valid, chain: 'f-avif', limits });
    const result = await measurePeakRss({ inputFile: file, chain: 'f-avif', limits });
    expect(baseline.status).toBe(200);
    expect(result.error).toMatch(/premature end of data segment/);
    // A full decode and AVIF encode of 7000x7000 peaks near 1 GB; failing at the first damaged byte costs nothing.
    expect(result.peakMiB - baseline.peakMiB).toBeLessThan(100);
  });
});

describe('valid files that are merely unusual still render', () => {
  it.each([
    'stray-bytes.jpg', 'trailing-garbage.jpg', 'progressive.jpg', 'cmyk.jpg', 'grey.jpg', '444.jpg',
    '16-bit.png', 'palette.png', 'interlaced.png', 'trailing-garbage.png', 'lossless.webp', 'photo.avif', 'photo.tiff', 'photo.gif',
  ])('%s', async (name) => {
    for (const format of ['jpg', 'webp']) {
      const response = await h.get(`/tr:w-60,f-${format}/${name}`);
      expect({ name, format, status: response.status, error: response.headers.get('x-afterimage-error') }).toEqual({ name, format, status: 200, error: null });
      const image = await decode(response.body);
      expect([image.width, image.height]).toEqual([60, 40]);
    }
  });
});
