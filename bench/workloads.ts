// The workloads of the side-by-side benchmark, as table entries: the originals in the bucket, and
// for each workload the request each contender makes for one image (several for the srcset
// burst): afterimage's URL and Accept, IPX's URL with the equivalent modifiers, and the sharp
// operations and encoder settings afterimage runs for that URL (read from lambda/image/), which
// the in-process contenders replay. The encoder settings and the quality per format are imported
// from lambda/image/quality.ts, so the replay cannot drift from afterimage.

import sharp from 'sharp';
import { DEFAULT_LIMITS, type AfterimageConfigInput } from '../lambda/config';
import { ENCODER_SETTINGS, formatQuality } from '../lambda/image/quality';
import { EMBEDDED_KEYS } from '../local/embedded-s3';

export const BUCKET = 'bench';
/** The Cloudinary backup's folder and cloud name (the endpoint prefix). */
export const BACKUP_FOLDER = 'res/demo/';
export const CLOUD = 'demo';
/** Versions stored for the Cloudinary asset; the newest is served. */
export const VERSIONS = 20;
export const FIRST_VERSION = 1700000000;

/** afterimage's configuration for the bench: the bucket as an S3 origin, its Cloudinary backup folder under `/demo`. */
export function afterimageConfig(endpoint: string, limits?: AfterimageConfigInput['limits']): AfterimageConfigInput {
  const credentials = { source: 'static', ...EMBEDDED_KEYS } as const;
  return {
    ...(limits ? { limits } : {}),
    origins: [
      { name: 'bench', type: 's3', bucket: BUCKET, folder: '/', endpoint, credentials },
      { name: 'backup', type: 'cloudinary-backup', bucket: BUCKET, folder: `/${BACKUP_FOLDER}`, endpoint, credentials },
    ],
    endpoints: [
      { prefix: '', origins: ['bench'] },
      { prefix: `/${CLOUD}`, origins: ['backup'], cloudinaryUrls: true },
    ],
  };
}

/** What afterimage runs in sharp for one URL (lambda/image/pipeline.ts `open`, operations, `encode`). */
export interface RenderSpec {
  width: number;
  height: number;
  /** `w-,h-` (ImageKit's default crop) is a centred cover; `w-` alone a plain resize. */
  fit: 'cover' | 'fill';
  format: 'webp' | 'avif' | 'jpeg';
  /** The user's `q` (a JPEG quality); WebP and AVIF are encoded at `formatQuality(format, quality)`. */
  quality: number;
  /** A JPEG input is opened with failOn 'warning' (pipeline.ts `renderImage`), others with 'error'. */
  failOn: 'warning' | 'error';
}

export interface BenchRequest {
  /** Path on the afterimage server. */
  afterimage: string;
  /** Path on the IPX server, the source URL included (`{base}` is the S3 server). */
  ipx: string;
  accept: string;
  /** The object the in-process contenders read. */
  key: string;
  render: RenderSpec;
}

export interface Workload {
  id: string;
  title: string;
  /** One image, or the widths of a srcset burst, requested one after another. */
  requests: BenchRequest[];
  /**
   * Units (images or bursts) per cell at concurrency 1; concurrency 4 runs twice as many. About
   * a second of work per cell where a unit is cheap: in cells of 0.4 s, one round's ratio between
   * two runs of the same code strayed by up to 40 %.
   */
  units: number;
  /** Answered 304 from If-None-Match (afterimage only). */
  revalidation?: boolean;
}

export const CAMERA_KEY = 'photos/camera.jpg';
export const CUTOUT_KEY = 'cutouts/product.png';
export const ASSET_PATH = 'products/shoe';
export const newestVersionKey = () => `${BACKUP_FOLDER}image/upload/${ASSET_PATH}/${FIRST_VERSION + VERSIONS - 1}.jpg`;

const BROWSER_AVIF = 'image/avif,image/webp,image/apng,image/*,*/*;q=0.8';
/** A browser without AVIF (Safari before 16): srcset widths are WebP. */
const BROWSER_WEBP = 'image/webp,image/apng,image/*,*/*;q=0.8';
/** afterimage's default quality (config `output.quality`): the JPEG quality every format is to look like. */
const Q = 80;
/**
 * IPX's `q_` is the encoder's own quality (sharp's `quality` for the format IPX picks), so IPX is
 * asked for the quality afterimage encodes that format at: the same quality in every format.
 */
const ipxQ = (format: RenderSpec['format']) => `q_${formatQuality(format, Q)}`;

const s3Source = (key: string) => `{base}/${BUCKET}/${key}`;

function resize(width: number, format: RenderSpec['format'], input: { width: number; height: number; jpeg: boolean }): RenderSpec {
  return { width, height: Math.round((width * input.height) / input.width), fit: 'fill', format, quality: Q, failOn: input.jpeg ? 'warning' : 'error' };
}

const CAMERA = { width: 4000, height: 3000, jpeg: true };
const CUTOUT = { width: 1600, height: 1250, jpeg: false };
const UPLOAD = { width: 2400, height: 1600, jpeg: true };

const thumbnail: BenchRequest = {
  afterimage: `/tr:w-300,h-300,f-webp/${CAMERA_KEY}`,
  ipx: `/s_300x300&f_webp&${ipxQ('webp')}/${s3Source(CAMERA_KEY)}`,
  accept: BROWSER_AVIF,
  key: CAMERA_KEY,
  render: { width: 300, height: 300, fit: 'cover', format: 'webp', quality: Q, failOn: 'warning' },
};

export const WORKLOADS: Workload[] = [
  { id: 'thumb', title: '12 MP JPEG → 300×300 WebP', requests: [thumbnail], units: 15 },
  {
    id: 'avif',
    title: '12 MP JPEG → 1200w f-auto (AVIF Accept)',
    requests: [{
      afterimage: `/tr:w-1200,f-auto/${CAMERA_KEY}`,
      ipx: `/w_1200&f_auto&${ipxQ('avif')}/${s3Source(CAMERA_KEY)}`,
      accept: BROWSER_AVIF,
      key: CAMERA_KEY,
      render: resize(1200, 'avif', CAMERA),
    }],
    // IPX encodes AVIF at sharp's defaults (effort 4, 4:4:4): seconds per image; one is enough per round.
    units: 1,
  },
  {
    id: 'png',
    title: '2 MP PNG with alpha → 800w WebP',
    requests: [{
      afterimage: `/tr:w-800,f-webp/${CUTOUT_KEY}`,
      ipx: `/w_800&f_webp&${ipxQ('webp')}/${s3Source(CUTOUT_KEY)}`,
      accept: BROWSER_AVIF,
      key: CUTOUT_KEY,
      render: resize(800, 'webp', CUTOUT),
    }],
    units: 5,
  },
  {
    id: 'srcset',
    title: 'srcset burst 320…1920w WebP (per burst)',
    requests: [320, 640, 960, 1280, 1920].map((width) => ({
      afterimage: `/tr:w-${width}/${CAMERA_KEY}`,
      ipx: `/w_${width}&f_auto&${ipxQ('webp')}/${s3Source(CAMERA_KEY)}`,
      accept: BROWSER_WEBP,
      key: CAMERA_KEY,
      render: resize(width, 'webp', CAMERA),
    })),
    units: 2,
  },
  {
    id: 'cloudinary',
    title: 'Cloudinary layout, 20 versions → 800w WebP',
    requests: [{
      // The newest of the asset's versions (`v1`, as the SDKs write it); the others read it by key.
      afterimage: `/${CLOUD}/image/upload/w_800/v1/${ASSET_PATH}.jpg`,
      ipx: `/w_800&f_auto&${ipxQ('webp')}/${s3Source(newestVersionKey())}`,
      accept: BROWSER_WEBP,
      key: newestVersionKey(),
      render: resize(800, 'webp', UPLOAD),
    }],
    units: 15,
  },
  { id: 'revalidate', title: '304 revalidation of the 300×300 WebP', requests: [thumbnail], units: 20, revalidation: true },
];

/** The in-process contenders' render: exactly the sharp calls afterimage makes for the URL (pipeline.ts `encode`). */
export function renderDirect(bytes: Buffer | Uint8Array, spec: RenderSpec): Promise<Buffer> {
  const image = sharp(bytes, { limitInputPixels: DEFAULT_LIMITS.maxInputPixels, animated: false, failOn: spec.failOn })
    .autoOrient()
    .resize(spec.width, spec.height, spec.fit === 'cover' ? { fit: 'cover', position: 'centre' } : { fit: 'fill' });
  switch (spec.format) {
    case 'webp':
      return image.webp({ ...ENCODER_SETTINGS.webp, quality: formatQuality('webp', spec.quality), lossless: false }).toBuffer();
    case 'avif':
      return image.avif({ ...ENCODER_SETTINGS.avif, quality: formatQuality('avif', spec.quality) }).toBuffer();
    case 'jpeg':
      return image.jpeg({ ...ENCODER_SETTINGS.jpeg, quality: spec.quality, progressive: false }).toBuffer();
  }
}
