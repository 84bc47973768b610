// README "Layers" end to end: image and text layers in ImageKit URLs (hand-written and built by
// ImageKit's JavaScript SDK), sent over HTTP to the real local server in front of a real S3
// server; every result decoded with sharp and checked pixel by pixel.

import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { buildSrc, buildTransformationString } from '@imagekit/javascript';
import sharp from 'sharp';
import { fontFamilyName } from '../lambda/image/fonts';
import { s3Origin, startHarness, type Harness, type HttpResult } from '../tools/harness';

const GREY = [100, 100, 100];
const RED = [255, 0, 0];
const BLUE = [0, 0, 255];

interface Decoded {
  status: number;
  width: number;
  height: number;
  /** RGBA of a pixel (alpha 255 when the image has none). */
  at(x: number, y: number): number[];
  /** Pixels that differ from another image of the same size, as a bounding box. */
  raw: Buffer;
}

async function decoded(result: HttpResult): Promise<Decoded> {
  if (result.status !== 200) throw new Error(`expected 200 but received ${result.status}: ${result.headers.get('x-afterimage-error')}`);
  const { data, info } = await sharp(result.body).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
  return {
    status: result.status,
    width: info.width,
    height: info.height,
    raw: data,
    at(x, y) {
      const i = (y * info.width + x) * 4;
      return [...data.subarray(i, i + 4)];
    },
  };
}

function expectColour(actual: number[], expected: number[], tolerance = 6): void {
  expected.forEach((value, i) => {
    if (Math.abs(actual[i] - value) > tolerance) throw new Error(`expected colour ≈ [${expected}] but received [${actual}]`);
  });
}

/** The box around every pixel where two same-sized images differ. */
function changedBox(a: Decoded, b: Decoded): { left: number; top: number; right: number; bottom: number } | undefined {
  let box: { left: number; top: number; right: number; bottom: number } | undefined;
  for (let y = 0; y < a.height; y++) {
    for (let x = 0; x < a.width; x++) {
      const i = (y * a.width + x) * 4;
      if (Math.abs(a.raw[i] - b.raw[i]) + Math.abs(a.raw[i + 1] - b.raw[i + 1]) + Math.abs(a.raw[i + 2] - b.raw[i + 2]) > 30) {
        box = box
          ? { left: Math.min(box.left, x), top: Math.min(box.top, y), right: Math.max(box.right, x), bottom: Math.max(box.bottom, y) }
          : { left: x, top: y, right: x, bottom: y };
      }
    }
  }
  return box;
}

// --- images, drawn with sharp -----------------------------------------------------------------

/** 200x100 opaque grey. */
const base = () => sharp({ create: { width: 200, height: 100, channels: 3, background: { r: 100, g: 100, b: 100 } } }).png().toBuffer();

/** 20x20: the left half opaque red, the right half transparent. */
function logo(colour = { r: 255, g: 0, b: 0 }): Promise<Buffer> {
  return sharp({ create: { width: 20, height: 20, channels: 4, background: { r: 0, g: 0, b: 0, alpha: 0 } } })
    .composite([{ input: { create: { width: 10, height: 20, channels: 4, background: { ...colour, alpha: 1 } } }, left: 0, top: 0 }])
    .png()
    .toBuffer();
}

/**
 * DejaVu Sans Mono renamed "Afterimage Brand" (a name of the same length, in every name record):
 * no system font has that family, so only the configured file can draw it.
 */
function brandFont(): Buffer {
  const file = readFileSync(path.join(path.dirname(require.resolve('dejavu-fonts-ttf/package.json')), 'ttf', 'DejaVuSansMono.ttf'));
  const rename = (from: Buffer, to: Buffer) => {
    for (let i = file.indexOf(from); i >= 0; i = file.indexOf(from, i + 1)) to.copy(file, i);
  };
  rename(Buffer.from('DejaVu Sans Mono', 'utf16le').swap16(), Buffer.from('Afterimage Brand', 'utf16le').swap16());
  rename(Buffer.from('DejaVu Sans Mono', 'latin1'), Buffer.from('Afterimage Brand', 'latin1'));
  return file;
}

/** A 200x100 GIF of three grey frames. */
function animatedGif(): Promise<Buffer> {
  const data = Buffer.alloc(200 * 300 * 3, 100);
  return sharp(data, { raw: { width: 200, height: 300, channels: 3, pageHeight: 100 } }).gif({ delay: 100 }).toBuffer();
}

let harness: Harness;

beforeAll(async () => {
  harness = await startHarness({
    buckets: ['images'],
    config: (s3) => ({
      origins: [s3Origin(s3, { name: 'main', bucket: 'images' })],
      limits: { maxLayers: 3, maxInputBytes: 600_000 },
      // Every read asks S3 (a 304 keeps the cached bytes), so a replaced logo shows at once.
      cache: { originalTtlSeconds: 0 },
      fonts: { brand: { origin: 'main', path: 'fonts/Brand.ttf' }, broken: { origin: 'main', path: 'fonts/none.ttf' } },
    }),
    seed: async (s3) => {
      await s3.put('images', 'base.png', await base(), 'image/png');
      // Noise does not compress: about 1 MB, over limits.maxInputBytes (the fonts stay under it).
      await s3.put('images', 'huge.png', await sharp({ create: { width: 600, height: 600, channels: 3, background: 'grey', noise: { type: 'gaussian', mean: 128, sigma: 60 } } }).png().toBuffer(), 'image/png');
      await s3.put('images', 'fonts/Brand.ttf', brandFont(), 'font/ttf');
      await s3.put('images', 'logos/brand.png', await logo(), 'image/png');
      await s3.put('images', 'grey.jpg', await sharp({ create: { width: 200, height: 100, channels: 3, background: { r: 100, g: 100, b: 100 } } }).toColourspace('b-w').jpeg().toBuffer(), 'image/jpeg');
      await s3.put('images', 'logo.svg', Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="20" height="20"><rect width="10" height="20" fill="#ff0000"/></svg>'), 'image/svg+xml');
      await s3.put('images', 'spinner.gif', await animatedGif(), 'image/gif');
      await s3.put('images', 'blue.png', await sharp({ create: { width: 40, height: 40, channels: 3, background: { r: 0, g: 0, b: 255 } } }).png().toBuffer(), 'image/png');
    },
  });
});

afterAll(() => harness.close());

const get = async (path: string) => decoded(await harness.get(path));

describe('image layers: the layer colour where the layer is, the image elsewhere', () => {
  test('a layer is centred by default, its transparent part shows the image', async () => {
    const r = await get('/tr:l-image,i-logos@@brand.png,l-end/base.png');
    expect([r.width, r.height]).toEqual([200, 100]);
    expectColour(r.at(95, 50), RED); // logo at 90..109 x 40..59, red on its left half
    expectColour(r.at(105, 50), GREY); // its transparent half
    expectColour(r.at(89, 50), GREY);
    expectColour(r.at(10, 10), GREY);
  });

  // The 40x40 blue layer on the 200x100 image: where its top-left corner lands for every lfo-.
  test.each([
    ['center', 80, 30],
    ['top', 80, 0],
    ['bottom', 80, 60],
    ['left', 0, 30],
    ['right', 160, 30],
    ['top_left', 0, 0],
    ['top_right', 160, 0],
    ['bottom_left', 0, 60],
    ['bottom_right', 160, 60],
  ])('lfo-%s puts the layer at (%i, %i)', async (focus, left, top) => {
    const r = await get(`/tr:l-image,i-blue.png,lfo-${focus},l-end/base.png`);
    expectColour(r.at(left, top), BLUE);
    expectColour(r.at(left + 39, top + 39), BLUE);
    if (left > 0) expectColour(r.at(left - 1, top), GREY);
    if (left + 40 < 200) expectColour(r.at(left + 40, top), GREY);
    if (top > 0) expectColour(r.at(left, top - 1), GREY);
    if (top + 40 < 100) expectColour(r.at(left, top + 40), GREY);
  });

  // lx/ly place the left/top edge; with N (negative) the right/bottom edge, from the right/bottom.
  test.each([
    ['lx-10,ly-20', 10, 20],
    ['lx-N10,ly-N20', 200 - 40 - 10, 100 - 40 - 20],
    ['lx-N0,ly-0', 160, 0],
    ['lx-30,lfo-bottom', 30, 60], // lfo places the axis lx/ly leave free
    ['ly-N5,lfo-right', 160, 55],
  ])('%s puts the layer at (%i, %i)', async (position, left, top) => {
    const r = await get(`/tr:l-image,i-blue.png,${position},l-end/base.png`);
    expectColour(r.at(left, top), BLUE);
    expectColour(r.at(left + 39, top + 39), BLUE);
    if (left > 0) expectColour(r.at(left - 1, top + 1), GREY);
    if (top > 0) expectColour(r.at(left + 1, top - 1), GREY);
    if (left + 40 < 200) expectColour(r.at(left + 40, top + 1), GREY);
    if (top + 40 < 100) expectColour(r.at(left + 1, top + 40), GREY);
  });

  test('a layer partly outside the image is cut at its edge', async () => {
    const r = await get('/tr:l-image,i-blue.png,lx-180,ly-N80,l-end/base.png');
    expect([r.width, r.height]).toEqual([200, 100]);
    expectColour(r.at(199, 0), BLUE); // the layer spans x 180..219, y -20..19
    expectColour(r.at(199, 19), BLUE);
    expectColour(r.at(199, 20), GREY);
    expectColour(r.at(179, 5), GREY);
  });

  test('a layer wholly outside the image leaves it as it is', async () => {
    const r = await get('/tr:l-image,i-blue.png,lx-500,l-end/base.png');
    expectColour(r.at(199, 50), GREY);
  });

  test("the layer's own transformations: w, h, e-grayscale, rt, fl, b", async () => {
    const sized = await get('/tr:l-image,i-blue.png,w-10,h-20,lfo-top_left,l-end/base.png');
    expectColour(sized.at(9, 19), BLUE);
    expectColour(sized.at(10, 5), GREY);
    expectColour(sized.at(5, 20), GREY);
    const grey = await get('/tr:l-image,i-logos@@brand.png,e-grayscale,lfo-top_left,l-end/base.png');
    expectColour(grey.at(2, 2), [54, 54, 54]); // Rec. 709 luma of red: 0.2126 × 255
    const flipped = await get('/tr:l-image,i-logos@@brand.png,fl-h,lfo-top_left,l-end/base.png');
    expectColour(flipped.at(2, 2), GREY);
    expectColour(flipped.at(17, 2), RED);
    const turned = await get('/tr:l-image,i-logos@@brand.png,rt-90,lfo-top_left,l-end/base.png');
    expectColour(turned.at(10, 2), RED); // the red left half is now the top half
    expectColour(turned.at(10, 17), GREY);
    const bordered = await get('/tr:l-image,i-blue.png,b-5_00FF00,lfo-top_left,l-end/base.png');
    expectColour(bordered.at(2, 2), [0, 255, 0]);
    expectColour(bordered.at(10, 10), BLUE);
    expectColour(bordered.at(49, 49), [0, 255, 0]);
  });

  test("a layer's own chain: steps separated by ':' inside the layer", async () => {
    const r = await get('/tr:l-image,i-blue.png,w-20:b-2_00FF00,lfo-top_left,l-end/base.png');
    expectColour(r.at(0, 0), [0, 255, 0]);
    expectColour(r.at(10, 10), BLUE);
    expectColour(r.at(23, 10), [0, 255, 0]);
    expectColour(r.at(24, 10), GREY);
  });

  test('i-ik_canvas is a solid colour block: bg, w×h (the image\'s size by default), with its own steps', async () => {
    const block = await get('/tr:l-image,i-ik_canvas,bg-00FF00,w-30,h-20,lfo-top_left,l-end/base.png');
    expectColour(block.at(29, 19), [0, 255, 0]);
    expectColour(block.at(30, 19), GREY);
    expectColour(block.at(29, 20), GREY);
    const tint = await get('/tr:l-image,i-ik_canvas,bg-0000FF50,l-end/base.png');
    expectColour(tint.at(0, 0), [50, 50, 178], 4);
    expectColour(tint.at(199, 99), [50, 50, 178], 4);
    const half = await get('/tr:l-image,i-ik_canvas,bg-00FF00,w-0.5,h-0.5,r-max,lfo-top_left,l-end/base.png');
    expectColour(half.at(50, 25), [0, 255, 0]); // 100x50, rounded into an ellipse
    expectColour(half.at(1, 1), GREY);
    expectColour(half.at(100, 25), GREY);
  });

  test('lxc/lyc place the layer by its centre', async () => {
    const r = await get('/tr:l-image,i-blue.png,lxc-30,lyc-40,l-end/base.png');
    expectColour(r.at(10, 20), BLUE); // 10..49 x 20..59
    expectColour(r.at(49, 59), BLUE);
    expectColour(r.at(9, 30), GREY);
    expectColour(r.at(50, 30), GREY);
  });

  test('o- blends the layer with the image', async () => {
    const r = await get('/tr:l-image,i-blue.png,o-50,lfo-top_left,l-end/base.png');
    expectColour(r.at(10, 10), [50, 50, 178], 4); // half blue (0, 0, 255), half grey (100)
    expectColour(r.at(100, 50), GREY);
  });

  test('several layers in one step, drawn in order', async () => {
    const r = await get('/tr:l-image,i-blue.png,lfo-top_left,l-end,l-image,i-logos@@brand.png,lfo-top_left,l-end/base.png');
    expectColour(r.at(2, 2), RED); // the logo over the blue square
    expectColour(r.at(15, 2), BLUE); // the logo is transparent there
    expectColour(r.at(30, 30), BLUE);
  });

  test("layers in any step of a chain: a later step's resize scales an earlier layer", async () => {
    const r = await get('/tr:l-image,i-blue.png,lfo-top_left,l-end:w-100:l-image,i-logos@@brand.png,lfo-bottom_right,l-end/base.png');
    expect([r.width, r.height]).toEqual([100, 50]);
    expectColour(r.at(5, 5), BLUE); // 40x40 became 20x20
    expectColour(r.at(25, 5), GREY);
    expectColour(r.at(84, 45), RED); // the logo at 80..99 x 30..49, red on its left half
    expectColour(r.at(95, 45), GREY);
  });

  test('a colour layer on a greyscale image keeps its colour', async () => {
    const r = await get('/tr:l-image,i-blue.png,lfo-top_left,l-end/grey.jpg');
    expectColour(r.at(20, 20), BLUE, 12);
    expectColour(r.at(100, 50), GREY, 12);
  });

  test('an SVG layer image is drawn at the size its own steps ask', async () => {
    const r = await get('/tr:l-image,i-logo.svg,w-40,lfo-top_left,l-end/base.png');
    expectColour(r.at(15, 35), RED);
    expectColour(r.at(25, 10), GREY);
    expectColour(r.at(45, 10), GREY);
  });

  test('an SVG layer declared far larger than it is drawn costs what it is drawn at', async () => {
    // 100000x100000 declared: estimated at that size, the cost model refused it (about 38 GB).
    await harness.s3.put('images', 'huge-logo.svg', Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="100000" height="100000"><rect width="50000" height="100000" fill="#ff0000"/></svg>'), 'image/svg+xml');
    const r = await get('/tr:l-image,i-huge-logo.svg,w-40,lfo-top_left,l-end/base.png');
    expectColour(r.at(15, 35), RED);
    expectColour(r.at(25, 10), GREY);
  });

  test('an SVG image with a layer is drawn, not served as stored (the layer would be lost)', async () => {
    await harness.s3.put('images', 'base.svg', Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="200" height="100"><rect width="200" height="100" fill="#646464"/></svg>'), 'image/svg+xml');
    const response = await harness.get('/tr:l-image,i-blue.png,lfo-top_left,l-end/base.svg', { accept: 'image/webp,*/*' });
    expect(response.headers.get('content-type')).toBe('image/webp');
    expect(response.headers.get('vary')).toBe('Accept');
    const r = await decoded(response);
    expectColour(r.at(20, 20), BLUE, 12);
    expectColour(r.at(100, 50), GREY, 12);
    expect((await harness.get('/tr:w-100/base.svg')).headers.get('content-type')).toBe('image/svg+xml'); // without layers, as stored
  });

  test('an animation with a layer is rendered on its first frame, the layer on it', async () => {
    const response = await harness.get('/tr:f-gif,l-image,i-blue.png,lfo-top_left,l-end/spinner.gif');
    expect((await sharp(response.body).metadata()).pages ?? 1).toBe(1);
    const r = await decoded(response);
    expect([r.width, r.height]).toEqual([200, 100]);
    expectColour(r.at(20, 20), BLUE, 12);
    expectColour(r.at(100, 50), GREY, 12);
  });

  test('layers in the query form and in a JPEG output', async () => {
    const r = await get('/base.png?tr=f-jpg,l-image,i-blue.png,lfo-top_left,l-end');
    expectColour(r.at(20, 20), BLUE, 12);
    expectColour(r.at(100, 50), GREY, 12);
  });
});

describe('text layers', () => {
  /** The box a text layer's background fills: where it differs from the plain image. */
  const boxOf = async (chain: string) => {
    const [plain, drawn] = await Promise.all([get('/base.png'), get(`/tr:${chain}/base.png`)]);
    return { box: changedBox(plain, drawn)!, drawn };
  };

  test('text changes pixels only inside its box, in its colour', async () => {
    const { box: filled } = await boxOf('l-text,i-Hello,fs-20,co-FF0000,bg-0000FF,pa-4,lfo-top_left,l-end');
    expect(filled.left).toBe(0);
    expect(filled.top).toBe(0);
    expect(filled.right).toBeGreaterThan(40); // five glyphs of 20 px and the padding
    expect(filled.bottom).toBeGreaterThan(20);
    const { box: text, drawn } = await boxOf('l-text,i-Hello,fs-20,co-FF0000,pa-4,lfo-top_left,l-end');
    expect(text.left).toBeGreaterThanOrEqual(4);
    expect(text.top).toBeGreaterThanOrEqual(4);
    expect(text.right).toBeLessThanOrEqual(filled.right - 4);
    expect(text.bottom).toBeLessThanOrEqual(filled.bottom - 4);
    // Some pixel of the text is fully red.
    let red = 0;
    for (let y = text.top; y <= text.bottom; y++) for (let x = text.left; x <= text.right; x++) if (drawn.at(x, y)[0] > 240 && drawn.at(x, y)[1] < 20) red += 1;
    expect(red).toBeGreaterThan(20);
  });

  test('lx/ly and lfo place a text layer as they place an image layer', async () => {
    const { box } = await boxOf('l-text,i-Hi,fs-20,bg-0000FF,lx-N10,ly-N10,l-end');
    expect(box.right).toBe(189);
    expect(box.bottom).toBe(89);
    const { box: centred } = await boxOf('l-text,i-Hi,fs-20,bg-0000FF,l-end');
    expect(Math.abs(centred.left + centred.right - 199)).toBeLessThanOrEqual(1);
    expect(Math.abs(centred.top + centred.bottom - 99)).toBeLessThanOrEqual(1);
  });

  test('Pango markup in the text is shown as written, never interpreted', async () => {
    const markup = Buffer.from('<b>A</b>').toString('base64url');
    const { box: literal } = await boxOf(`l-text,ie-${markup},fs-20,bg-0000FF,lfo-top_left,l-end`);
    const { box: plain } = await boxOf('l-text,i-A,fs-20,bg-0000FF,lfo-top_left,l-end');
    expect(literal.right).toBeGreaterThan(plain.right * 5); // eight glyphs, not one bold A
  });

  test('w- wraps the text in a box of that width; ia- aligns it there', async () => {
    const { box: oneLine } = await boxOf('l-text,i-one two three four,fs-16,bg-0000FF,lfo-top_left,l-end');
    const { box: wrapped } = await boxOf('l-text,i-one two three four,fs-16,w-60,bg-0000FF,lfo-top_left,l-end');
    expect(wrapped.right).toBe(59);
    expect(wrapped.bottom).toBeGreaterThan(oneLine.bottom * 2);
    const { box: left } = await boxOf('l-text,i-ab,fs-16,w-150,ia-left,co-FF0000,lfo-top_left,l-end');
    const { box: right } = await boxOf('l-text,i-ab,fs-16,w-150,ia-right,co-FF0000,lfo-top_left,l-end');
    expect(left.left).toBeLessThan(5);
    expect(right.right).toBeGreaterThan(140);
    expect(right.left).toBeGreaterThan(100);
  });

  test('ff- and tg- choose the face: serif, sans, bold and italic draw differently', async () => {
    const draw = (params: string) => get(`/tr:l-text,i-Type,fs-30,co-000000,lfo-top_left,${params},l-end/base.png`);
    const [sans, serif, times, bold, italic] = await Promise.all([draw('ff-Arial'), draw('ff-serif'), draw('ff-Times'), draw('tg-b'), draw('tg-i')]);
    expect(changedBox(sans, serif)).toBeDefined();
    expect(changedBox(serif, times)).toBeUndefined(); // Times is the built-in serif
    expect(changedBox(sans, bold)).toBeDefined();
    expect(changedBox(sans, italic)).toBeDefined();
  });

  test('ff-<name> draws with a font configured in an origin, read from its file', async () => {
    expect(fontFamilyName(brandFont())).toBe('Afterimage Brand');
    const draw = (font: string) => get(`/tr:l-text,i-illi WWMM,fs-30,co-000000,lfo-top_left,ff-${font},l-end/base.png`);
    const [sans, brand] = await Promise.all([draw('sans'), draw('brand')]);
    expect(changedBox(sans, brand)).toBeDefined();
    // A monospaced font: the narrow letters take as much room as the wide ones.
    const { box: brandBox } = await boxOf('l-text,i-iiii,fs-30,bg-0000FF,lfo-top_left,ff-brand,l-end');
    const { box: sansBox } = await boxOf('l-text,i-iiii,fs-30,bg-0000FF,lfo-top_left,ff-sans,l-end');
    expect(brandBox.right).toBeGreaterThan(sansBox.right * 1.5);
  });

  test('a configured font missing from its origin is a 502 naming it, not cached', async () => {
    const result = await harness.get('/tr:l-text,i-Hi,ff-broken,l-end/base.png');
    expect(result.status).toBe(502);
    expect(result.headers.get('x-afterimage-error')).toContain('The font "broken" (fonts.broken) is not in origin "main" at "fonts/none.ttf"');
  });

  test('a text too large for the memory budget is refused before it is drawn', async () => {
    const result = await harness.get(`/tr:l-text,i-${'W'.repeat(500)},fs-4000,l-end/base.png`);
    expect(result.status).toBe(422);
    expect(result.headers.get('x-afterimage-error')).toContain('limits.memoryBudgetMB');
  });

  test.each([
    ['one long line', `l-text,i-${'W'.repeat(400)},fs-100,l-end`],
    ['many newlines', `l-text,i-${'%0A'.repeat(499)}x,fs-60,l-end`],
    ['a letter a line (w-1), after a resize', `w-400,l-text,i-${'A'.repeat(500)},w-1,fs-200,l-end`],
  ])('a text box over 32767 pixels on a side (%s) is a 400 naming the text layer, not a 422 blaming the image', async (_, chain) => {
    const result = await harness.get(`/tr:${chain}/base.png`);
    expect(result.status).toBe(400);
    expect(result.headers.get('x-afterimage-error')).toBe(
      'EINVAL - Invalid transformation: a text layer would be more than 32767 pixels on a side; the limit is 8192 per side and 67108864 pixels (limits.maxOutputDimension, limits.maxOutputPixels)',
    );
  });

  test('o- blends a text layer', async () => {
    const r = await get('/tr:l-text,i-Hi,fs-20,bg-0000FF,o-50,lfo-top_left,l-end/base.png');
    expectColour(r.at(0, 0), [50, 50, 178], 4);
  });

  test('odd texts are drawn or refused, never a crash: spaces, newlines, emoji, right-to-left, one long word', async () => {
    for (const text of [' ', '\n\n', 'a\tb', '😀 ok', 'שלום עולם', 'x'.repeat(400), '&lt;&#0;', '\u0001\u0002']) {
      const result = await harness.get(`/tr:l-text,ie-${Buffer.from(text).toString('base64url')},fs-16,w-50,l-end/base.png`);
      expect([text, result.status]).toEqual([text, 200]);
    }
  });

  test.each([
    [`l-text,i-${'x'.repeat(501)},l-end`, 'the text is 501 characters long; the limit is 500 (limits.maxLayerText)'],
    ['l-text,fs-20,l-end', 'a text layer needs its text'],
    ['l-text,i-Hi,ff-Comic,l-end', 'ff must be a configured font (brand, broken) or one of'],
    ['l-text,i-Hi,fs-0,l-end', 'fs must be a font size in pixels from 1'],
    ['l-text,i-Hi,co-nocolour,l-end', 'co must be RRGGBB'],
    ['l-text,i-Hi,tg-u,l-end', 'tg must be b (bold), i (italic) or b_i'],
    ['l-text,i-Hi,ia-justify,l-end', 'ia must be one of left, center, right'],
    ['l-text,i-Hi,pa-1_2_3_4_5,l-end', 'pa must be 1 to 4 paddings'],
    ['l-text,i-Hi,rt-90,l-end', '"rt" is not supported in a text layer'],
  ])('tr:%s is a 400 naming it', async (chain, message) => {
    const result = await harness.get(`/tr:${chain}/base.png`);
    expect(result.status).toBe(400);
    expect(result.headers.get('x-afterimage-error')).toContain(message);
  });
});

describe('layer limits and errors', () => {
  const error = async (path: string) => {
    const result = await harness.get(path);
    return { status: result.status, message: result.headers.get('x-afterimage-error') ?? '' };
  };

  test.each([
    ['l-image,i-blue.png/base.png', 'a layer must end with l-end'],
    ['l-end/base.png', 'l-end closes a layer that was never opened'],
    ['l-video,i-a.mp4,l-end/base.png', 'there is no layer type "video"'],
    ['l-image,w-10,l-end/base.png', 'an image layer needs its image'],
    ['l-image,i-a.png,l-image,i-b.png,l-end,l-end/base.png', 'a layer cannot contain another layer'],
    ['l-image,i-..@@secret.png,l-end/base.png', 'i must be the layer image path'],
    ['l-image,i-blue.png,lx-abc,l-end/base.png', 'lx must be an integer'],
    ['l-image,i-blue.png,lfo-middle,l-end/base.png', 'lfo must be one of center'],
    ['l-image,i-blue.png,o-0,l-end/base.png', 'o must be an integer from 1 to 100'],
    ['l-image,i-blue.png,o-101,l-end/base.png', 'o must be an integer from 1 to 100'],
    ['l-image,i-blue.png,w-abc,l-end/base.png', 'w must be a positive integer'],
    ['l-image,i-blue.png,q-50,l-end/base.png', '"q" applies to the whole response and cannot be used inside a layer'],
    ['l-image,i-blue.png,zz-1,l-end/base.png', 'unknown parameter "zz" in an image layer'],
    ['l-image,i-blue.png,l-end,l-image,i-blue.png,l-end,l-image,i-blue.png,l-end:l-image,i-blue.png,l-end/base.png', 'more than 3 layers; the limit is 3 (limits.maxLayers)'],
    ['l-image,ie-!!!,l-end/base.png', 'ie must be base64'],
    ['l-image,i-ik_canvas,w-10,l-end/base.png', 'a solid colour layer needs its colour, bg-<colour>'],
    ['l-image,i-blue.png,lx-10,lxc-10,l-end/base.png', 'give lx (an edge) or lxc (the centre) of the layer, not both'],
  ])('tr:%s is a 400 naming it', async (chain, message) => {
    const r = await error(`/tr:${chain}`);
    expect(r.status).toBe(400);
    expect(r.message).toContain(message);
  });

  test('a missing layer image is a 404 naming it', async () => {
    const r = await error('/tr:l-image,i-logos@@gone.png,l-end/base.png');
    expect(r.status).toBe(404);
    expect(r.message).toContain('layer image "logos/gone.png"');
  });

  test('a layer image that is not an image is a 422 naming it', async () => {
    await harness.s3.put('images', 'notes.txt', Buffer.from('not an image'), 'text/plain');
    const r = await error('/tr:l-image,i-notes.txt,l-end/base.png');
    expect(r.status).toBe(422);
    expect(r.message).toContain('layer image "notes.txt" is not an image');
  });

  test('a layer image obeys the input limits: over limits.maxInputBytes is a 422 naming it', async () => {
    const r = await error('/tr:l-image,i-huge.png,l-end/base.png');
    expect(r.status).toBe(422);
    expect(r.message).toMatch(/^ELIMIT - The layer image "huge.png": .*limits\.maxInputBytes/);
  });

  test('ie- names the layer image in base64 (standard or URL-safe)', async () => {
    const path = Buffer.from('logos/brand.png').toString('base64url');
    const r = await get(`/tr:l-image,ie-${path},lfo-top_left,l-end/base.png`);
    expectColour(r.at(2, 2), RED);
  });
});

describe('the ETag covers the layer images', () => {
  test('a changed logo changes the ETag, and a request with the old one is answered in full', async () => {
    await harness.s3.put('images', 'logos/changing.png', await logo(), 'image/png');
    const path = '/tr:l-image,i-logos@@changing.png,lfo-top_left,l-end/base.png';
    const before = await harness.get(path);
    expect(before.status).toBe(200);
    const etag = before.headers.get('etag')!;
    expect((await harness.get(path, { 'if-none-match': etag })).status).toBe(304);
    await harness.s3.put('images', 'logos/changing.png', await logo({ r: 0, g: 255, b: 0 }), 'image/png');
    const after = await harness.get(path, { 'if-none-match': etag });
    expect(after.status).toBe(200);
    expect(after.headers.get('etag')).not.toBe(etag);
    expectColour((await decoded(after)).at(2, 2), [0, 255, 0]);
  });
});

describe("URLs built by ImageKit's JavaScript SDK (@imagekit/javascript)", () => {
  const overlays: [string, Record<string, unknown>, [number, number], number[]][] = [
    ['an image at a corner', { type: 'image', input: 'blue.png', position: { focus: 'bottom_right' } }, [190, 90], BLUE],
    ['an image in a folder, by x and y', { type: 'image', input: '/logos/brand.png', position: { x: 30, y: 40 } }, [35, 45], RED],
    ['an image with negative x and y', { type: 'image', input: 'blue.png', position: { x: 'N5', y: 'N5' } }, [190, 90], BLUE],
    ['an image with its own transformation', { type: 'image', input: 'blue.png', position: { focus: 'top_left' }, transformation: [{ width: 10, height: 10 }] }, [9, 9], BLUE],
    ['an image with a chained transformation', { type: 'image', input: 'blue.png', position: { focus: 'top_left' }, transformation: [{ width: 20 }, { rotation: 90 }] }, [19, 19], BLUE],
    ['an image in base64', { type: 'image', input: 'logos/brand.png', encoding: 'base64', position: { focus: 'top_left' } }, [2, 2], RED],
    ['an image with opacity', { type: 'image', input: 'blue.png', position: { focus: 'top_left' }, transformation: [{ opacity: 50 }] }, [5, 5], [50, 50, 178]],
    ['a text with a background', { type: 'text', text: 'Sale', position: { focus: 'top_left' }, transformation: [{ fontSize: 20, fontColor: 'FFFFFF', background: '0000FF', padding: 6 }] }, [2, 2], BLUE],
    ['a text that needs base64', { type: 'text', text: 'Sale, 50% off: today/only', position: { x: 10, y: 10 }, transformation: [{ fontSize: 12, background: 'FF0000', width: 80, innerAlignment: 'left', typography: 'b', fontFamily: 'Open Sans', padding: 4 }] }, [11, 11], RED],
    ['a solid colour block', { type: 'solidColor', color: '00FF00', position: { focus: 'top_left' }, transformation: [{ width: 30, height: 30 }] }, [29, 29], [0, 255, 0]],
    ['an image placed by its centre', { type: 'image', input: 'blue.png', position: { xCenter: 30, yCenter: 30 } }, [49, 49], BLUE],
    ['a text at negative x and y', { type: 'text', text: 'Hi', position: { x: 'N0', y: 'N0' }, transformation: [{ fontSize: 20, background: 'FF0000', padding: '2_4' }] }, [198, 98], RED],
  ];

  test('buildTransformationString: an image overlay and a text overlay in two steps of a chain, as a tr= value', async () => {
    const chain = buildTransformationString([
      { width: 200, overlay: { type: 'image', input: 'blue.png', position: { focus: 'top_left' } } } as never,
      { overlay: { type: 'text', text: 'Hi there', position: { focus: 'bottom_right' }, transformation: [{ fontSize: 16, background: 'FF0000', padding: 3 }] } } as never,
    ]);
    expect(chain).toMatch(/^w-200,l-image,i-blue\.png,lfo-top_left,l-end:l-text,i-Hi%20there,lfo-bottom_right,fs-16,bg-FF0000,pa-3,l-end$/);
    const r = await get(`/base.png?tr=${chain}`);
    expectColour(r.at(5, 5), BLUE);
    expectColour(r.at(198, 98), RED);
    expectColour(r.at(100, 50), GREY);
  });

  describe.each([
    ['path', 'path'],
    ['query', 'query'],
  ] as const)('in the %s form', (_name, transformationPosition) => {
    test.each(overlays)('%s', async (_label, overlay, [x, y], colour) => {
      const url = buildSrc({
        urlEndpoint: harness.baseUrl,
        src: '/base.png',
        transformationPosition,
        transformation: [{ width: 200 }, { overlay } as never],
      });
      const r = await decoded(await harness.get(url.slice(harness.baseUrl.length)));
      expectColour(r.at(x, y), colour, 4);
      expectColour(r.at(100, 50 + (y > 50 ? -40 : 40)), GREY);
    });
  });
});
