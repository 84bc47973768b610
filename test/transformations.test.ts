// README "URL reference", "Parameters", "Output" and "Decisions and details" end to end: URLs built by ImageKit's official Node SDK, in the path and the
// query form, unsigned and signed, sent over HTTP to the real local server in front of a real
// S3 server; every result decoded with sharp.

import ImageKit from 'imagekit';
import sharp from 'sharp';
import { decode, s3Origin, startHarness, type Harness, type HttpResult } from '../tools/harness';
import { rotatedBounds } from '../lambda/image/geometry';

const PRIVATE_KEY = 'private_test_key_for_the_matrix';

interface Decoded extends HttpResult {
  width: number;
  height: number;
  format: string;
  hasAlpha: boolean;
  pages: number;
  /** RGBA of a pixel (alpha 255 when the image has none). */
  at(x: number, y: number): number[];
}

async function decodeResult(result: HttpResult): Promise<Decoded> {
  const meta = await sharp(result.body).metadata();
  const { data, info } = await sharp(result.body).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
  return {
    ...result,
    width: meta.width!,
    height: meta.pageHeight ?? meta.height!,
    format: meta.format!,
    hasAlpha: meta.hasAlpha ?? false,
    pages: meta.pages ?? 1,
    at(x, y) {
      const i = (y * info.width + x) * 4;
      return [...data.subarray(i, i + 4)];
    },
  };
}

/** Colours compare within a tolerance (lossy encoders, resampling). */
function expectColour(actual: number[], expected: number[], tolerance = 12): void {
  expected.forEach((value, i) => {
    if (Math.abs(actual[i] - value) > tolerance) throw new Error(`expected colour ≈ [${expected}] but received [${actual}]`);
  });
}

// --- test images, drawn with sharp ---------------------------------------------------------

/** 600x400: red rises left → right, green top → bottom, blue 64. */
function gradient(width = 600, height = 400): Promise<Buffer> {
  const data = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      data[i] = Math.round((x * 255) / (width - 1));
      data[i + 1] = Math.round((y * 255) / (height - 1));
      data[i + 2] = 64;
    }
  }
  return sharp(data, { raw: { width, height, channels: 3 } }).png().toBuffer();
}

/** 400x200: left half red, right half blue. */
function halves(): Promise<Buffer> {
  return sharp({ create: { width: 400, height: 200, channels: 3, background: '#ff0000' } })
    .composite([{ input: { create: { width: 200, height: 200, channels: 3, background: '#0000ff' } }, left: 200, top: 0 }])
    .png()
    .toBuffer();
}

/** 200x200 white with a 100x100 blue square in the middle: trim leaves the square. */
function framed(): Promise<Buffer> {
  return sharp({ create: { width: 200, height: 200, channels: 3, background: '#ffffff' } })
    .composite([{ input: { create: { width: 100, height: 100, channels: 3, background: '#0000ff' } }, left: 50, top: 50 }])
    .png()
    .toBuffer();
}

/** 300x200, values between 100 and 150 only: a contrast stretch widens them. */
function dull(): Promise<Buffer> {
  const width = 300;
  const height = 200;
  const data = Buffer.alloc(width * height * 3);
  for (let i = 0; i < width * height; i++) data.fill(100 + Math.round(((i % width) * 50) / (width - 1)), i * 3, i * 3 + 3);
  return sharp(data, { raw: { width, height, channels: 3 } }).png().toBuffer();
}

/** Three 50x40 frames: red, green, blue. */
function animation(): Promise<Buffer> {
  const [w, h, frames] = [50, 40, 3];
  const data = Buffer.alloc(w * h * frames * 3);
  for (let f = 0; f < frames; f++) for (let i = 0; i < w * h; i++) data[(f * w * h + i) * 3 + f] = 255;
  return sharp(data, { raw: { width: w, height: h * frames, channels: 3, pageHeight: h } }).gif({ delay: 100 }).toBuffer();
}

const SVG = '<svg xmlns="http://www.w3.org/2000/svg" width="80" height="40"><rect width="80" height="40" fill="#00ff00"/></svg>';

const files: Record<string, () => Promise<[Buffer, string]>> = {
  'gradient.png': async () => [await gradient(), 'image/png'],
  'halves.png': async () => [await halves(), 'image/png'],
  'framed.png': async () => [await framed(), 'image/png'],
  'dull.png': async () => [await dull(), 'image/png'],
  'photo.jpg': async () => [
    await sharp(await gradient(1200, 800)).withExif({ IFD0: { Copyright: 'afterimage tests' } }).jpeg({ quality: 90 }).toBuffer(),
    'image/jpeg',
  ],
  'small.png': async () => [await sharp({ create: { width: 100, height: 50, channels: 3, background: '#00ff00' } }).png().toBuffer(), 'image/png'],
  'translucent.png': async () => [await sharp({ create: { width: 100, height: 100, channels: 4, background: { r: 255, g: 0, b: 0, alpha: 0.5 } } }).png().toBuffer(), 'image/png'],
  'animated.gif': async () => [await animation(), 'image/gif'],
  'logo.svg': async () => [Buffer.from(SVG), 'image/svg+xml'],
};

// --- the matrix -------------------------------------------------------------------------

type Transformation = Record<string, string | number | boolean>;

interface Case {
  name: string;
  path: string;
  transformation: Transformation[];
  accept?: string;
  status?: number;
  check(result: Decoded, fetchPlain: (path: string, transformation: Transformation[]) => Promise<Decoded>): void | Promise<void>;
}

const cases: Case[] = [
  // w, h, ar, dpr
  { name: 'w', path: '/gradient.png', transformation: [{ width: 300 }], check: (r) => expect([r.width, r.height]).toEqual([300, 200]) },
  { name: 'h', path: '/gradient.png', transformation: [{ height: 100 }], check: (r) => expect([r.width, r.height]).toEqual([150, 100]) },
  { name: 'w as a fraction', path: '/gradient.png', transformation: [{ width: 0.25 }], check: (r) => expect([r.width, r.height]).toEqual([150, 100]) },
  { name: 'w enlarges by default', path: '/small.png', transformation: [{ width: 300 }], check: (r) => expect([r.width, r.height]).toEqual([300, 150]) },
  { name: 'ar with w', path: '/gradient.png', transformation: [{ width: 300, aspectRatio: '1-1' }], check: (r) => expect([r.width, r.height]).toEqual([300, 300]) },
  { name: 'ar with h', path: '/gradient.png', transformation: [{ height: 90, aspectRatio: '16-9' }], check: (r) => expect([r.width, r.height]).toEqual([160, 90]) },
  { name: 'ar ignored with w and h', path: '/gradient.png', transformation: [{ width: 300, height: 100, aspectRatio: '1-1' }], check: (r) => expect([r.width, r.height]).toEqual([300, 100]) },
  { name: 'dpr', path: '/gradient.png', transformation: [{ width: 100, height: 50, dpr: 2 }], check: (r) => expect([r.width, r.height]).toEqual([200, 100]) },

  // c: crop strategies
  {
    name: 'c-maintain_ratio crops the centre',
    path: '/gradient.png',
    transformation: [{ width: 300, height: 300, crop: 'maintain_ratio' }],
    check: (r) => {
      expect([r.width, r.height]).toEqual([300, 300]);
      expectColour(r.at(0, 150), [43], 8); // scaled 0.75 → 450 wide, 75 cut each side: input x = 100
    },
  },
  { name: 'c-maintain_ratio with fo-left', path: '/gradient.png', transformation: [{ width: 300, height: 300, focus: 'left' }], check: (r) => expectColour(r.at(0, 150), [0], 8) },
  { name: 'c-maintain_ratio with fo-right', path: '/gradient.png', transformation: [{ width: 300, height: 300, focus: 'right' }], check: (r) => expectColour(r.at(299, 150), [255], 8) },
  { name: 'c-maintain_ratio with fo-top', path: '/gradient.png', transformation: [{ width: 600, height: 100, focus: 'top' }], check: (r) => expectColour(r.at(300, 0), [128, 0], 8) },
  { name: 'c-maintain_ratio with fo-bottom_right', path: '/gradient.png', transformation: [{ width: 100, height: 100, focus: 'bottom_right' }], check: (r) => expectColour(r.at(99, 99), [255, 255], 8) },
  { name: 'fo-auto', path: '/halves.png', transformation: [{ width: 100, height: 100, focus: 'auto' }], check: (r) => expect([r.width, r.height]).toEqual([100, 100]) },
  { name: 'fo-face (saliency)', path: '/halves.png', transformation: [{ width: 100, height: 100, focus: 'face' }], check: (r) => expect([r.width, r.height]).toEqual([100, 100]) },
  {
    name: 'c-force',
    path: '/gradient.png',
    transformation: [{ width: 300, height: 300, crop: 'force' }],
    check: (r) => {
      expect([r.width, r.height]).toEqual([300, 300]);
      expectColour(r.at(0, 0), [0], 8);
      expectColour(r.at(299, 0), [255], 8);
    },
  },
  { name: 'c-at_max fits inside', path: '/gradient.png', transformation: [{ width: 300, height: 300, crop: 'at_max' }], check: (r) => expect([r.width, r.height]).toEqual([300, 200]) },
  { name: 'c-at_max never enlarges', path: '/gradient.png', transformation: [{ width: 1000, height: 1000, crop: 'at_max' }], check: (r) => expect([r.width, r.height]).toEqual([600, 400]) },
  { name: 'c-at_max with one side never enlarges', path: '/small.png', transformation: [{ width: 400, crop: 'at_max' }], check: (r) => expect([r.width, r.height]).toEqual([100, 50]) },
  { name: 'c-at_max_enlarge', path: '/gradient.png', transformation: [{ width: 1000, height: 1000, crop: 'at_max_enlarge' }], check: (r) => expect([r.width, r.height]).toEqual([1000, 667]) },
  {
    name: 'c-maintain_ratio_limit fills the box when the input is larger',
    path: '/gradient.png',
    transformation: [{ width: 300, height: 100, crop: 'maintain_ratio_limit' }],
    check: (r) => {
      expect([r.width, r.height]).toEqual([300, 100]);
      expectColour(r.at(0, 50), [0, 128, 64], 16); // scaled to 300 wide: nothing cut from the sides
    },
  },
  { name: 'c-maintain_ratio_limit never enlarges', path: '/small.png', transformation: [{ width: 400, height: 300, crop: 'maintain_ratio_limit' }], check: (r) => expect([r.width, r.height]).toEqual([100, 50]) },
  {
    name: 'c-maintain_ratio_limit only crops where the input is smaller than the box on one side',
    path: '/gradient.png',
    transformation: [{ width: 300, height: 1000, crop: 'maintain_ratio_limit' }],
    check: (r) => {
      expect([r.width, r.height]).toEqual([300, 400]); // not scaled: 300 of the 600 columns, around the centre
      expectColour(r.at(0, 200), [64, 128, 64], 16);
      expectColour(r.at(299, 200), [191, 128, 64], 16);
    },
  },
  { name: 'c-maintain_ratio_limit with one side never enlarges', path: '/small.png', transformation: [{ width: 400, crop: 'maintain_ratio_limit' }], check: (r) => expect([r.width, r.height]).toEqual([100, 50]) },
  { name: 'c-at_least', path: '/gradient.png', transformation: [{ width: 300, height: 300, crop: 'at_least' }], check: (r) => expect([r.width, r.height]).toEqual([450, 300]) },

  // cm: crop modes
  {
    name: 'cm-pad_resize pads both sides with bg',
    path: '/gradient.png',
    transformation: [{ width: 400, height: 100, cropMode: 'pad_resize', background: 'FF00FF' }],
    check: (r) => {
      expect([r.width, r.height]).toEqual([400, 100]);
      expectColour(r.at(5, 50), [255, 0, 255]);
      expectColour(r.at(394, 50), [255, 0, 255]);
      expectColour(r.at(200, 50), [128, 128, 64], 16);
    },
  },
  {
    name: 'cm-pad_resize with fo-left puts all the padding on the right',
    path: '/gradient.png',
    transformation: [{ width: 400, height: 100, cropMode: 'pad_resize', focus: 'left', background: 'FF00FF' }],
    check: (r) => {
      expectColour(r.at(0, 50), [0, 128, 64], 16);
      expectColour(r.at(160, 50), [255, 0, 255]);
      expectColour(r.at(399, 50), [255, 0, 255]);
    },
  },
  {
    name: 'cm-pad_resize with fo-top puts all the padding at the bottom',
    path: '/gradient.png',
    transformation: [{ width: 100, height: 300, cropMode: 'pad_resize', focus: 'top' }],
    check: (r) => {
      expectColour(r.at(50, 2), [128, 0, 64], 16);
      expectColour(r.at(50, 80), [255, 255, 255]); // default bg: white
      expectColour(r.at(50, 299), [255, 255, 255]);
    },
  },
  {
    name: 'cm-pad_resize with a transparent bg in PNG',
    path: '/gradient.png',
    transformation: [{ width: 300, height: 300, cropMode: 'pad_resize', background: 'FFFFFF00', format: 'png' }],
    check: (r) => {
      expect(r.hasAlpha).toBe(true);
      expect(r.at(150, 5)[3]).toBe(0);
      expect(r.at(150, 150)[3]).toBe(255);
    },
  },
  {
    name: 'cm-pad_resize with c-at_max does not enlarge',
    path: '/small.png',
    transformation: [{ width: 300, height: 300, cropMode: 'pad_resize', crop: 'at_max' }],
    check: (r) => {
      expect([r.width, r.height]).toEqual([300, 300]);
      expectColour(r.at(150, 150), [0, 255, 0]);
      expectColour(r.at(90, 150), [255, 255, 255]); // the 100x50 input sits in the middle unscaled
    },
  },
  {
    name: 'cm-extract from x, y',
    path: '/gradient.png',
    transformation: [{ width: 100, height: 50, cropMode: 'extract', x: 500, y: 10 }],
    check: (r) => {
      expect([r.width, r.height]).toEqual([100, 50]);
      expectColour(r.at(0, 0), [213, 6], 3);
    },
  },
  { name: 'cm-extract around xc, yc', path: '/gradient.png', transformation: [{ width: 100, height: 100, cropMode: 'extract', xc: 300, yc: 200 }], check: (r) => expectColour(r.at(0, 0), [106, 96], 3) },
  { name: 'cm-extract by fo', path: '/gradient.png', transformation: [{ width: 100, height: 100, cropMode: 'extract', focus: 'bottom_right' }], check: (r) => expectColour(r.at(99, 99), [255, 255], 3) },
  { name: 'cm-extract by fo-auto', path: '/halves.png', transformation: [{ width: 100, height: 100, cropMode: 'extract', focus: 'auto' }], check: (r) => expect([r.width, r.height]).toEqual([100, 100]) },
  { name: 'cm-extract outside the input is a 400', path: '/gradient.png', transformation: [{ width: 100, height: 100, cropMode: 'extract', x: 550, y: 0 }], status: 400, check: (r) => expect(r.body.toString()).toContain('is outside the 600x400 input') },
  ...(['extract', 'pad_extract'] as const).map((cropMode) => ({
    name: `cm-${cropMode} with a region past the input's edge is a 400 that promises no padding there`,
    path: '/dull.png',
    transformation: [{ width: 100, height: 100, cropMode, xc: 0, yc: 0 }],
    status: 400,
    check: (r: Decoded) =>
      expect(r.headers.get('x-afterimage-error')).toBe(
        'EINVAL - Invalid transformation: the 100x100 region at x=-50 is outside the 300x200 input; the region must lie within the input (cm-pad_extract pads only along a side where the box is larger than the input)',
      ),
  })),
  {
    name: 'cm-pad_extract pads where the input is smaller',
    path: '/gradient.png',
    transformation: [{ width: 800, height: 100, cropMode: 'pad_extract', background: '0000FF' }],
    check: (r) => {
      expect([r.width, r.height]).toEqual([800, 100]);
      expectColour(r.at(50, 50), [0, 0, 255]);
      expectColour(r.at(99, 50), [0, 0, 255]); // the last padding column
      expectColour(r.at(100, 50), [0, 128, 64], 3); // the first input column
      expectColour(r.at(400, 50), [128, 128, 64], 3);
    },
  },

  // output options
  { name: 'q', path: '/gradient.png', transformation: [{ quality: 10, format: 'jpg' }], check: async (r, plain) => expect(r.body.length).toBeLessThan((await plain('/gradient.png', [{ quality: 95, format: 'jpg' }])).body.length / 2) },
  { name: 'f-webp', path: '/gradient.png', transformation: [{ format: 'webp' }], check: (r) => expect(r.format).toBe('webp') },
  { name: 'f-avif', path: '/small.png', transformation: [{ format: 'avif' }], check: (r) => expect([r.format, r.headers.get('content-type')]).toEqual(['heif', 'image/avif']) },
  { name: 'f-jpg', path: '/gradient.png', transformation: [{ format: 'jpg' }], check: (r) => expect(r.format).toBe('jpeg') },
  { name: 'f-jpeg', path: '/gradient.png', transformation: [{ format: 'jpeg' }], check: (r) => expect(r.format).toBe('jpeg') },
  { name: 'f-png', path: '/photo.jpg', transformation: [{ width: 100, format: 'png' }], check: (r) => expect(r.format).toBe('png') },
  { name: 'f-gif', path: '/small.png', transformation: [{ format: 'gif' }], check: (r) => expect(r.format).toBe('gif') },
  {
    name: 'f-orig keeps the input format without Vary',
    path: '/photo.jpg',
    accept: 'image/avif,image/webp',
    transformation: [{ width: 100, format: 'orig' }],
    check: (r) => {
      expect(r.format).toBe('jpeg');
      expect(r.headers.get('vary')).toBeNull();
    },
  },
  {
    name: 'f-auto negotiates AVIF, then WebP, with Vary: Accept',
    path: '/photo.jpg',
    accept: 'image/avif,image/webp,*/*',
    transformation: [{ width: 100, format: 'auto' }],
    check: async (r, plain) => {
      expect(r.headers.get('content-type')).toBe('image/avif');
      expect(r.headers.get('vary')).toBe('Accept');
      const webp = await plain('/photo.jpg', [{ width: 100 }]);
      expect(webp.headers.get('vary')).toBe('Accept'); // the configured default is auto too
    },
  },
  { name: 'pr-true: progressive JPEG', path: '/gradient.png', transformation: [{ format: 'jpg', progressive: 'true' }], check: async (r) => expect((await sharp(r.body).metadata()).isProgressive).toBe(true) },
  { name: 'pr-true: interlaced PNG', path: '/small.png', transformation: [{ format: 'png', progressive: true }], check: async (r) => expect((await sharp(r.body).metadata()).isProgressive).toBe(true) },
  { name: 'pr-false', path: '/gradient.png', transformation: [{ format: 'jpg', progressive: false }], check: async (r) => expect((await sharp(r.body).metadata()).isProgressive).toBe(false) },
  {
    name: 'lo-true: lossless WebP',
    path: '/gradient.png',
    transformation: [{ format: 'webp', lossless: true }],
    check: (r) => {
      expect(r.at(123, 45)).toEqual([Math.round((123 * 255) / 599), Math.round((45 * 255) / 399), 64, 255]);
    },
  },
  { name: 'md-true keeps EXIF, also after a materialising step', path: '/photo.jpg', transformation: [{ width: 300, rotation: 90, metadata: true }], check: async (r) => expect((await sharp(r.body).metadata()).exif).toBeDefined() },
  {
    name: 'md-true keeps EXIF after a rotation that materialises',
    path: '/photo.jpg',
    transformation: [{ width: 300, rotation: 45, metadata: true }],
    check: async (r) => {
      const meta = await sharp(r.body).metadata();
      expect(meta.exif?.toString('latin1')).toContain('afterimage tests');
      expect(meta.orientation ?? 1).toBe(1); // the pixels are upright
      expect([r.width, r.height]).toEqual([354, 354]);
      expectColour(r.at(177, 177), [128, 128, 64], 16); // the photo's centre
    },
  },
  {
    name: 'md-true in JPEG flattens a materialised result on bg',
    path: '/translucent.png',
    transformation: [{ rotation: 45, background: '0000FF', metadata: true, format: 'jpg' }],
    check: (r) => {
      expectColour(r.at(Math.floor(r.width / 2), Math.floor(r.height / 2)), [128, 0, 127], 12); // 50% red over blue
      expectColour(r.at(1, 1), [0, 0, 255], 12);
    },
  },
  { name: 'md-false strips it', path: '/photo.jpg', transformation: [{ width: 300, metadata: false }], check: async (r) => expect((await sharp(r.body).metadata()).exif).toBeUndefined() },
  { name: 'cp-true attaches an sRGB profile', path: '/photo.jpg', transformation: [{ width: 300, colorProfile: true }], check: async (r) => expect((await sharp(r.body).metadata()).icc).toBeDefined() },
  { name: 'cp-false strips it', path: '/photo.jpg', transformation: [{ width: 300, colorProfile: false }], check: async (r) => expect((await sharp(r.body).metadata()).icc).toBeUndefined() },

  // bg, b, r
  {
    name: 'bg fills a rotation (JPEG)',
    path: '/small.png',
    transformation: [{ rotation: 45, background: 'FF0000', format: 'jpg' }],
    check: (r) => {
      expectColour(r.at(1, 1), [255, 0, 0], 20);
      expectColour(r.at(Math.floor(r.width / 2), Math.floor(r.height / 2)), [0, 255, 0], 20);
    },
  },
  {
    name: 'b adds a border of its colour',
    path: '/small.png',
    transformation: [{ width: 100, border: '10_FF0000', format: 'png' }],
    check: (r) => {
      expect([r.width, r.height]).toEqual([120, 70]);
      expectColour(r.at(0, 0), [255, 0, 0], 0);
      expectColour(r.at(60, 35), [0, 255, 0], 0);
    },
  },
  { name: 'b with a CSS colour name and "-"', path: '/small.png', transformation: [{ border: '4-blue', format: 'png' }], check: (r) => expectColour(r.at(2, 2), [0, 0, 255], 0) },
  {
    name: 'r: a rounded corner is transparent in PNG',
    path: '/small.png',
    transformation: [{ radius: 20, format: 'png' }],
    check: (r) => {
      expect(r.at(0, 0)[3]).toBe(0);
      expect(r.at(50, 25)[3]).toBe(255);
      expect(r.at(50, 0)[3]).toBe(255);
    },
  },
  {
    name: 'r-max: an ellipse',
    path: '/small.png',
    transformation: [{ radius: 'max', format: 'png' }],
    check: (r) => {
      expect(r.at(5, 5)[3]).toBe(0);
      expect(r.at(50, 1)[3]).toBeGreaterThan(128);
      expect(r.at(95, 45)[3]).toBe(0);
    },
  },
  { name: 'r in JPEG: the corner gets bg', path: '/small.png', transformation: [{ radius: 20, background: '0000FF', format: 'jpg' }], check: (r) => expectColour(r.at(0, 0), [0, 0, 255], 20) },

  // effects
  {
    name: 'bl reduces edge contrast',
    path: '/halves.png',
    transformation: [{ blur: 10, format: 'png' }],
    check: (r) => {
      const left = r.at(196, 100);
      const right = r.at(203, 100);
      expect(Math.abs(left[0] - right[0])).toBeLessThan(150);
    },
  },
  {
    name: 'e-grayscale: equal channels',
    path: '/gradient.png',
    transformation: [{ effectGray: '-' }],
    check: (r) => {
      for (const [x, y] of [[10, 10], [300, 200], [590, 390]]) {
        const [red, green, blue] = r.at(x, y);
        expect(red).toBe(green);
        expect(green).toBe(blue);
      }
    },
  },
  {
    name: 'e-sharpen changes the pixels at an edge',
    path: '/gradient.png',
    transformation: [{ width: 300, blur: 5 }, { effectSharpen: '-' }],
    check: async (r, plain) => {
      const soft = await plain('/gradient.png', [{ width: 300, blur: 5 }]);
      expect(r.body.equals(soft.body)).toBe(false);
    },
  },
  { name: 'e-sharpen-<n>', path: '/gradient.png', transformation: [{ width: 300, effectSharpen: 80 }], check: (r) => expect(r.width).toBe(300) },
  {
    name: 'e-contrast stretches the range',
    path: '/dull.png',
    transformation: [{ effectContrast: '-', format: 'png' }],
    check: (r) => {
      expect(r.at(2, 100)[0]).toBeLessThan(20);
      expect(r.at(297, 100)[0]).toBeGreaterThan(235);
    },
  },
  {
    name: 'e-usm changes the pixels at an edge',
    path: '/halves.png',
    transformation: [{ blur: 5 }, { effectUSM: '2-2-0.8-0.024', format: 'png' }],
    check: async (r, plain) => {
      const soft = await plain('/halves.png', [{ blur: 5, format: 'png' }]);
      expect(r.body.equals(soft.body)).toBe(false);
    },
  },

  {
    name: 'bl after transparent padding blurs the alpha, not the padding colour into the image',
    path: '/gradient.png',
    transformation: [{ width: 300, height: 300, cropMode: 'pad_resize', background: 'FF000000', blur: 10, format: 'png' }],
    check: (r) => {
      const edge = r.at(150, 50); // the image's top edge, half transparent after the blur
      expect(edge[3]).toBeGreaterThan(50);
      expect(edge[3]).toBeLessThan(220);
      expectColour(edge, [128, 5, 64], 12);
    },
  },
  {
    name: 'e-sharpen and e-usm in one step both apply',
    path: '/halves.png',
    transformation: [{ blur: 5 }, { effectSharpen: '-', effectUSM: '2-2-0.8-0.024', format: 'png' }],
    check: async (r, plain) => {
      const usm = await plain('/halves.png', [{ blur: 5 }, { effectUSM: '2-2-0.8-0.024', format: 'png' }]);
      const sharpened = await plain('/halves.png', [{ blur: 5 }, { effectSharpen: '-', format: 'png' }]);
      expect(r.body.equals(usm.body)).toBe(false);
      expect(r.body.equals(sharpened.body)).toBe(false);
    },
  },

  // rt, fl, t
  {
    name: 'rt-90 turns clockwise and swaps the sides',
    path: '/halves.png',
    transformation: [{ rotation: 90, format: 'png' }],
    check: (r) => {
      expect([r.width, r.height]).toEqual([200, 400]);
      expectColour(r.at(100, 10), [255, 0, 0], 0); // the left (red) half is now on top
      expectColour(r.at(100, 390), [0, 0, 255], 0);
    },
  },
  { name: 'rt-N90 turns anticlockwise', path: '/halves.png', transformation: [{ rotation: 'N90', format: 'png' }], check: (r) => expectColour(r.at(100, 390), [255, 0, 0], 0) },
  { name: 'rt-180', path: '/halves.png', transformation: [{ rotation: 180, format: 'png' }], check: (r) => expectColour(r.at(390, 100), [255, 0, 0], 0) },
  { name: 'w-300,rt-90 on 1200x800 gives 200x300', path: '/photo.jpg', transformation: [{ width: 300, rotation: 90 }], check: (r) => expect([r.width, r.height]).toEqual([200, 300]) },
  {
    name: 'rt-45 grows the canvas, transparent corners in PNG',
    path: '/small.png',
    transformation: [{ rotation: 45, format: 'png' }],
    check: (r) => {
      expect(r.width).toBeGreaterThan(100);
      expect(r.at(0, 0)[3]).toBe(0);
    },
  },
  {
    name: 'fl-h after a crop mirrors the cropped region (fo-left kept the left)',
    path: '/gradient.png',
    transformation: [{ width: 300, height: 300, focus: 'left', fl: 'h', format: 'png' }],
    check: (r) => {
      expectColour(r.at(299, 150), [0], 8);
      expectColour(r.at(0, 150), [170], 8); // scaled 0.75: the kept 300 columns are input x 0-399
    },
  },
  {
    name: 'fl-h after a resize, in one step',
    path: '/gradient.png',
    transformation: [{ width: 300, fl: 'h', format: 'png' }],
    check: (r) => {
      expect([r.width, r.height]).toEqual([300, 200]);
      expectColour(r.at(0, 100), [255, 128, 64], 8);
      expectColour(r.at(299, 100), [0, 128, 64], 8);
    },
  },
  {
    name: 'rt-90 then fl-h in one step: turned first, then mirrored',
    path: '/gradient.png',
    transformation: [{ width: 300, rotation: 90, fl: 'h', format: 'png' }],
    check: (r) => {
      expect([r.width, r.height]).toEqual([200, 300]);
      expectColour(r.at(0, 0), [0, 0, 64], 8); // red runs down, green runs right
      expectColour(r.at(199, 299), [255, 255, 64], 8);
    },
  },
  { name: 'fl-h: a flipped gradient runs the other way', path: '/gradient.png', transformation: [{ fl: 'h', format: 'png' }], check: (r) => expect([r.at(0, 0)[0], r.at(599, 0)[0]]).toEqual([255, 0]) },
  { name: 'fl-v', path: '/gradient.png', transformation: [{ fl: 'v', format: 'png' }], check: (r) => expect([r.at(0, 0)[1], r.at(0, 399)[1]]).toEqual([255, 0]) },
  { name: 'fl-h_v', path: '/gradient.png', transformation: [{ fl: 'h_v', format: 'png' }], check: (r) => expect(r.at(0, 0).slice(0, 2)).toEqual([255, 255]) },
  {
    name: 't-true trims a uniform border',
    path: '/framed.png',
    transformation: [{ trim: true, format: 'png' }],
    check: (r) => {
      expect([r.width, r.height]).toEqual([100, 100]);
      expectColour(r.at(0, 0), [0, 0, 255], 0);
    },
  },
  { name: 't-<threshold>', path: '/framed.png', transformation: [{ trim: 50, width: 50 }], check: (r) => expect([r.width, r.height]).toEqual([50, 50]) },

  // orig, di, n, chains
  {
    name: 'orig-true returns the stored bytes, every other parameter ignored',
    path: '/photo.jpg',
    transformation: [{ width: 100, original: true }],
    check: (r) => {
      expect(r.body.equals(stored['photo.jpg'])).toBe(true);
      expect(r.headers.get('content-type')).toBe('image/jpeg');
    },
  },
  { name: 'di serves the default image, transformed', path: '/missing/nothing.png', transformation: [{ defaultImage: '/halves.png', width: 100 }], check: (r) => expect([r.width, r.height]).toEqual([100, 50]) },
  { name: 'n expands a named transformation', path: '/gradient.png', transformation: [{ named: 'square' }], check: (r) => expect([r.width, r.height]).toEqual([64, 64]) },
  { name: 'chained steps run in order', path: '/gradient.png', transformation: [{ width: 300 }, { rotation: 90 }, { height: 0.5 }], check: (r) => expect([r.width, r.height]).toEqual([100, 150]) },
  { name: 'raw parameters pass through', path: '/gradient.png', transformation: [{ raw: 'w-120,h-0.5' }], check: (r) => expect([r.width, r.height]).toEqual([120, 200]) },

  // README "Output": transparency, SVG, animations
  {
    name: 'transparency is kept in PNG',
    path: '/translucent.png',
    transformation: [{ width: 50 }],
    check: (r) => {
      expect(r.format).toBe('png');
      expectColour(r.at(10, 10), [255, 0, 0, 128], 2);
    },
  },
  { name: 'transparency is kept in negotiated WebP', path: '/translucent.png', accept: 'image/webp', transformation: [{ width: 50 }], check: (r) => expect([r.format, r.hasAlpha]).toEqual(['webp', true]) },
  { name: 'JPEG flattens on bg', path: '/translucent.png', transformation: [{ format: 'jpg', background: '0000FF' }], check: (r) => expectColour(r.at(50, 50), [128, 0, 127], 12) },
  {
    name: 'an SVG keeps its format under auto, sandboxed, with Vary',
    path: '/logo.svg',
    accept: 'image/avif,image/webp',
    transformation: [{ width: 40 }],
    check: (r) => {
      expect(r.headers.get('content-type')).toBe('image/svg+xml');
      expect(r.headers.get('vary')).toBe('Accept');
      expect(r.headers.get('content-security-policy')).toContain('sandbox');
    },
  },
  { name: 'an SVG is rasterised when a format is asked for', path: '/logo.svg', transformation: [{ width: 40, format: 'png' }], check: (r) => expect([r.format, r.width, r.height]).toEqual(['png', 40, 20]) },
  {
    name: 'an animated GIF stays an animated GIF under auto',
    path: '/animated.gif',
    accept: 'image/avif,image/webp',
    transformation: [{ width: 25 }],
    check: (r) => {
      expect([r.format, r.pages, r.width, r.height]).toEqual(['gif', 3, 25, 20]);
      expect(r.headers.get('vary')).toBe('Accept');
    },
  },
  {
    name: 'fl-h keeps an animated GIF animated, frames in order',
    path: '/animated.gif',
    transformation: [{ fl: 'h', format: 'gif' }],
    check: (r) => {
      expect([r.format, r.pages]).toEqual(['gif', 3]);
      expectColour(r.at(0, 0), [255, 0, 0], 0); // the first frame is still the red one
    },
  },
  {
    name: 'rt-180 on an animated GIF renders its first frame (sharp would reverse the frames)',
    path: '/animated.gif',
    transformation: [{ rotation: 180, format: 'gif' }],
    check: (r) => {
      expect([r.format, r.pages, r.width, r.height]).toEqual(['gif', 1, 50, 40]);
      expectColour(r.at(0, 0), [255, 0, 0], 0);
    },
  },
  { name: 'an animated GIF to PNG is its first frame', path: '/animated.gif', transformation: [{ format: 'png' }], check: (r) => expect([r.format, r.pages, r.width, r.height]).toEqual(['png', 1, 50, 40]) },
];

// --- running it ---------------------------------------------------------------------------

const stored: Record<string, Buffer> = {};
let harness: Harness;
let unsigned: ImageKit;
let signed: ImageKit;

beforeAll(async () => {
  harness = await startHarness({
    buckets: ['images'],
    config: (s3) => ({
      origins: [s3Origin(s3, { name: 'main', bucket: 'images' })],
      endpoints: [
        { prefix: '', origins: ['main'] },
        { prefix: '/signed/images', origins: ['main'], requireSignedUrls: true },
      ],
      namedTransformations: { square: 'w-64,h-64' },
    }),
    seed: async (s3) => {
      for (const [name, make] of Object.entries(files)) {
        const [body, type] = await make();
        stored[name] = body;
        await s3.put('images', name, body, type);
      }
    },
    deps: { signingKey: () => PRIVATE_KEY },
  });
  unsigned = new ImageKit({ publicKey: 'public_test', privateKey: PRIVATE_KEY, urlEndpoint: harness.baseUrl });
  signed = new ImageKit({ publicKey: 'public_test', privateKey: PRIVATE_KEY, urlEndpoint: `${harness.baseUrl}/signed/images` });
});

afterAll(() => harness.close());

const FORMS = [
  { form: 'path', position: 'path', sign: false },
  { form: 'query', position: 'query', sign: false },
  { form: 'path, signed', position: 'path', sign: true },
  { form: 'query, signed, expiring', position: 'query', sign: true },
] as const;

async function request(path: string, transformation: Transformation[], form: (typeof FORMS)[number], accept?: string): Promise<Decoded> {
  const sdk = form.sign ? signed : unsigned;
  const url = sdk.url({
    path,
    transformation,
    transformationPosition: form.position,
    ...(form.sign ? { signed: true, ...(form.form.includes('expiring') ? { expireSeconds: 300 } : {}) } : {}),
  });
  expect(url.startsWith(harness.baseUrl)).toBe(true);
  const result = await harness.get(url.slice(harness.baseUrl.length), accept ? { accept } : {});
  if (result.status !== 200) return { ...result, width: 0, height: 0, format: '', hasAlpha: false, pages: 0, at: () => [] };
  return decodeResult(result);
}

describe.each(cases)('$name', (testCase) => {
  it.each(FORMS)('$form', async (form) => {
    const result = await request(testCase.path, testCase.transformation, form, testCase.accept);
    if (result.status !== (testCase.status ?? 200)) throw new Error(`status ${result.status}: ${result.body.toString().slice(0, 300)}`);
    await testCase.check(result, (path, transformation) => request(path, transformation, form));
  });
});

describe('the SDK writes what the spec names', () => {
  it('path and query forms of one transformation', () => {
    const t = [{ width: 300, height: 200, effectGray: '-', fl: 'h' }, { rotation: 'N90' }];
    expect(unsigned.url({ path: '/a.jpg', transformation: t })).toBe(`${harness.baseUrl}/tr:w-300,h-200,e-grayscale,fl-h:rt-N90/a.jpg`);
    expect(unsigned.url({ path: '/a.jpg', transformation: t, transformationPosition: 'query' })).toBe(`${harness.baseUrl}//a.jpg?tr=w-300%2Ch-200%2Ce-grayscale%2Cfl-h%3Art-N90`); // sic: an endpoint without a path
  });
});

it('decode helper agrees with the harness', async () => {
  const result = await harness.get('/tr:w-10/gradient.png');
  expect(await decode(result.body)).toMatchObject({ width: 10, height: 7 });
});

describe('rt: the canvas an angle grows to is known before rotating', () => {
  it('equals the size sharp gives, so the output limits are checked before the work', async () => {
    for (const [width, height, degrees] of [[100, 50, 45], [601, 401, 10], [37, 999, 123.5], [1000, 1000, 45], [640, 480, 300]]) {
      const { info } = await sharp({ create: { width, height, channels: 3, background: '#f00' } }).rotate(degrees).raw().toBuffer({ resolveWithObject: true });
      expect(rotatedBounds(width, height, degrees)).toEqual({ width: info.width, height: info.height });
    }
  });
});
