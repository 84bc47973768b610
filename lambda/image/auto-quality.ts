// README "Output", `q-auto`: a perceptual target instead of a fixed quality. Per image, the
// lowest JPEG quality whose SSIM reaches the level's target is searched on a proxy of the
// rendered image (at most 16 tiles of 64×64 pixels at full resolution, so the cost does not
// grow with the image); WebP and AVIF then take their equivalent of it (quality.ts).

import sharp from 'sharp';
import type { AutoQualityLevel } from '../request/plan-types';
import { withinDeadline, type Deadline } from './deadline';

export interface AutoQualityTarget {
  /** Mean SSIM (luma, 8×8 windows) the proxy must reach. */
  ssim: number;
  /** The JPEG qualities searched: the answer is never outside them. */
  min: number;
  max: number;
  /** Where no search can run (an animation kept animated): the quality used instead. */
  fallback: number;
}

/**
 * The levels, from Cloudinary's `q_auto:best|good|eco|low` (`q-auto` is `good`). Each target is
 * the median proxy SSIM of the twelve real photographs of `npm run bench:photos` at the fixed
 * quality the level used to mean (86, 70, 60, 50; BENCHMARKS.md, "q-auto"): on a typical
 * photograph the level gives about that quality; smooth images get less, grainy or detailed ones
 * more, within [min, max].
 */
export const AUTO_QUALITY_TARGETS: Readonly<Record<AutoQualityLevel, AutoQualityTarget>> = {
  best: { ssim: 0.976, min: 70, max: 95, fallback: 86 },
  good: { ssim: 0.954, min: 50, max: 85, fallback: 70 },
  eco: { ssim: 0.944, min: 40, max: 75, fallback: 60 },
  low: { ssim: 0.934, min: 30, max: 65, fallback: 50 },
};

/** Raw pixels, 8 bits a sample. */
export interface RawImage {
  data: Buffer;
  width: number;
  height: number;
  channels: number;
}

const TILE = 64;
const TILES_PER_SIDE = 4;

/** Where tiles of `size` along a side of `length` start: spread evenly, on the 16-pixel grid of JPEG's blocks. */
function tileStarts(length: number, size: number): number[] {
  const count = Math.min(TILES_PER_SIDE, Math.floor(length / size));
  return Array.from({ length: count }, (_, i) => Math.min(length - size, Math.floor(((i + 0.5) * length) / count - size / 2) & ~15));
}

/**
 * The proxy: up to 4×4 tiles of 64×64 taken across the image, side by side, as RGB with alpha
 * flattened on white. An image of at most 256×256 is its own proxy.
 */
export function proxyOf(image: RawImage): RawImage {
  const { width, height, channels, data } = image;
  const tw = Math.min(TILE, width);
  const th = Math.min(TILE, height);
  const small = width <= TILE * TILES_PER_SIDE && height <= TILE * TILES_PER_SIDE;
  const xs = small ? [0] : tileStarts(width, tw);
  const ys = small ? [0] : tileStarts(height, th);
  const pw = small ? width : xs.length * tw;
  const ph = small ? height : ys.length * th;
  const out = Buffer.alloc(pw * ph * 3);
  const colour = channels >= 3;
  const alpha = channels === 2 || channels === 4;
  for (let py = 0; py < ph; py++) {
    const sy = small ? py : ys[Math.floor(py / th)] + (py % th);
    for (let px = 0; px < pw; px++) {
      const sx = small ? px : xs[Math.floor(px / tw)] + (px % tw);
      const s = (sy * width + sx) * channels;
      const a = alpha ? data[s + channels - 1] / 255 : 1;
      const o = (py * pw + px) * 3;
      for (let c = 0; c < 3; c++) out[o + c] = Math.round(data[s + (colour ? c : 0)] * a + 255 * (1 - a));
    }
  }
  return { data: out, width: pw, height: ph, channels: 3 };
}

/** Luma (Rec. 601) of RGB pixels. */
function luma(data: Buffer): Float32Array {
  const out = new Float32Array(data.length / 3);
  for (let i = 0; i < out.length; i++) out[i] = 0.299 * data[i * 3] + 0.587 * data[i * 3 + 1] + 0.114 * data[i * 3 + 2];
  return out;
}

const C1 = (0.01 * 255) ** 2;
const C2 = (0.03 * 255) ** 2;

/**
 * Mean SSIM of two RGB images of one size, on luma, over 8×8 windows every 4 pixels (so windows
 * straddle JPEG's block edges, where its artefacts are). Close to ssim.js on the same pixels.
 */
export function meanSsim(reference: Buffer, distorted: Buffer, width: number, height: number): number {
  const a = luma(reference);
  const b = luma(distorted);
  const size = Math.min(8, width, height);
  let sum = 0;
  let windows = 0;
  for (let y = 0; y + size <= height; y += 4) {
    for (let x = 0; x + size <= width; x += 4) {
      let sa = 0;
      let sb = 0;
      let saa = 0;
      let sbb = 0;
      let sab = 0;
      for (let j = 0; j < size; j++) {
        for (let i = 0; i < size; i++) {
          const k = (y + j) * width + x + i;
          sa += a[k];
          sb += b[k];
          saa += a[k] * a[k];
          sbb += b[k] * b[k];
          sab += a[k] * b[k];
        }
      }
      const n = size * size;
      const ma = sa / n;
      const mb = sb / n;
      const va = saa / n - ma * ma;
      const vb = sbb / n - mb * mb;
      const cov = sab / n - ma * mb;
      sum += ((2 * ma * mb + C1) * (2 * cov + C2)) / ((ma * ma + mb * mb + C1) * (va + vb + C2));
      windows++;
    }
  }
  return windows ? sum / windows : 1;
}

/** SSIM of the proxy encoded as JPEG at `quality` (as the pipeline encodes JPEG) against itself. */
async function proxySsim(proxy: RawImage, quality: number, deadline?: Deadline): Promise<number> {
  const raw = { width: proxy.width, height: proxy.height, channels: 3 as const };
  const jpeg = await withinDeadline(sharp(proxy.data, { raw }).jpeg({ quality }), deadline).toBuffer();
  const decoded = await withinDeadline(sharp(jpeg).raw(), deadline).toBuffer();
  return meanSsim(proxy.data, decoded, proxy.width, proxy.height);
}

/**
 * The lowest JPEG quality in the level's range whose proxy SSIM reaches its target (the range's
 * top when none does): a bisection, so at most ⌈log2(max − min + 1)⌉ encodes of the proxy
 * (5 for `best`, 6 for the others), each of at most 65 536 pixels.
 */
export async function searchAutoQuality(image: RawImage, level: AutoQualityLevel, deadline?: Deadline): Promise<number> {
  const target = AUTO_QUALITY_TARGETS[level];
  const proxy = proxyOf(image);
  let low = target.min;
  let high = target.max;
  while (low < high) {
    const mid = Math.floor((low + high) / 2);
    if ((await proxySsim(proxy, mid, deadline)) >= target.ssim) high = mid;
    else low = mid + 1;
  }
  return low;
}

/** `searchAutoQuality` over a sharp pipeline's pixels (for the benchmark and tests). */
export async function autoQualityOf(image: sharp.Sharp, level: AutoQualityLevel): Promise<number> {
  const { data, info } = await image.raw().toBuffer({ resolveWithObject: true });
  return searchAutoQuality({ data, width: info.width, height: info.height, channels: info.channels }, level);
}
