// Peak memory of one request's image work, measured in a child process (VmHWM, Linux), and
// the inputs it is measured on: noise images (the worst case for every codec) of a given size
// and format, written once under test/.tmp/peak-rss.

import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import type { LimitsConfig } from '../../lambda/config';
import type { ImageFormat } from '../../lambda/image/format';

export interface PeakRssJob {
  inputFile: string;
  /** An ImageKit chain, as after `tr:`. */
  chain: string;
  /** `Accept` of the request, for `f-auto` (the default output format). */
  accept?: string;
  limits?: Partial<LimitsConfig>;
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

const ROOT = join(__dirname, '..', '..');
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
