// `npm run bench:quality`: which WebP and AVIF quality looks like a JPEG at each user-facing `q`,
// and what encoder effort costs (BENCHMARKS.md, "Quality per format").
//
// Method: every image of the corpus is encoded as JPEG at each q, as afterimage encodes it; its SSIM
// against the source (ssim.js, Weber windows, full resolution, luma; alpha flattened on white as
// JPEG is) is the target. For WebP and AVIF a binary search over quality 1-100 finds the lowest
// quality whose SSIM is at least the target. Then the runtime's table (lambda/image/quality.ts)
// is checked: bytes against JPEG, and how far its SSIM lands from the JPEG's.
//
// Corpus (tools/quality-corpus.ts): the photographs are the real ones `npm run bench:photos`
// fetched into bench/.photos/ when they are there (twelve free photographs: five in colour, seven
// monochrome prints; those that were JPEGs are halved first), else five drawn ones (768×512); the
// graphics are always the four drawn ones (768×512). Every table gives all photographs (the
// runtime table's answer), then colour and monochrome on their own, then the graphics.
// The first line of the output names the corpus used; `--synthetic` forces the drawn photographs.
//
//   npm run bench:quality                 # all tables (about 10 minutes on 2 busy cores)
//   npm run bench:quality -- --no-effort  # without the effort table
//   (--no-mapping, --no-runtime, --no-targets, --no-auto, --no-avif-time leave out the other tables)

import os from 'node:os';
import sharp from 'sharp';
import { ssim } from 'ssim.js';
import { AUTO_QUALITY_TARGETS, autoQualityOf, meanSsim, proxyOf, type AutoQualityTarget } from '../lambda/image/auto-quality';
import type { AutoQualityLevel } from '../lambda/request/plan-types';
import { ENCODER_SETTINGS, formatQuality } from '../lambda/image/quality';
import { graphicCorpus, PHOTOS, photoCorpus, realPhotos, type CorpusImage } from '../tools/quality-corpus';

sharp.cache(false);
sharp.concurrency(0); // as the pipeline runs it

const LEVELS = [40, 50, 60, 70, 75, 80, 85, 90];
type Codec = 'jpeg' | 'webp' | 'avif';

interface Encoded {
  bytes: number;
  ssim: number;
  ms: number;
}

function open(image: CorpusImage): sharp.Sharp {
  return sharp(image.pixels, { raw: { width: image.width, height: image.height, channels: image.channels } });
}

/** Encodes as afterimage does for this format (pipeline.ts, encode), or with the options given. */
function encoder(image: sharp.Sharp, codec: Codec, quality: number, options: Record<string, unknown> = {}): sharp.Sharp {
  switch (codec) {
    case 'jpeg':
      return image.flatten({ background: '#ffffff' }).jpeg({ ...ENCODER_SETTINGS.jpeg, quality, ...options });
    case 'webp':
      return image.webp({ ...ENCODER_SETTINGS.webp, quality, ...options });
    case 'avif':
      return image.avif({ ...ENCODER_SETTINGS.avif, quality, ...options });
  }
}

/** RGBA pixels as ssim.js reads them, alpha flattened on white. */
async function viewable(image: sharp.Sharp): Promise<{ data: Uint8ClampedArray; width: number; height: number }> {
  const { data, info } = await image.flatten({ background: '#ffffff' }).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
  return { data: new Uint8ClampedArray(data.buffer, data.byteOffset, data.length), width: info.width, height: info.height };
}

class Measurements {
  private readonly cache = new Map<string, Promise<Encoded>>();
  private readonly references = new Map<string, Promise<Awaited<ReturnType<typeof viewable>>>>();

  reference(image: CorpusImage) {
    const known = this.references.get(image.name);
    if (known) return known;
    const ref = viewable(open(image));
    this.references.set(image.name, ref);
    return ref;
  }

  measure(image: CorpusImage, codec: Codec, quality: number, options: Record<string, unknown> = {}): Promise<Encoded> {
    const key = `${image.name}|${codec}|${quality}|${JSON.stringify(options)}`;
    let result = this.cache.get(key);
    if (!result) {
      result = (async () => {
        const start = process.hrtime.bigint();
        const body = await encoder(open(image), codec, quality, options).toBuffer();
        const ms = Number(process.hrtime.bigint() - start) / 1e6;
        const decoded = await viewable(sharp(body));
        return { bytes: body.length, ssim: ssim(await this.reference(image), decoded, { downsample: false }).mssim, ms };
      })();
      this.cache.set(key, result);
    }
    return result;
  }

  /** The lowest quality (1-100) whose SSIM reaches `target`; 100 if none does. SSIM grows with quality, near enough for a bisection. */
  async match(image: CorpusImage, codec: Codec, target: number, options: Record<string, unknown> = {}): Promise<number> {
    let low = 1;
    let high = 100;
    if ((await this.measure(image, codec, high, options)).ssim < target) return high;
    while (low < high) {
      const mid = Math.floor((low + high) / 2);
      if ((await this.measure(image, codec, mid, options)).ssim >= target) high = mid;
      else low = mid + 1;
    }
    return low;
  }
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};
const fixed = (n: number, digits = 2) => n.toFixed(digits);
const sum = (values: number[]) => values.reduce((total, v) => total + v, 0);

/**
 * The rows of each table: all photographs (the runtime table's answer), then the real corpus's
 * subsets (colour photographs, monochrome prints) on their own, then the graphics.
 */
function groups(corpus: CorpusImage[]): { label: string; images: CorpusImage[] }[] {
  const photos = corpus.filter((image) => image.class === 'photo');
  const subsets = [...new Set(photos.map((image) => image.subset).filter((subset) => subset !== undefined))];
  return [
    { label: 'photo', images: photos },
    ...(subsets.length > 1 ? subsets.map((subset) => ({ label: `photo: ${subset}`, images: photos.filter((image) => image.subset === subset) })) : []),
    { label: 'graphic', images: corpus.filter((image) => image.class === 'graphic') },
  ];
}

/**
 * The lowest quality of `codec` at which the images' SSIM is, on average, at least their JPEG's
 * at `q`: one quality for the class, found by bisection (the mean grows with quality, near enough).
 */
async function classMatch(images: CorpusImage[], codec: Codec, q: number, m: Measurements): Promise<number> {
  const meanDelta = async (quality: number) => {
    let sum = 0;
    for (const image of images) sum += (await m.measure(image, codec, quality)).ssim - (await m.measure(image, 'jpeg', q)).ssim;
    return sum / images.length;
  };
  let low = 1;
  let high = 100;
  while (low < high) {
    const mid = Math.floor((low + high) / 2);
    if ((await meanDelta(mid)) >= 0) high = mid;
    else low = mid + 1;
  }
  return low;
}

async function mappingTables(corpus: CorpusImage[], m: Measurements, codecs: readonly ('webp' | 'avif')[]): Promise<void> {
  console.log('## Equivalent quality: the lowest WebP / AVIF quality whose mean SSIM over the class reaches the JPEG\'s\n');
  console.log('Bytes ÷ JPEG bytes: median over the images at that quality; ΔSSIM: lowest image (SSIM − its JPEG\'s); ±0.005: images within.\n');
  console.log('| JPEG q | images | JPEG SSIM (median) | WebP q | WebP bytes ÷ JPEG | WebP ΔSSIM lowest, ±0.005 | AVIF q | AVIF bytes ÷ JPEG | AVIF ΔSSIM lowest, ±0.005 |');
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const q of LEVELS) {
    for (const { label, images } of groups(corpus)) {
      const jpegs = await Promise.all(images.map((image) => m.measure(image, 'jpeg', q)));
      const cells: string[] = [];
      for (const codec of ['webp', 'avif'] as const) {
        if (!codecs.includes(codec)) {
          cells.push('', '', '');
          continue;
        }
        const quality = await classMatch(images, codec, q, m);
        const results = [];
        for (const image of images) results.push(await m.measure(image, codec, quality));
        const deltas = results.map((r, i) => r.ssim - jpegs[i].ssim);
        const within = deltas.filter((d) => Math.abs(d) <= 0.005).length;
        cells.push(`${quality}`, fixed(median(results.map((r, i) => r.bytes / jpegs[i].bytes))), `${fixed(Math.min(...deltas), 4)}, ${within}/${images.length}`);
      }
      console.log(`| ${q} | ${label} | ${fixed(median(jpegs.map((j) => j.ssim)), 4)} | ${cells.join(' | ')} |`);
    }
  }
}

async function runtimeTable(corpus: CorpusImage[], m: Measurements): Promise<void> {
  console.log('\n## The runtime table (lambda/image/quality.ts) on the corpus\n');
  console.log('Bytes ÷ JPEG bytes (median over the class, and the worst image) and SSIM − JPEG SSIM (median, and the lowest).\n');
  console.log('| q | images | WebP q | WebP bytes ÷ JPEG | WebP ΔSSIM | AVIF q | AVIF bytes ÷ JPEG | AVIF ΔSSIM |');
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const q of LEVELS) {
    for (const { label, images } of groups(corpus)) {
      const cells: string[] = [];
      for (const codec of ['webp', 'avif'] as const) {
        const ratios: number[] = [];
        const deltas: number[] = [];
        for (const image of images) {
          const jpeg = await m.measure(image, 'jpeg', q);
          const other = await m.measure(image, codec, formatQuality(codec, q));
          ratios.push(other.bytes / jpeg.bytes);
          deltas.push(other.ssim - jpeg.ssim);
        }
        cells.push(`${formatQuality(codec, q)}`, `${fixed(median(ratios))} (worst ${fixed(Math.max(...ratios))})`, `${fixed(median(deltas), 4)} (lowest ${fixed(Math.min(...deltas), 4)})`);
      }
      console.log(`| ${q} | ${label} | ${cells.join(' | ')} |`);
    }
  }
}

/**
 * Issue 10's targets at `q-80`: WebP and AVIF through the runtime table against the JPEG, per
 * group: bytes ÷ JPEG (median over the images, and on their total bytes), how far the SSIM lands
 * (mean ΔSSIM, which the search holds at 0 or above, and the lowest image), and the strict
 * reading: each image at the lowest quality reaching its own JPEG's SSIM.
 */
async function targetsTable(corpus: CorpusImage[], m: Measurements): Promise<void> {
  const q = 80;
  console.log(`\n## Targets at q-${q}: WebP and AVIF through the runtime table, bytes ÷ the JPEG's\n`);
  console.log('Median over the images (min–max), on the total bytes, ΔSSIM = SSIM − the JPEG\'s (mean, lowest image, images within ±0.005);');
  console.log('strict: each image at the lowest quality whose SSIM reaches its own JPEG\'s (median, total).\n');
  console.log('| images | format | q | bytes ÷ JPEG, median (min–max) | total bytes ÷ JPEG | ΔSSIM mean | ΔSSIM lowest | within ±0.005 | strict: median | strict: total |');
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const { label, images } of groups(corpus)) {
    if (label === 'graphic') continue;
    const jpegs = await Promise.all(images.map((image) => m.measure(image, 'jpeg', q)));
    for (const codec of ['webp', 'avif'] as const) {
      const quality = formatQuality(codec, q);
      const results: Encoded[] = [];
      const strict: Encoded[] = [];
      for (const [i, image] of images.entries()) {
        results.push(await m.measure(image, codec, quality));
        strict.push(await m.measure(image, codec, await m.match(image, codec, jpegs[i].ssim)));
      }
      const ratios = results.map((r, i) => r.bytes / jpegs[i].bytes);
      const deltas = results.map((r, i) => r.ssim - jpegs[i].ssim);
      const jpegTotal = sum(jpegs.map((j) => j.bytes));
      console.log(
        `| ${label} (${images.length}) | ${codec} | ${quality} | ${fixed(median(ratios))} (${fixed(Math.min(...ratios))}–${fixed(Math.max(...ratios))}) | ${fixed(sum(results.map((r) => r.bytes)) / jpegTotal)} | ${fixed(sum(deltas) / deltas.length, 4)} | ${fixed(Math.min(...deltas), 4)} | ${deltas.filter((d) => Math.abs(d) <= 0.005).length}/${images.length} | ${fixed(median(strict.map((r, i) => r.bytes / jpegs[i].bytes)))} | ${fixed(sum(strict.map((r) => r.bytes)) / jpegTotal)} |`,
      );
    }
  }
  console.log('\nPer image at q-80 (bytes ÷ JPEG, ΔSSIM):\n');
  console.log('| image | JPEG bytes | JPEG SSIM | WebP | AVIF |');
  console.log('| --- | --- | --- | --- | --- |');
  for (const image of corpus.filter((i) => i.class === 'photo')) {
    const jpeg = await m.measure(image, 'jpeg', q);
    const cell = async (codec: 'webp' | 'avif') => {
      const r = await m.measure(image, codec, formatQuality(codec, q));
      return `${fixed(r.bytes / jpeg.bytes)}, ${fixed(r.ssim - jpeg.ssim, 4)}`;
    };
    console.log(`| ${image.name}${image.subset ? ` (${image.subset})` : ''} ${image.width}×${image.height} | ${jpeg.bytes} | ${fixed(jpeg.ssim, 4)} | ${await cell('webp')} | ${await cell('avif')} |`);
  }
}

async function autoQualityTable(corpus: CorpusImage[], m: Measurements): Promise<void> {
  const levels = Object.entries(AUTO_QUALITY_TARGETS) as [AutoQualityLevel, AutoQualityTarget][];
  console.log('\n## q-auto: the JPEG-equivalent quality chosen per image, and its SSIM (ssim.js, full image)\n');
  console.log(`Targets (proxy SSIM): ${levels.map(([name, t]) => `${name} ${t.ssim} in q ${t.min}–${t.max}`).join('; ')}.`);
  console.log('Calibration: the proxy SSIM of each image at the quality the level used to mean (86 / 70 / 60 / 50).\n');
  console.log(`| image | ${levels.map(([name, t]) => `${name}: q, SSIM (proxy at ${t.fallback})`).join(' | ')} | search ms (good) |`);
  console.log(`| --- | ${levels.map(() => '---').join(' | ')} | --- |`);
  const chosen = new Map<CorpusImage, number[]>();
  const calibrations = new Map<CorpusImage, number[]>();
  for (const image of corpus) {
    const cells: string[] = [];
    chosen.set(image, []);
    calibrations.set(image, []);
    let searchMs = 0;
    for (const [name, target] of levels) {
      const start = process.hrtime.bigint();
      const q = await autoQualityOf(open(image), name);
      if (name === 'good') searchMs = Number(process.hrtime.bigint() - start) / 1e6;
      const proxy = proxyOf({ data: image.pixels, width: image.width, height: image.height, channels: image.channels });
      const jpeg = await sharp(proxy.data, { raw: { width: proxy.width, height: proxy.height, channels: 3 } }).jpeg({ quality: target.fallback }).toBuffer();
      const calibration = meanSsim(proxy.data, await sharp(jpeg).raw().toBuffer(), proxy.width, proxy.height);
      cells.push(`${q}, ${fixed((await m.measure(image, 'jpeg', q)).ssim, 4)} (${fixed(calibration, 4)})`);
      chosen.get(image)?.push(q);
      calibrations.get(image)?.push(calibration);
    }
    console.log(`| ${image.name} (${image.subset ?? image.class}) | ${cells.join(' | ')} | ${fixed(searchMs, 0)} |`);
  }
  console.log('\nPer group, for each level: the median quality chosen with the current targets, and the median proxy SSIM at the level\'s old');
  console.log('fixed quality, which is what the target should be (the calibration; the photo row sets AUTO_QUALITY_TARGETS).\n');
  console.log(`| images | ${levels.map(([name, t]) => `${name}: median q, median proxy SSIM at ${t.fallback}`).join(' | ')} |`);
  console.log(`| --- | ${levels.map(() => '---').join(' | ')} |`);
  for (const { label, images } of groups(corpus)) {
    const cells = levels.map((_, l) => `${median(images.map((image) => chosen.get(image)?.[l] ?? 0))}, ${fixed(median(images.map((image) => calibrations.get(image)?.[l] ?? 0)), 4)}`);
    console.log(`| ${label} (${images.length}) | ${cells.join(' | ')} |`);
  }
}

interface EffortRow {
  codec: Codec;
  label: string;
  options: Record<string, unknown>;
  /** Slow settings run on the first two photographs only. */
  few?: boolean;
  /** Also search the quality of equal SSIM (cheap settings only). */
  match?: boolean;
}

async function effortTables(corpus: CorpusImage[], m: Measurements): Promise<void> {
  const photos = corpus.filter((image) => image.class === 'photo');
  const chosen = (codec: Codec) => (codec === 'jpeg' ? {} : { effort: ENCODER_SETTINGS[codec].effort });
  const rows: EffortRow[] = [
    { codec: 'jpeg', label: 'mozjpeg off (libjpeg-turbo, optimised Huffman)', options: { mozjpeg: false }, match: true },
    { codec: 'jpeg', label: 'mozjpeg on (trellis, progressive scans)', options: { mozjpeg: true }, match: true },
    ...[0, 1, 2, 3, 4, 5, 6].map((effort) => ({ codec: 'webp' as const, label: `effort ${effort}`, options: { effort }, match: true })),
    ...(['photo', 'picture', 'drawing', 'text'] as const).map((preset) => ({ codec: 'webp' as const, label: `preset ${preset}`, options: { preset }, match: true })),
    { codec: 'webp', label: 'smartSubsample', options: { smartSubsample: true }, match: true },
    ...[0, 1, 2, 3, 4, 5, 6, 7, 8, 9].map((effort) => ({ codec: 'avif' as const, label: `effort ${effort}`, options: { effort }, few: effort >= 4, match: effort <= 3 })),
    ...(['iq', 'ssim', 'psnr'] as const).map((tune) => ({ codec: 'avif' as const, label: `tune ${tune}`, options: { tune }, match: true })),
    { codec: 'avif', label: `effort ${ENCODER_SETTINGS.avif.effort}, chroma 4:4:4`, options: { chromaSubsampling: '4:4:4' }, match: true },
    { codec: 'avif', label: `effort ${ENCODER_SETTINGS.avif.effort}, chroma 4:2:0`, options: { chromaSubsampling: '4:2:0' }, match: true },
  ];
  console.log('\n## Encoder effort: the photo corpus at q-80 through the runtime table\n');
  console.log('Bytes ÷ the chosen setting\'s bytes on the same images, median SSIM, median encode time per image; where searched, the bytes at the');
  console.log('lowest quality whose SSIM reaches the JPEG q-80 (afterimage\'s JPEG) ÷ the JPEG\'s bytes (median). Settings marked * ran on two photographs.\n');
  console.log('| format | setting | quality | bytes ÷ chosen | SSIM | encode ms (median) | at equal SSIM: bytes ÷ JPEG q-80 |');
  console.log('| --- | --- | --- | --- | --- | --- | --- |');
  for (const row of rows) {
    const quality = formatQuality(row.codec, 80);
    const images = row.few ? photos.slice(0, 2) : photos;
    const results: Encoded[] = [];
    const baseline: Encoded[] = [];
    const equal: number[] = [];
    for (const image of images) {
      results.push(await m.measure(image, row.codec, quality, row.options));
      baseline.push(await m.measure(image, row.codec, quality, chosen(row.codec)));
      if (row.match) {
        const jpeg = await m.measure(image, 'jpeg', 80);
        const q = await m.match(image, row.codec, jpeg.ssim, row.options);
        equal.push((await m.measure(image, row.codec, q, row.options)).bytes / jpeg.bytes);
      }
    }
    const ratio = results.reduce((sum, r) => sum + r.bytes, 0) / baseline.reduce((sum, r) => sum + r.bytes, 0);
    console.log(
      `| ${row.codec} | ${row.label}${row.few ? ' *' : ''} | ${quality} | ${fixed(ratio)} | ${fixed(median(results.map((r) => r.ssim)), 4)} | ${fixed(median(results.map((r) => r.ms)), 0)} | ${equal.length ? fixed(median(equal)) : ''} |`,
    );
  }

}

/** The target: a 1200-wide AVIF, p50 of the encode alone (the input already decoded, as after a resize). */
async function avifTimeTable(): Promise<void> {
  const large = await photoCorpus(1200, 800);
  console.log('\n## AVIF at 1200×800: encode time by effort (the five drawn photographs, three times each, q-80 through the table)\n');
  console.log('Wall time, and the CPU time of the process (all libvips threads) for the same encodes.\n');
  console.log('| effort | p50 ms | max ms | CPU ms p50 | total bytes |');
  console.log('| --- | --- | --- | --- | --- |');
  for (const effort of [0, 1, 2, 3, 4]) {
    const times: number[] = [];
    const cpu: number[] = [];
    let bytes = 0;
    for (const image of large) {
      for (let i = 0; i < 3; i++) {
        const start = process.hrtime.bigint();
        const cpuStart = process.cpuUsage();
        const body = await encoder(open(image), 'avif', formatQuality('avif', 80), { effort }).toBuffer();
        times.push(Number(process.hrtime.bigint() - start) / 1e6);
        const used = process.cpuUsage(cpuStart);
        cpu.push((used.user + used.system) / 1000);
        if (i === 0) bytes += body.length;
      }
    }
    const marker = effort === ENCODER_SETTINGS.avif.effort ? ' (chosen)' : '';
    console.log(`| ${effort}${marker} | ${fixed(median(times), 0)} | ${fixed(Math.max(...times), 0)} | ${fixed(median(cpu), 0)} | ${bytes} |`);
  }
}

async function main(): Promise<void> {
  const args = new Set(process.argv.slice(2));
  console.log(`# Quality per format: ${new Date().toISOString()}, ${os.cpus().length} cores (${os.cpus()[0]?.model}), load ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`);
  console.log(`sharp ${sharp.versions.sharp}, libvips ${sharp.versions.vips}, Node ${process.version}; settings ${JSON.stringify(ENCODER_SETTINGS)}\n`);
  const real = args.has('--synthetic') ? null : await realPhotos();
  const photos = real ?? (await photoCorpus());
  if (real) {
    const listed = (subset: string) => real.filter((p) => p.subset === subset).map((p) => `${p.name} ${p.width}×${p.height}`);
    console.log(`Photo corpus: ${PHOTOS.length} real photographs from bench/.photos/: colour ${listed('colour').join(', ')}; monochrome prints ${listed('monochrome').join(', ')}.`);
  }
  else console.log(`Photo corpus: the five drawn (synthetic) photographs, 768×512${args.has('--synthetic') ? ' (--synthetic)' : ': bench/.photos/ is missing, run `npm run bench:photos` for real ones'}.`);
  console.log('Graphics: the four drawn graphics, 768×512.\n');
  const corpus = [...photos, ...(await graphicCorpus())];
  const m = new Measurements();
  // `--avif-only` / `--webp-only`: search one format's column (after changing its encoder settings).
  const codecs = args.has('--avif-only') ? (['avif'] as const) : args.has('--webp-only') ? (['webp'] as const) : (['webp', 'avif'] as const);
  if (!args.has('--no-mapping')) await mappingTables(corpus, m, codecs);
  if (!args.has('--no-runtime')) await runtimeTable(corpus, m);
  if (!args.has('--no-targets')) await targetsTable(corpus, m);
  if (!args.has('--no-auto')) await autoQualityTable(corpus, m);
  if (!args.has('--no-effort')) await effortTables(corpus, m);
  if (!args.has('--no-avif-time')) await avifTimeTable();
  console.log(`\nload at the end: ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
