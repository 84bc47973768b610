// Peak memory of one request's image work, measured in a child process (VmHWM, Linux), and
// the inputs it is measured on: noise images (the worst case for every codec) of a given size
// and format, written once under test/.tmp/peak-rss.

import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { parseConfig, type LimitsConfig } from '../lambda/config';
import { affordableFormat, overPixelLimits } from '../lambda/image/cost';
import { chooseFormat, type ImageFormat } from '../lambda/image/format';
import { inspectInput } from '../lambda/image/pipeline';
import { buildPlan } from '../lambda/request/plan';
import { parseRequestUrl } from '../lambda/request/parse-url';

export interface PeakRssJob {
  inputFile: string;
  /** An ImageKit chain, as after `tr:`. */
  chain: string;
  /** `Accept` of the request, for `f-auto` (the default output format). */
  accept?: string;
  limits?: Partial<LimitsConfig>;
  /** The layer images the chain names (`i-<path>`), by path: the files they are read from. */
  layerFiles?: Record<string, string>;
}

export interface PeakRssResult {
  /** 200, or the error's status. */
  status: number;
  error?: string;
  format?: ImageFormat;
  width?: number;
  height?: number;
  bytes?: number;
  /** Resident memory when the work started (Node, sharp, the input bytes). */
  baselineMiB: number;
  /** The process's peak resident memory (VmHWM), the baseline included. */
  peakMiB: number;
  /** The cost model's estimate of the peak, for the format it chose. */
  estimateMiB?: number;
  ms: number;
}

const ROOT = join(__dirname, '..');
const CHILD = join(__dirname, 'peak-rss-child.ts');

/** Runs one job in a fresh Node process (tsx), with the concurrency libvips gets in production. */
export function measurePeakRss(job: PeakRssJob): Promise<PeakRssResult> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['--import', 'tsx', CHILD, JSON.stringify(job)], { cwd: ROOT, maxBuffer: 1 << 20, env: { ...process.env, NODE_OPTIONS: '' } }, (error, stdout, stderr) => {
      if (error) return reject(new Error(`peak-rss child failed: ${error.message}\n${stderr}`));
      resolve(JSON.parse(stdout.trim().split('\n').pop()!) as PeakRssResult);
    });
  });
}

export type InputKind = 'jpeg' | 'jpeg-progressive' | 'png' | 'png-interlaced' | 'png-16bit' | 'webp' | 'avif' | 'gif' | 'gif-animated' | 'webp-animated';

/** Frames of the animated kinds. */
export const ANIMATION_FRAMES = 20;

/**
 * A noise image of `width`×`height` (with alpha where the format has it), written once and
 * reused. Noise is the worst case for encoders and decoders alike; only its size matters here.
 */
export async function noiseImage(kind: InputKind, width: number, height: number, directory = join(ROOT, 'test', '.tmp', 'peak-rss')): Promise<string> {
  const alpha = kind.startsWith('png') || kind.startsWith('webp') || kind === 'avif';
  const frames = kind.endsWith('-animated') ? ANIMATION_FRAMES : 1;
  const file = join(directory, `${kind}-${width}x${height}.${kind.split('-')[0]}`);
  if (existsSync(file)) return file;
  mkdirSync(directory, { recursive: true });
  // Noise at a tenth of the size, enlarged: real detail at every scale, and quick to make.
  const small = await sharp({ create: { width: Math.ceil(width / 10), height: Math.ceil((height * frames) / 10), channels: alpha ? 4 : 3, background: { r: 128, g: 128, b: 128, alpha: 0.5 }, noise: { type: 'gaussian', mean: 128, sigma: 60 } } })
    .raw()
    .toBuffer({ resolveWithObject: true });
  let image = sharp(small.data, { raw: small.info }).resize(width, height * frames, { kernel: 'cubic' });
  if (frames > 1) {
    const tall = await image.raw().toBuffer({ resolveWithObject: true });
    image = sharp(tall.data, { raw: { ...tall.info, pageHeight: height } });
  }
  switch (kind) {
    case 'jpeg': image = image.jpeg({ quality: 90 }); break;
    case 'jpeg-progressive': image = image.jpeg({ quality: 90, progressive: true, chromaSubsampling: '4:4:4' }); break;
    case 'png': image = image.png({ compressionLevel: 1 }); break;
    case 'png-interlaced': image = image.png({ compressionLevel: 1, progressive: true }); break;
    case 'png-16bit': image = image.toColourspace('rgb16').png({ compressionLevel: 1 }); break;
    case 'webp': image = image.webp({ quality: 90 }); break;
    case 'avif': image = image.avif({ quality: 60, effort: 0 }); break;
    case 'gif':
    case 'gif-animated': image = image.gif(); break;
    case 'webp-animated': image = image.webp({ quality: 90 }); break;
  }
  writeFileSync(file, await image.toBuffer());
  return file;
}

export interface WorstCase {
  kind: InputKind;
  chain: string;
  accept?: string;
  limits: Partial<LimitsConfig>;
}

/**
 * The largest square input of `kind` (side in pixels) for which the cost model still lets
 * `chain` run in the format it asks for: the worst request of that shape the limits allow.
 * Found on the model alone (pure), then the input is written.
 */
export async function largestAllowedInput(worst: WorstCase): Promise<{ side: number; file: string; format: ImageFormat }> {
  const config = parseConfig({ origins: [{ name: 'o', type: 's3', bucket: 'b' }], limits: worst.limits });
  const plan = buildPlan(parseRequestUrl(config.endpoints, `/tr:${worst.chain}/input`, ''), config);
  const sample = (await inspectInput(readFileSync(await noiseImage(worst.kind, 64, 64)), config.limits))!;
  const decision = chooseFormat({ explicit: plan.output.format, configured: config.output.format, accept: worst.accept, input: sample });
  if (decision.format === 'svg') throw new Error('SVG inputs are not measured here');
  const format = decision.format;
  const allowed = (side: number) => {
    // Noise barely compresses: the stored file is about the raw size (a bound for every kind).
    const bytes = Math.ceil(side * side * sample.pages * sample.channels * sample.bytesPerSample * 1.05);
    const input = { ...sample, width: side, height: side, bytes };
    // limits.maxInputBytes is left out: a compressible file of this size would pass it.
    if (overPixelLimits(input, plan.steps, config.limits, format)) return false;
    try {
      return affordableFormat({ input, steps: plan.steps, output: plan.output, decision: { ...decision, format }, accept: worst.accept, limits: config.limits }) === format;
    } catch {
      return false;
    }
  };
  let low = 16;
  let high = 16384;
  if (!allowed(low)) throw new Error(`${worst.chain} on ${worst.kind} is refused even at ${low}px`);
  while (high - low > 1) {
    const middle = Math.floor((low + high) / 2);
    if (allowed(middle)) low = middle;
    else high = middle;
  }
  return { side: low, file: await noiseImage(worst.kind, low, low), format };
}
