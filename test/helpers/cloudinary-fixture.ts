// A Cloudinary backup bucket for the tests: `res/<cloud>/<resource_type>/<type>/<public_id>/<version>.<format>`,
// with versions told apart by colour, special-character and nested public ids, and one asset
// with more versions than one listing page holds.

import type { OriginConfig } from '../../lambda/config';
import { EMBEDDED_KEYS, type EmbeddedS3 } from '../../local/embedded-s3';
import { pixel, solidImage } from '../../tools/harness';

export const BACKUP_BUCKET = 'cloudinary-backup';
export const CLOUD = 'demo';
export const UPLOAD = `res/${CLOUD}/image/upload`;

export type Colour = { r: number; g: number; b: number };
export const RED: Colour = { r: 220, g: 20, b: 20 };
export const GREEN: Colour = { r: 20, g: 200, b: 40 };
export const BLUE: Colour = { r: 20, g: 40, b: 220 };
export const YELLOW: Colour = { r: 230, g: 210, b: 20 };
export const PURPLE: Colour = { r: 130, g: 30, b: 180 };

/** Public ids with characters that must survive URL decoding, key encoding and listing. */
export const SPECIAL_PUBLIC_IDS = ['my photo', 'café/naïve', 'a+b', '100%', 'rock&roll', 'spaces in/deep folder/x y'];

/** Versions of `many`: more than one listing page; the newest is the last key and the only green one. */
export const MANY_VERSIONS = 1001;
export const MANY_FIRST = 1_000_000_000;

/** A cloudinary-backup origin on an S3 endpoint with the embedded keys. */
export function backupOrigin(endpoint: string, origin: Partial<OriginConfig> & { name: string }): OriginConfig {
  return {
    type: 'cloudinary-backup',
    bucket: BACKUP_BUCKET,
    folder: `/res/${CLOUD}/`,
    endpoint,
    credentials: { source: 'static', ...EMBEDDED_KEYS },
    ...origin,
  } as OriginConfig;
}

export async function seedCloudinaryBackup(s3: EmbeddedS3): Promise<void> {
  const jpeg = (c: Colour) => solidImage(40, 30, c, 'jpeg');
  const png = (c: Colour) => solidImage(40, 30, c, 'png');
  const files: [string, Buffer, string][] = [
    // Three versions, uploaded out of order: the newest (1700000000) is green.
    [`${UPLOAD}/products/shoe/1600000000.jpg`, await jpeg(RED), 'image/jpeg'],
    [`${UPLOAD}/products/shoe/1700000000.jpg`, await jpeg(GREEN), 'image/jpeg'],
    [`${UPLOAD}/products/shoe/1650000000.jpg`, await jpeg(BLUE), 'image/jpeg'],
    // A public id nested below another one, with a newer version: must not shadow `products/shoe`.
    [`${UPLOAD}/products/shoe/lace/1800000000.jpg`, await jpeg(PURPLE), 'image/jpeg'],
    // One version in two formats.
    [`${UPLOAD}/sample/1700000000.jpg`, await jpeg(YELLOW), 'image/jpeg'],
    [`${UPLOAD}/sample/1700000000.png`, await png(BLUE), 'image/png'],
    [`${UPLOAD}/sample/1500000000.png`, await png(RED), 'image/png'],
    // Deeply nested.
    [`${UPLOAD}/a/b/c/deep/1700000000.png`, await png(BLUE), 'image/png'],
    // Stored under the encodeKeys form of `image+example`.
    [`${UPLOAD}/image%2Bexample/1700000000.jpg`, await jpeg(PURPLE), 'image/jpeg'],
    // A raw file: its public id keeps its extension.
    [`res/${CLOUD}/raw/upload/files/notes.txt/1700000000.txt`, Buffer.from('raw notes\n'), 'text/plain'],
    // A raw file with two extensions.
    [`res/${CLOUD}/raw/upload/files/archive.tar.gz/1700000000.tar.gz`, Buffer.from('not really gzip'), 'application/gzip'],
    // Not public on Cloudinary: private and authenticated delivery types.
    [`res/${CLOUD}/image/private/internal/1700000000.jpg`, await jpeg(RED), 'image/jpeg'],
    [`res/${CLOUD}/image/authenticated/contracts/salary/1700000000.jpg`, await jpeg(RED), 'image/jpeg'],
  ];
  for (const [i, id] of SPECIAL_PUBLIC_IDS.entries()) {
    files.push([`${UPLOAD}/${id}/160000000${i}.jpg`, await jpeg(RED), 'image/jpeg']);
    files.push([`${UPLOAD}/${id}/170000000${i}.jpg`, await jpeg(GREEN), 'image/jpeg']);
  }
  await Promise.all(files.map(([key, body, type]) => s3.put(BACKUP_BUCKET, key, body, type)));

  const old = await png(RED);
  const newest = await png(GREEN);
  const manyKeys = Array.from({ length: MANY_VERSIONS }, (_, i) => `${UPLOAD}/many/${MANY_FIRST + i}.png`);
  for (let i = 0; i < manyKeys.length; i += 100) {
    await Promise.all(manyKeys.slice(i, i + 100).map((key, j) => s3.put(BACKUP_BUCKET, key, i + j === MANY_VERSIONS - 1 ? newest : old, 'image/png')));
  }
}

/** The colour at the centre of an image, within JPEG's tolerance. */
export async function expectColour(body: Buffer, colour: Colour): Promise<void> {
  const [r, g, b] = await pixel(body, 2, 2);
  const off = Math.max(Math.abs(r - colour.r), Math.abs(g - colour.g), Math.abs(b - colour.b));
  if (off > 12) throw new Error(`expected the colour ${JSON.stringify(colour)} but the image is ${JSON.stringify({ r, g, b })}`);
}
