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

/** A wordmark on a transparent background (PNG with alpha): the sample watermark for layers. */
export function logoSvg(width: number, height: number): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">
  <rect x="0" y="0" width="${height}" height="${height}" rx="${height * 0.2}" fill="#0f172a"/>
  <path d="M${height * 0.2} ${height * 0.8} L${height * 0.5} ${height * 0.2} L${height * 0.8} ${height * 0.8} Z" fill="#fde047"/>
  <rect x="${height * 1.2}" y="${height * 0.3}" width="${width - height * 1.3}" height="${height * 0.4}" rx="${height * 0.2}" fill="#ffffff" fill-opacity="0.9"/>
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
    ['brand/logo.png', await sharp(Buffer.from(logoSvg(480, 120))).png().toBuffer(), 'image/png'],
    ['brand/logo.svg', Buffer.from(badgeSvg(200)), 'image/svg+xml'],
    ['docs/readme.txt', Buffer.from('Not an image: served as stored.\n'), 'text/plain'],
  ];
  for (const [key, body, type] of files) await s3.put(SAMPLE_BUCKET, key, body, type);
  return files.map(([key]) => key);
}

// --- a sample Cloudinary backup -----------------------------------------------------------

/** The cloud name of the sample backup; the local endpoint's prefix is the same, as a hosted one can be. */
export const SAMPLE_CLOUD = 'demo';
/** Where Cloudinary's backup writes `<resource_type>/<type>/<public_id>/<version>.<format>`. */
export const SAMPLE_BACKUP_FOLDER = `res/${SAMPLE_CLOUD}/`;

/** A product shot whose backdrop colour tells its version apart. */
export function productSvg(width: number, height: number, backdrop: string): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">
  <rect width="100%" height="100%" fill="${backdrop}"/>
  <ellipse cx="${width / 2}" cy="${height * 0.8}" rx="${width * 0.32}" ry="${height * 0.05}" fill="#000000" fill-opacity="0.2"/>
  <path d="M${width * 0.2} ${height * 0.72} L${width * 0.28} ${height * 0.42} Q${width * 0.42} ${height * 0.36} ${width * 0.5} ${height * 0.5} L${width * 0.8} ${height * 0.6} Q${width * 0.84} ${height * 0.72} ${width * 0.78} ${height * 0.74} Z" fill="#f8fafc" stroke="#0f172a" stroke-width="${width * 0.01}"/>
</svg>`;
}

/** The versions in the sample backup: public id → [version, backdrop, format][]; the newest is green. */
export const SAMPLE_BACKUP: Record<string, [version: number, backdrop: string, format: 'jpg' | 'png'][]> = {
  'products/sneaker': [
    [1600000000, '#dc2626', 'jpg'],
    [1650000000, '#2563eb', 'jpg'],
    [1700000000, '#16a34a', 'jpg'],
  ],
  'brand/badge': [
    [1650000000, '#f59e0b', 'png'],
    [1700000000, '#16a34a', 'png'],
  ],
  // One version in two formats: `sample.png` and `sample.jpg` are different files.
  sample: [
    [1700000000, '#7c3aed', 'png'],
    [1700000000, '#16a34a', 'jpg'],
  ],
};

/** Writes the sample backup as Cloudinary does: `res/<cloud>/image/upload/<public_id>/<version>.<format>`. */
export async function seedCloudinaryBackup(s3: EmbeddedS3): Promise<string[]> {
  const keys: string[] = [];
  for (const [publicId, versions] of Object.entries(SAMPLE_BACKUP)) {
    for (const [version, backdrop, format] of versions) {
      const image = sharp(Buffer.from(productSvg(1200, 800, backdrop)));
      const body = format === 'png' ? await image.png().toBuffer() : await image.jpeg({ quality: 85 }).toBuffer();
      const key = `${SAMPLE_BACKUP_FOLDER}image/upload/${publicId}/${version}.${format}`;
      await s3.put(SAMPLE_BUCKET, key, body, format === 'png' ? 'image/png' : 'image/jpeg');
      keys.push(key);
    }
  }
  return keys;
}

/** Printed by `npm start`: Cloudinary URLs as they appear in existing pages, served from the backup. */
export const CLOUDINARY_EXAMPLES: [url: string, what: string][] = [
  [`/${SAMPLE_CLOUD}/image/upload/c_fill,g_auto,h_300,w_400/e_grayscale/v1700000000/products/sneaker.jpg`, 'an old-style Cloudinary URL: components, a version'],
  [`/${SAMPLE_CLOUD}/image/upload/w_300/v1/products/sneaker.webp`, 'v1 as the SDKs write it: the newest version, as WebP'],
  [`/${SAMPLE_CLOUD}/image/upload/v1600000000/products/sneaker.jpg`, 'an explicit old version (exactVersions): the red one'],
  [`/${SAMPLE_CLOUD}/image/upload/c_pad,b_rgb:f1f5f9,h_300,w_300/sample.png`, 'one version stored as PNG and JPEG: the PNG'],
  [`/${SAMPLE_CLOUD}/tr:w-200,r-max/image/upload/brand/badge.png`, 'ImageKit parameters on the same endpoint'],
  [`/${SAMPLE_CLOUD}/image/upload/w_600/l_brand:badge/c_scale,w_120/fl_layer_apply,g_south_east,x_20,y_20/v1/products/sneaker.jpg`, 'a Cloudinary layer: the badge, from the same backup, in the corner'],
];
