// README "Output": `q` is the JPEG quality the user wants to look like. WebP and AVIF are encoded
// at the quality of the same SSIM (lambda/image/quality.ts), and `q-auto` searches the quality
// per image for a perceptual target (lambda/image/auto-quality.ts). Real sharp, real pixels.

import { readFileSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { ssim } from 'ssim.js';
import { DEFAULT_LIMITS, parseConfig } from '../lambda/config';
import { HttpError } from '../lambda/errors';
import { estimateCost, type CostInput } from '../lambda/image/cost';
import { AUTO_QUALITY_TARGETS, autoQualityOf, meanSsim, proxyOf, searchAutoQuality } from '../lambda/image/auto-quality';
import type { ImageFormat } from '../lambda/image/format';
import { inspectInput, renderImage } from '../lambda/image/pipeline';
import { ENCODER_SETTINGS, formatQuality, QUALITY_TABLE } from '../lambda/image/quality';
import { translateComponent } from '../lambda/request/cloudinary-url';
import { buildPlan } from '../lambda/request/plan';
import { parseRequestUrl } from '../lambda/request/parse-url';
import type { OutputOptions } from '../lambda/request/plan-types';
import { PHOTOS, photoCorpus, type CorpusImage } from '../tools/quality-corpus';

const config = parseConfig({ origins: [{ name: 'main', type: 's3', bucket: 'b' }] });
const planOf = (chain: string) => buildPlan(parseRequestUrl(config.endpoints, `/tr:${chain}/a.jpg`, ''), config);

let photos: CorpusImage[];
let smooth: CorpusImage;
let grainy: CorpusImage;
beforeAll(async () => {
  photos = await photoCorpus(384, 256);
  smooth = photos.find((p) => p.name === 'portrait') as CorpusImage;
  grainy = photos.find((p) => p.name === 'night') as CorpusImage;
});

const png = (image: CorpusImage) => sharp(image.pixels, { raw: { width: image.width, height: image.height, channels: image.channels } }).png().toBuffer();

async function render(bytes: Buffer, format: ImageFormat, output: OutputOptions): Promise<Buffer> {
  const input = await inspectInput(bytes, DEFAULT_LIMITS);
  if (!input) throw new Error('not an image');
  return (await renderImage(bytes, input, { steps: [], output, format, defaultQuality: 80, limits: DEFAULT_LIMITS })).body;
}

async function rgba(bytes: Buffer) {
  const { data, info } = await sharp(bytes).flatten({ background: '#ffffff' }).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
  return { data: new Uint8ClampedArray(data), width: info.width, height: info.height };
}

/** SSIM as `npm run bench:quality` measures it: ssim.js, full resolution. */
async function ssimOf(source: Buffer, encoded: Buffer): Promise<number> {
  return ssim(await rgba(source), await rgba(encoded), { downsample: false }).mssim;
}

describe('q in WebP and AVIF is the quality that looks like a JPEG at q', () => {
  it('the table increases in every column, from 1 to 100', () => {
    for (const column of ['jpeg', 'webp', 'avif'] as const) {
      const values = QUALITY_TABLE.map((row) => row[column]);
      expect(values[0]).toBe(1);
      expect(values[values.length - 1]).toBe(100);
      for (let i = 1; i < values.length; i++) expect(values[i]).toBeGreaterThan(values[i - 1]);
    }
  });

  it('the mapping is monotone over every q, within 1-100, and JPEG keeps q', () => {
    for (const format of ['webp', 'avif'] as const) {
      let previous = 0;
      for (let q = 1; q <= 100; q++) {
        const mapped = formatQuality(format, q);
        expect(mapped).toBeGreaterThanOrEqual(previous);
        expect(mapped).toBeGreaterThanOrEqual(1);
        expect(mapped).toBeLessThanOrEqual(100);
        previous = mapped;
      }
      for (const row of QUALITY_TABLE) expect(formatQuality(format, row.jpeg)).toBe(row[format]);
    }
    for (const q of [1, 37, 80, 100]) {
      expect(formatQuality('jpeg', q)).toBe(q);
      expect(formatQuality('png', q)).toBe(q);
    }
  });

  it('AVIF q-80 is encoded at the table\'s quality: the same bytes as sharp at that quality', async () => {
    const source = await png(photos[0]);
    const avif = await render(source, 'avif', { quality: 80 });
    const direct = await sharp(source).avif({ ...ENCODER_SETTINGS.avif, quality: formatQuality('avif', 80) }).toBuffer();
    expect(avif.equals(direct)).toBe(true);
  });

  // The table is calibrated on real photographs (`npm run bench:photos`, not in the repository).
  // Of the drawn ones, the street scene behaves as they do; the grainy drawn ones (foliage, night,
  // landscape) come out well below their JPEG's SSIM in WebP (−0.026 at the lowest at q-80), as
  // BENCHMARKS.md states.
  it.each(['avif', 'webp'] as const)('%s at q-80 has the SSIM of the JPEG at q-80 (±0.005) in fewer bytes, on a photograph', async (format) => {
    const source = await png(photos.find((p) => p.name === 'street') as CorpusImage);
    const jpeg = await render(source, 'jpeg', { quality: 80 });
    const other = await render(source, format, { quality: 80 });
    const [jpegSsim, otherSsim] = [await ssimOf(source, jpeg), await ssimOf(source, other)];
    expect(Math.abs(otherSsim - jpegSsim)).toBeLessThanOrEqual(0.005);
    expect(other.length).toBeLessThan(jpeg.length);
  });

  it("the README's table is QUALITY_TABLE, and its q-auto table holds AUTO_QUALITY_TARGETS", () => {
    const readme = readFileSync(path.join(__dirname, '..', 'README.md'), 'utf8').split('\n');
    const cells = (line: string | undefined) => (line ?? '').split('|').slice(1, -1).map((cell) => cell.trim());
    const header = cells(readme.find((line) => line.startsWith('| `q` (JPEG) |'))).slice(1).map(Number);
    const rows = QUALITY_TABLE.filter((row) => header.includes(row.jpeg));
    expect(rows.map((row) => row.jpeg)).toEqual(header);
    expect(cells(readme.find((line) => line.startsWith('| WebP quality |'))).slice(1).map(Number)).toEqual(rows.map((row) => row.webp));
    expect(cells(readme.find((line) => line.startsWith('| AVIF quality |'))).slice(1).map(Number)).toEqual(rows.map((row) => row.avif));
    for (const level of ['best', 'good', 'eco', 'low'] as const) {
      const row = cells(readme.find((line) => line.startsWith(`| ${level} | `)));
      const { ssim: target, min, max, fallback } = AUTO_QUALITY_TARGETS[level];
      expect(row.slice(2)).toEqual([String(target), `${min}–${max}`, `about ${fallback}`]);
    }
  });

  it('lossless output is unchanged by the mapping: AVIF lo-true keeps every pixel', async () => {
    const source = await sharp({ create: { width: 32, height: 32, channels: 3, background: '#336699' } }).png().toBuffer();
    const avif = await render(source, 'avif', { quality: 10, lossless: true });
    expect(Buffer.compare(await sharp(avif).raw().toBuffer(), await sharp(source).raw().toBuffer())).toBe(0);
  });
});

describe('the real photographs of npm run bench:photos (fetched, not in the repository)', () => {
  it('are listed once each, with a SHA-256, in colour and monochrome', () => {
    expect(new Set(PHOTOS.map((photo) => photo.file)).size).toBe(PHOTOS.length);
    expect(new Set(PHOTOS.map((photo) => photo.name)).size).toBe(PHOTOS.length);
    for (const photo of PHOTOS) expect(photo.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(PHOTOS.filter((photo) => photo.subset === 'colour').length).toBeGreaterThanOrEqual(5);
    expect(PHOTOS.filter((photo) => photo.subset === 'monochrome').length).toBeGreaterThanOrEqual(5);
  });

  it('every photograph that was a JPEG before it was packaged is halved before it is measured; lossless ones are not', () => {
    for (const photo of PHOTOS) {
      const wasJpeg = /\.jpe?g$/i.test(photo.source.path) || photo.raw !== undefined;
      expect({ file: photo.file, halve: photo.halve === true }).toEqual({ file: photo.file, halve: wasJpeg });
    }
  });

  it('BENCHMARKS.md records each one: file, package and SHA-256', () => {
    const benchmarks = readFileSync(path.join(__dirname, '..', 'BENCHMARKS.md'), 'utf8');
    for (const photo of PHOTOS) {
      const row = benchmarks.split('\n').find((line) => line.includes(photo.sha256));
      expect({ file: photo.file, row: row !== undefined }).toEqual({ file: photo.file, row: true });
      const pkg = 'deb' in photo.source ? photo.source.deb : photo.source.npm;
      expect(row).toContain(`\`${photo.file}\``);
      expect(row).toContain(pkg);
      expect(row).toContain(photo.source.version);
    }
  });
});

describe('q-auto: a perceptual target, searched per image', () => {
  it('the levels are ordered: a higher level asks for a higher SSIM, searches higher qualities and falls back higher', () => {
    const levels = (['best', 'good', 'eco', 'low'] as const).map((level) => AUTO_QUALITY_TARGETS[level]);
    for (let i = 1; i < levels.length; i++) {
      for (const key of ['ssim', 'min', 'max', 'fallback'] as const) expect(levels[i][key]).toBeLessThan(levels[i - 1][key]);
    }
    for (const level of levels) {
      expect(level.fallback).toBeGreaterThanOrEqual(level.min);
      expect(level.fallback).toBeLessThanOrEqual(level.max);
      expect(level.ssim).toBeLessThan(1);
    }
  });

  it('q-auto is q-auto_good; the levels are q-auto_best, _good, _eco, _low; the last q wins', () => {
    expect(planOf('q-auto').output).toEqual({ autoQuality: 'good' });
    expect(planOf('q-auto_best').output).toEqual({ autoQuality: 'best' });
    expect(planOf('q-auto_low').output).toEqual({ autoQuality: 'low' });
    expect(planOf('q-auto,q-60').output).toEqual({ quality: 60 });
    expect(planOf('q-60,q-auto_eco').output).toEqual({ autoQuality: 'eco' });
  });

  it('an unknown level is a 400 that lists the accepted values', () => {
    expect(() => planOf('q-auto_ultra')).toThrow(HttpError);
    expect(() => planOf('q-auto_ultra')).toThrow('Invalid transformation "q-auto_ultra": q must be an integer from 1 to 100, auto or auto_best, auto_good, auto_eco, auto_low');
  });

  it('Cloudinary q_auto[:level] translates to q-auto[_level]', () => {
    expect(translateComponent('q_auto')).toBe('q-auto');
    expect(translateComponent('w_300,q_auto:eco')).toBe('w-300,q-auto_eco');
    expect(planOf(translateComponent('q_auto:best')).output).toEqual({ autoQuality: 'best' });
  });

  it('the proxy is at most 16 tiles of 64×64, whatever the size; a small image is its own proxy', () => {
    const large = { data: Buffer.alloc(4000 * 3000 * 3, 128), width: 4000, height: 3000, channels: 3 };
    expect(proxyOf(large)).toMatchObject({ width: 256, height: 256, channels: 3 });
    const narrow = { data: Buffer.alloc(40 * 2000 * 4, 200), width: 40, height: 2000, channels: 4 };
    expect(proxyOf(narrow)).toMatchObject({ width: 40, height: 256 });
    const small = { data: Buffer.alloc(100 * 50 * 3, 1), width: 100, height: 50, channels: 3 };
    expect(proxyOf(small)).toMatchObject({ width: 100, height: 50 });
  });

  it('the SSIM of the search is close to ssim.js on the same pixels (±0.02: 8×8 windows every 4 pixels against 11×11 windows)', async () => {
    for (const image of photos.slice(0, 3)) {
      const source = await png(image);
      const jpeg = await sharp(source).jpeg({ quality: 60 }).toBuffer();
      const ours = meanSsim(await sharp(source).removeAlpha().raw().toBuffer(), await sharp(jpeg).raw().toBuffer(), image.width, image.height);
      expect(Math.abs(ours - (await ssimOf(source, jpeg)))).toBeLessThan(0.02);
    }
  });

  it('a grainy photograph gets a higher quality than a smooth one; levels are ordered and stay in their range', async () => {
    const open = (image: CorpusImage) => sharp(image.pixels, { raw: { width: image.width, height: image.height, channels: image.channels } });
    expect(await autoQualityOf(open(grainy), 'good')).toBeGreaterThan(await autoQualityOf(open(smooth), 'good'));
    for (const image of [smooth, grainy]) {
      const levels = [];
      for (const level of ['best', 'good', 'eco', 'low'] as const) {
        const q = await autoQualityOf(open(image), level);
        expect(q).toBeGreaterThanOrEqual(AUTO_QUALITY_TARGETS[level].min);
        expect(q).toBeLessThanOrEqual(AUTO_QUALITY_TARGETS[level].max);
        levels.push(q);
      }
      expect([...levels].sort((a, b) => b - a)).toEqual(levels);
    }
  });

  it('the quality found reaches the target on the proxy, and one less does not', async () => {
    const image = photos[0];
    const raw = { data: image.pixels, width: image.width, height: image.height, channels: image.channels };
    const q = await searchAutoQuality(raw, 'good');
    const proxy = proxyOf(raw);
    const at = async (quality: number) => {
      const jpeg = await sharp(proxy.data, { raw: { width: proxy.width, height: proxy.height, channels: 3 } }).jpeg({ quality }).toBuffer();
      return meanSsim(proxy.data, await sharp(jpeg).raw().toBuffer(), proxy.width, proxy.height);
    };
    const { ssim: target, min, max } = AUTO_QUALITY_TARGETS.good;
    if (q < max) expect(await at(q)).toBeGreaterThanOrEqual(target);
    if (q > min) expect(await at(q - 1)).toBeLessThan(target);
  });

  it('the pipeline encodes q-auto at the searched quality: JPEG as q-<found>, AVIF as its equivalent', async () => {
    const source = await png(grainy);
    const found = await autoQualityOf(sharp(source), 'good');
    expect((await render(source, 'jpeg', { autoQuality: 'good' })).equals(await render(source, 'jpeg', { quality: found }))).toBe(true);
    expect((await render(source, 'avif', { autoQuality: 'good' })).equals(await render(source, 'avif', { quality: found }))).toBe(true);
  });

  it('the cost model counts the search: one more copy of the result, and its time; none for PNG or lossless', () => {
    const input: CostInput = { format: 'jpeg', width: 4000, height: 3000, pages: 1, animated: false, hasAlpha: false, channels: 3, bytesPerSample: 1, progressive: false, bytes: 1e6 };
    const plain = estimateCost(input, [], { quality: 80 }, 'avif');
    const auto = estimateCost(input, [], { autoQuality: 'good' }, 'avif');
    expect(auto.memoryMiB).toBeGreaterThanOrEqual(plain.memoryMiB + (4000 * 3000 * 3) / 2 ** 20 - 1);
    expect(auto.encodeSeconds).toBeGreaterThan(plain.encodeSeconds);
    expect(estimateCost(input, [], { autoQuality: 'good' }, 'png')).toEqual(estimateCost(input, [], {}, 'png'));
    expect(estimateCost(input, [], { autoQuality: 'good', lossless: true }, 'webp')).toEqual(estimateCost(input, [], { lossless: true }, 'webp'));
  });

  it('an animation kept animated is not searched: it takes the level\'s typical quality', async () => {
    const frames = await Promise.all(['#ff0000', '#00ff00', '#0000ff'].map((colour) => sharp({ create: { width: 64, height: 48, channels: 3, background: colour } }).png().toBuffer()));
    const gif = await sharp(frames, { join: { animated: true } }).gif().toBuffer();
    const auto = await render(gif, 'webp', { autoQuality: 'eco' });
    expect((await sharp(auto).metadata()).pages).toBe(3);
    expect(auto.equals(await render(gif, 'webp', { quality: AUTO_QUALITY_TARGETS.eco.fallback }))).toBe(true);
  });

  it('PNG output and an image with alpha are rendered too (no search for PNG)', async () => {
    const source = await sharp(Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="300" height="200"><circle cx="150" cy="100" r="80" fill="#7c3aed" fill-opacity="0.8"/></svg>')).png().toBuffer();
    expect((await sharp(await render(source, 'png', { autoQuality: 'good' })).metadata()).format).toBe('png');
    expect((await sharp(await render(source, 'webp', { autoQuality: 'low' })).metadata()).hasAlpha).toBe(true);
  });
});
