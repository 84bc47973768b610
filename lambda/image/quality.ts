// README "Output": what `q` means in each format. Encoders read quality differently (AVIF at
// q-80 is far larger than a JPEG at q-80 that looks the same), so a `q` is the JPEG quality the
// user wants to look like, and WebP and AVIF are encoded at the quality that matches it.
// Measured by `npm run bench:quality` (BENCHMARKS.md, "Quality per format"); pure, no pixels.

import type { ImageFormat } from './format';

/**
 * A JPEG quality and the WebP and AVIF qualities of the same SSIM (the median over the photo
 * corpus, rounded up where the graphics needed more). Increasing in every column.
 */
export const QUALITY_TABLE: readonly { jpeg: number; webp: number; avif: number }[] = [
  { jpeg: 1, webp: 1, avif: 1 },
  { jpeg: 40, webp: 40, avif: 40 },
  { jpeg: 50, webp: 50, avif: 50 },
  { jpeg: 60, webp: 60, avif: 60 },
  { jpeg: 70, webp: 70, avif: 70 },
  { jpeg: 75, webp: 75, avif: 75 },
  { jpeg: 80, webp: 80, avif: 80 },
  { jpeg: 85, webp: 85, avif: 85 },
  { jpeg: 90, webp: 90, avif: 90 },
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
  avif: { effort: 2, chromaSubsampling: '4:2:0' },
} as const;
