// README "Output": what `q` means in each format. Encoders read quality differently (AVIF at
// q-80 is far larger than a JPEG at q-80 that looks the same), so a `q` is the JPEG quality the
// user wants to look like, and WebP and AVIF are encoded at the quality that matches it.
// Measured by `npm run bench:quality` (BENCHMARKS.md, "Quality per format"); pure, no pixels.

import type { ImageFormat } from './format';

/**
 * A JPEG quality and the lowest WebP and AVIF qualities whose mean SSIM over the twelve real
 * photographs of `npm run bench:photos` (five colour photographs, seven monochrome prints)
 * reaches it (graphics need less, so they come out slightly better than their JPEG). Increasing
 * in every column; 1 and 100 are fixed ends.
 */
export const QUALITY_TABLE: readonly { jpeg: number; webp: number; avif: number }[] = [
  { jpeg: 1, webp: 1, avif: 1 },
  { jpeg: 40, webp: 38, avif: 45 },
  { jpeg: 50, webp: 47, avif: 47 },
  { jpeg: 60, webp: 56, avif: 50 },
  { jpeg: 70, webp: 68, avif: 55 },
  { jpeg: 75, webp: 76, avif: 58 },
  { jpeg: 80, webp: 79, avif: 62 },
  { jpeg: 85, webp: 83, avif: 67 },
  { jpeg: 90, webp: 87, avif: 76 },
  { jpeg: 100, webp: 100, avif: 100 },
];

/**
 * The encoder quality for a user's `q` (a JPEG quality, 1-100) in `format`: the table's rows
 * interpolated linearly, rounded to the nearest integer. JPEG, PNG and GIF take `q` as it is.
 */
export function formatQuality(format: ImageFormat, quality: number): number {
  if (format !== 'webp' && format !== 'avif') return quality;
  const q = Math.min(100, Math.max(1, quality));
  const upper = QUALITY_TABLE.findIndex((row) => row.jpeg >= q);
  const high = QUALITY_TABLE[upper];
  if (high.jpeg === q || upper === 0) return high[format];
  const low = QUALITY_TABLE[upper - 1];
  const share = (q - low.jpeg) / (high.jpeg - low.jpeg);
  return Math.round(low[format] + (high[format] - low[format]) * share);
}

/** How each format is encoded besides its quality (BENCHMARKS.md, "Encoder effort"). */
export const ENCODER_SETTINGS = {
  jpeg: { mozjpeg: false },
  webp: { effort: 4 },
  avif: { effort: 3, chromaSubsampling: '4:2:0' },
} as const;
