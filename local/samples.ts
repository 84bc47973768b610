// Sample images for `npm start`, drawn at start-up with sharp so the repository holds no binaries.

import sharp from 'sharp';
import type { EmbeddedS3 } from './embedded-s3';

export const SAMPLE_BUCKET = 'afterimage-samples';

/** A landscape scene: sky gradient, sun, hills. Distinct enough to see crops and flips. */
export function landscapeSvg(width: number, height: number): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">
  <defs><linearGradient id="sky" x1="0" y1="0" x2="0" y2="1">
    <stop offset="0" stop-color="#1e3a8a"/><stop offset="1" stop-color="#93c5fd"/></linearGradient></defs>
  <rect width="100%" height="100%" fill="url(#sky)"/>
  <circle cx="${width * 0.78}" cy="${height * 0.28}" r="${height * 0.12}" fill="#fde047"/>
  <path d="M0 ${height * 0.75} Q ${width * 0.25} ${height * 0.5} ${width * 0.5} ${height * 0.72} T ${width} ${height * 0.65} V ${height} H 0 Z" fill="#166534"/>
  <rect x="${width * 0.1}" y="${height * 0.82}" width="${width * 0.12}" height="${height * 0.1}" fill="#b91c1c"/>
</svg>`;
}

/** A round badge on a transparent background (PNG with alpha). */
export function badgeSvg(size: number): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${size}" height="${size}">
  <circle cx="${size / 2}" cy="${size / 2}" r="${size * 0.45}" fill="#7c3aed"/>
  <rect x="${size * 0.3}" y="${size * 0.3}" width="${size * 0.4}" height="${size * 0.4}" fill="#f472b6"/>
</svg>`;
}

export async function seedSamples(s3: EmbeddedS3): Promise<string[]> {
  const landscape = await sharp(Buffer.from(landscapeSvg(1600, 1067))).jpeg({ quality: 85 }).toBuffer();
  const portrait = await sharp(Buffer.from(landscapeSvg(800, 1200))).jpeg({ quality: 85 }).toBuffer();
  const badge = await sharp(Buffer.from(badgeSvg(600))).png().toBuffer();
  const files: [string, Buffer, string][] = [
    ['products/landscape.jpg', landscape, 'image/jpeg'],
    ['products/portrait.jpg', portrait, 'image/jpeg'],
    ['brand/badge.png', badge, 'image/png'],
    ['brand/logo.svg', Buffer.from(badgeSvg(200)), 'image/svg+xml'],
    ['docs/readme.txt', Buffer.from('Not an image: served as stored.\n'), 'text/plain'],
  ];
  for (const [key, body, type] of files) await s3.put(SAMPLE_BUCKET, key, body, type);
  return files.map(([key]) => key);
}
