// README "URL reference", "Parameters" and "Keeping Cloudinary URLs alive": every bound of every parameter, in and out, against what sharp
// accepts. A value inside a bound renders a real image through the whole pipeline; a value
// outside is a 400 naming the parameter and what it accepts, decided before any I/O (asked of a
// file that does not exist, it is still a 400, and no origin call is made).

import type { S3Client } from '@aws-sdk/client-s3';
import sharp from 'sharp';
import { parseConfig } from '../lambda/config';
import { createS3Client } from '../lambda/origin/s3';
import { decode, s3Origin, startHarness, type Harness } from '../tools/harness';

const BUCKET = 'bounds';
/** Small limits keep the upper bounds cheap to render. */
const LIMITS = { maxOutputDimension: 512, maxInputPixels: 4096 };

let h: Harness;
let originCalls = 0;

/** 64x48: a white border around a red rectangle, so trim has something to find. */
async function framedPhoto(): Promise<Buffer> {
  const red = await sharp({ create: { width: 32, height: 24, channels: 3, background: '#f00' } }).png().toBuffer();
  return sharp({ create: { width: 64, height: 48, channels: 3, background: '#fff' } }).composite([{ input: red }]).png().toBuffer();
}

beforeAll(async () => {
  const photo = await framedPhoto();
  h = await startHarness({
    buckets: [BUCKET],
    config: (s3) => ({
      origins: [s3Origin(s3, { name: 'main', bucket: BUCKET })],
      endpoints: [
        { prefix: '', origins: ['main'] },
        { prefix: '/cld', origins: ['main'], cloudinaryUrls: true },
      ],
      // A good request always reaches the origin (the cache of originals off), so the count shows a bad one did not.
      limits: { ...LIMITS, originalCacheMB: 0 },
    }),
    seed: async (s3) => {
      await s3.put(BUCKET, 'photo.png', photo, 'image/png');
      await s3.put(BUCKET, 'image/upload/photo.png', photo, 'image/png');
      // As many pixels as limits.maxInputPixels allows, in one row: the largest coordinate.
      await s3.put(BUCKET, 'row.png', await sharp({ create: { width: LIMITS.maxInputPixels, height: 1, channels: 3, background: '#00f' } }).png().toBuffer(), 'image/png');
    },
    deps: {
      createClient: (origin) => {
        const client: S3Client = createS3Client(origin, { limits: parseConfig({ origins: [origin] }).limits });
        client.middlewareStack.add((next) => async (args) => {
          originCalls++;
          return next(args);
        }, { step: 'initialize' });
        return client;
      },
    },
  });
});

afterAll(() => h.close());

interface InRange {
  chain: string;
  /** The stored file; photo.png (64x48) unless named. */
  file?: string;
  /** Expected output size, where the bound decides it. */
  size?: [number, number];
}

/** Each bound a parameter has, just inside. */
const IN_RANGE: InRange[] = [
  { chain: 'w-1', size: [1, 1] },
  { chain: 'w-512', size: [512, 384] },
  { chain: 'w-0.01', size: [1, 1] },
  { chain: 'w-0.99', size: [63, 47] },
  { chain: 'h-1', size: [1, 1] },
  { chain: 'h-512,w-1,c-force', size: [1, 512] },
  { chain: 'w-256,ar-1-2', size: [256, 512] },
  { chain: 'h-512,ar-1-1', size: [512, 512] },
  { chain: 'w-100,dpr-0.1', size: [10, 8] },
  { chain: 'w-100,dpr-5', size: [500, 375] },
  { chain: 'w-10,h-10,c-force,q-1,f-jpg' },
  { chain: 'q-100,f-jpg' },
  { chain: 'q-1,f-webp' },
  { chain: 'q-100,f-avif' },
  { chain: 'w-1,h-1,cm-extract,x-4095,y-0', file: 'row.png', size: [1, 1] },
  { chain: 'w-1,h-1,cm-extract,xc-4095,yc-0', file: 'row.png', size: [1, 1] },
  { chain: 'w-1,h-1,cm-pad_extract,x-0,y-0', size: [1, 1] },
  { chain: 'b-1_FF0000', size: [66, 50] },
  { chain: 'w-1,h-1,b-255_FF0000', size: [511, 511] },
  { chain: 'r-1' },
  { chain: 'r-512' },
  { chain: 'r-max' },
  { chain: 'bl-1' },
  { chain: 'bl-100' },
  { chain: 'e-sharpen-1' },
  { chain: 'e-sharpen-100' },
  { chain: 'e-usm-0-0.01-0.01-0' },
  { chain: 'e-usm-100-10-100-1' },
  { chain: 'e-usm-1-10-1-0' },
  { chain: 'rt-3600', size: [64, 48] },
  { chain: 'rt-N3600', size: [64, 48] },
  { chain: 'rt-N0.5' },
  { chain: 'rt-359.999' },
  { chain: 't-1' },
  { chain: 't-99' },
  { chain: 't-true', size: [32, 24] },
  // Cloudinary URLs map onto the same parameters; their own ranges where they differ.
  { chain: '/cld/image/upload/e_blur:1/photo.png' },
  { chain: '/cld/image/upload/e_blur:2000/photo.png' },
  { chain: '/cld/image/upload/e_sharpen:1/photo.png' },
  { chain: '/cld/image/upload/e_sharpen:2000/photo.png' },
  { chain: '/cld/image/upload/q_1/photo.png' },
  { chain: '/cld/image/upload/q_100/photo.png' },
  { chain: '/cld/image/upload/w_512/photo.png', size: [512, 384] },
  { chain: '/cld/image/upload/w_0.5/photo.png', size: [32, 24] },
  { chain: '/cld/image/upload/w_100,dpr_5.0/photo.png', size: [500, 375] },
  { chain: '/cld/image/upload/c_scale,h_1,w_1/bo_255px_solid_red/photo.png', size: [511, 511] },
  { chain: '/cld/image/upload/a_-3600/photo.png', size: [64, 48] },
  { chain: '/cld/image/upload/r_512/photo.png' },
  { chain: '/cld/image/upload/ar_1:2,c_fill,w_256/photo.png', size: [256, 512] },
];

interface OutOfRange {
  chain: string;
  /** The start of the 400 message: the parameter as written and what it must be. */
  message: string;
}

const must = (raw: string, key = raw.startsWith('e-') ? raw.split('-').slice(0, 2).join('-') : raw.split('-')[0]) => `Invalid transformation "${raw}": ${key} must be `;
const mustCloudinary = (raw: string) => `Invalid Cloudinary transformation "${raw}": ${raw.split('_')[0]} must be `;

/** Each bound a parameter has, just outside. */
const OUT_OF_RANGE: OutOfRange[] = [
  { chain: 'w-0', message: `${must('w-0')}a positive integer up to 512 (limits.maxOutputDimension) or a fraction between 0 and 1` },
  { chain: 'w-513', message: must('w-513') },
  { chain: 'w-1.5', message: must('w-1.5') },
  { chain: 'h-0', message: must('h-0') },
  { chain: 'h-513', message: must('h-513') },
  { chain: 'w-256,ar-1-2.01', message: `${must('ar-1-2.01')}a ratio that keeps h within 512 (limits.maxOutputDimension) (w-256 with ar-1-2.01 gives h = 515)` },
  { chain: 'h-512,ar-1.01-1', message: `${must('ar-1.01-1')}a ratio that keeps w within 512` },
  { chain: 'w-100,dpr-2,ar-1-3', message: `${must('ar-1-3')}a ratio that keeps h within 512 (limits.maxOutputDimension) (w-100 × dpr-2 with ar-1-3 gives h = 600)` },
  { chain: 'w-100,ar-0-1', message: must('ar-0-1') },
  { chain: 'w-100,dpr-0.09', message: `${must('dpr-0.09')}a number from 0.1 to 5` },
  { chain: 'w-100,dpr-5.01', message: must('dpr-5.01') },
  { chain: 'w-103,dpr-5', message: `${must('dpr-5')}small enough that w × dpr stays within 512` },
  { chain: 'q-0', message: `${must('q-0')}an integer from 1 to 100` },
  { chain: 'q-101', message: must('q-101') },
  { chain: 'w-1,h-1,cm-extract,x-4096', message: `${must('x-4096')}an integer from 0 to 4095 (limits.maxInputPixels - 1)` },
  { chain: 'w-1,h-1,cm-extract,y-4096', message: must('y-4096') },
  { chain: 'w-1,h-1,cm-extract,xc-4096', message: must('xc-4096') },
  { chain: 'w-1,h-1,cm-extract,yc-4096', message: must('yc-4096') },
  { chain: 'b-0_FF0000', message: `${must('b-0_FF0000')}<width>_<colour>: a width from 1 to 255` },
  { chain: 'b-256_FF0000', message: `${must('b-256_FF0000')}<width>_<colour>: a width from 1 to 255 (the border is on both sides, within limits.maxOutputDimension)` },
  { chain: 'r-0', message: `${must('r-0')}an integer from 1 to 512 (limits.maxOutputDimension), or max` },
  { chain: 'r-513', message: must('r-513') },
  { chain: 'bl-0', message: `${must('bl-0')}an integer from 1 to 100` },
  { chain: 'bl-101', message: must('bl-101') },
  { chain: 'e-sharpen-0', message: `${must('e-sharpen-0')}written without a value (e-sharpen) or with a strength from 1 to 100` },
  { chain: 'e-sharpen-101', message: must('e-sharpen-101') },
  // sharp's sharpen() takes a sigma of at most 10: this was a 422 after the fetch and the work.
  { chain: 'e-usm-1-10.5-1-0', message: `${must('e-usm-1-10.5-1-0')}e-usm-<radius>-<sigma>-<amount>-<threshold>: radius 0-100, sigma 0.01-10, amount above 0 up to 100, threshold 0-1` },
  { chain: 'e-usm-1-0.009-1-0', message: must('e-usm-1-0.009-1-0') },
  { chain: 'e-usm-101-1-1-0', message: must('e-usm-101-1-1-0') },
  { chain: 'e-usm-1-1-0-0', message: must('e-usm-1-1-0-0') },
  { chain: 'e-usm-1-1-100.5-0', message: must('e-usm-1-1-100.5-0') },
  { chain: 'e-usm-1-1-1-1.01', message: must('e-usm-1-1-1-1.01') },
  { chain: 'rt-3600.5', message: `${must('rt-3600.5')}0, 90, 180, 270, N90 (negative), any angle in degrees, or auto` },
  { chain: 'rt-N3601', message: must('rt-N3601') },
  { chain: 't-0', message: `${must('t-0')}true or a threshold from 1 to 99` },
  { chain: 't-100', message: must('t-100') },
  { chain: '/cld/image/upload/e_blur:0/nothing-here.jpg', message: `${mustCloudinary('e_blur:0')}one of e_blur or e_blur:<1-2000>` },
  { chain: '/cld/image/upload/e_blur:2001/nothing-here.jpg', message: mustCloudinary('e_blur:2001') },
  { chain: '/cld/image/upload/e_sharpen:0/nothing-here.jpg', message: mustCloudinary('e_sharpen:0') },
  { chain: '/cld/image/upload/e_sharpen:2001/nothing-here.jpg', message: mustCloudinary('e_sharpen:2001') },
  { chain: '/cld/image/upload/q_0/nothing-here.jpg', message: must('q-0') },
  { chain: '/cld/image/upload/q_101/nothing-here.jpg', message: must('q-101') },
  { chain: '/cld/image/upload/w_513/nothing-here.jpg', message: must('w-513') },
  { chain: '/cld/image/upload/w_1.5/nothing-here.jpg', message: `${mustCloudinary('w_1.5')}a number of pixels or a share from 0.0 to 1.0` },
  { chain: '/cld/image/upload/w_100,dpr_5.1/nothing-here.jpg', message: must('dpr-5.1') },
  { chain: '/cld/image/upload/bo_256px_solid_red/nothing-here.jpg', message: must('b-256_red') },
  { chain: '/cld/image/upload/a_-3601/nothing-here.jpg', message: must('rt-N3601') },
  { chain: '/cld/image/upload/r_513/nothing-here.jpg', message: must('r-513') },
  { chain: '/cld/image/upload/ar_1:3,c_fill,w_256/nothing-here.jpg', message: must('ar-1-3') },
];

/** A chain written bare is asked in the path form, of `file`. */
const urlOf = (chain: string, file = 'photo.png') => (chain.startsWith('/') ? chain : `/tr:${chain}/${file}`);

describe('a value inside every bound renders (a real image through the pipeline)', () => {
  it.each(IN_RANGE)('$chain', async ({ chain, file, size }) => {
    const response = await h.get(urlOf(chain, file));
    expect({ status: response.status, error: response.headers.get('x-afterimage-error') }).toEqual({ status: 200, error: null });
    const image = await decode(response.body);
    if (size) expect([image.width, image.height]).toEqual(size);
  });
});

describe('a value outside any bound is a 400 naming it, before any I/O', () => {
  beforeEach(() => {
    originCalls = 0;
  });

  it.each(OUT_OF_RANGE)('$chain', async ({ chain, message }) => {
    // Of a file that does not exist: a 404 would mean the origin was asked first.
    const response = await h.get(urlOf(chain, 'nothing-here.jpg'));
    expect(response.status).toBe(400);
    expect(response.headers.get('x-afterimage-error')).toMatch(/^EINVAL - Invalid (Cloudinary )?transformation "/);
    expect(response.body.toString()).toContain(message);
    expect(response.body.toString().startsWith(message.slice(0, message.indexOf(' must be ')))).toBe(true);
    expect(originCalls).toBe(0);
  });

  it('the same URL of a file that exists is the same 400', async () => {
    const response = await h.get('/tr:e-usm-1-10.5-1-0/photo.png');
    expect(response.status).toBe(400);
    expect(originCalls).toBe(0);
  });

  it('counts origin calls for a good chain, none for a bad one of any kind', async () => {
    const good = await h.get('/tr:w-20/photo.png');
    expect(good.status).toBe(200);
    expect(originCalls).toBeGreaterThan(0);
    originCalls = 0;
    // A bad value, the query form, a conflict, too many steps, over the output limit.
    for (const path of ['/tr:w-abc/photo.png', '/photo.png?tr=zoom-2', '/tr:w-10,x-5/photo.png', '/tr:w-1:w-1:w-1:w-1:w-1:w-1:w-1:w-1:w-1:w-1:w-1/photo.png', '/tr:w-9000/photo.png']) {
      const response = await h.get(path);
      expect(response.status).toBe(400);
      expect(response.headers.get('x-afterimage-error')).toMatch(/^EINVAL - Invalid transformation/);
      expect(response.body.toString()).toMatch(/^Invalid transformation/);
    }
    expect(originCalls).toBe(0);
  });
});
