// Every request has a bounded cost: a deadline on every render, SVGs drawn within their own pixel
// limit, work dropped with its client, renders capped per process, one origin call per object.
// Real s3rver, real HTTP, real sharp; hostile files are real SVGs that take seconds to draw.

import { deflateSync, gzipSync } from 'node:zlib';
import sharp from 'sharp';
import { DEFAULT_LIMITS, parseConfig, type AfterimageConfigInput } from '../lambda/config';
import { HttpError } from '../lambda/errors';
import { inspectInput, renderImage } from '../lambda/image/pipeline';
import { svgEmbeds } from '../lambda/image/svg-embeds';
import { ImageService, type ServiceRequest } from '../lambda/service/image-service';
import { startFaultProxy, type FaultProxy } from './helpers/fault-proxy';
import { decode, s3Origin, solidImage, startHarness, type Harness } from '../tools/harness';

const BUCKET = 'bounds';

/** Drawn at this size, `hostileSvg` takes about 20 s of both cores: the tests allow it with limits.maxSvgPixels. */
const HOSTILE_SIZE = 3500;

/**
 * A couple of hundred bytes that take librsvg many seconds to draw: every tile it draws blurs
 * the whole filter region again (the issue's 7000x7000 one takes over 80 s).
 */
function hostileSvg(size: number): Buffer {
  return Buffer.from(`<svg xmlns="http://www.w3.org/2000/svg" width="${size}" height="${size}"><filter id="f"><feGaussianBlur stdDeviation="2000"/></filter><rect width="100%" height="100%" fill="red" filter="url(#f)"/></svg>`);
}

function plainSvg(width: number, height: number, body = `<rect width="${width}" height="${height}" fill="#0a0"/>`): Buffer {
  return Buffer.from(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">${body}</svg>`);
}

async function seed(s3: Harness['s3']): Promise<void> {
  await s3.put(BUCKET, 'hostile.svg', hostileSvg(HOSTILE_SIZE), 'image/svg+xml');
  await s3.put(BUCKET, 'logo-1000.svg', plainSvg(1000, 1000), 'image/svg+xml');
  await s3.put(BUCKET, 'poster-3000.svg', plainSvg(3000, 3000), 'image/svg+xml');
  // 110 filter results kept for an feMerge: librsvg holds each as a full-size surface (2 GB at 2048²).
  const offsets = Array.from({ length: 110 }, (_, i) => `<feOffset dx="${i % 7}" dy="1" result="r${i}"/>`).join('');
  const merge = `<feMerge>${Array.from({ length: 110 }, (_, i) => `<feMergeNode in="r${i}"/>`).join('')}</feMerge>`;
  await s3.put(BUCKET, 'filters-2048.svg', plainSvg(2048, 2048, `<filter id="f">${offsets}${merge}</filter><rect width="2048" height="2048" fill="red" filter="url(#f)"/>`), 'image/svg+xml');
  await s3.put(BUCKET, 'dot.svg', plainSvg(10, 10, '<circle cx="5" cy="5" r="4" fill="#000"/>'), 'image/svg+xml');
  await s3.put(BUCKET, 'photo.jpg', await solidImage(800, 600, { r: 200, g: 40, b: 40 }), 'image/jpeg');
}

function harnessWith(limits: AfterimageConfigInput['limits']): Promise<Harness> {
  return startHarness({
    buckets: [BUCKET],
    config: (s3) => ({ origins: [s3Origin(s3, { name: 'main', bucket: BUCKET })], limits }),
    seed,
  });
}

function get(rawPath: string): ServiceRequest {
  return { method: 'GET', rawPath, rawQuery: '', headers: {} };
}

/** Resolves once `condition` holds; fails the test after `ms`. */
async function until(condition: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > end) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** CPU time this process spends (every thread, libvips' included) during `ms` of wall time. */
async function cpuDuring(ms: number): Promise<number> {
  const before = process.cpuUsage();
  await new Promise((r) => setTimeout(r, ms));
  const used = process.cpuUsage(before);
  return (used.user + used.system) / 1000;
}

describe('1. Every request has a deadline (limits.requestTimeoutMs)', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await harnessWith({ requestTimeoutMs: 300, maxSvgPixels: HOSTILE_SIZE ** 2 });
  });
  afterAll(() => h.close());

  it('a render past the deadline is a 503 EDEADLINE with no-store; the work stops and the next request is served', async () => {
    const res = await h.get('/tr:f-png/hostile.svg');
    expect(res.status).toBe(503);
    expect(res.headers.get('x-afterimage-error')).toMatch(/^EDEADLINE - The request did not finish within its deadline \(limits\.requestTimeoutMs = 300 ms\)/);
    expect(res.headers.get('cache-control')).toBe('no-store');
    // libvips stops by sharp's timeout (whole seconds) and gives the render slot back...
    await until(() => h.service.renderSlots.load.running === 0, 10_000, 'the render has stopped');
    // ...and burns no CPU afterwards (drawing this file takes both cores for about 20 s).
    expect(await cpuDuring(500)).toBeLessThan(250);
    const next = await h.get('/tr:w-100/photo.jpg');
    expect(next.status).toBe(200);
    expect(await decode(next.body)).toMatchObject({ width: 100, height: 75 });
  });

  it('the caller can shorten the deadline: the Lambda handler passes the time left in the invocation', async () => {
    const res = await h.service.handle(get('/tr:f-png/hostile.svg'), { timeoutMs: 150 });
    expect(res.status).toBe(503);
    expect(res.headers['x-afterimage-error']).toMatch(/^EDEADLINE - .*the 150 ms left to this invocation/);
    await until(() => h.service.renderSlots.load.running === 0, 10_000, 'the render has stopped');
  });

  it('a caller asking for more time than limits.requestTimeoutMs still gets the configured deadline', async () => {
    const res = await h.service.handle(get('/tr:f-png/hostile.svg'), { timeoutMs: 60_000 });
    expect(res.headers['x-afterimage-error']).toMatch(/limits\.requestTimeoutMs = 300 ms/);
    await until(() => h.service.renderSlots.load.running === 0, 10_000, 'the render has stopped');
  });
});

describe('1. A chain stops between its pipelines once its request is over', () => {
  async function renderTwoSteps(signal: AbortSignal, at: number): Promise<unknown> {
    const bytes = await solidImage(400, 300, { r: 1, g: 2, b: 3 });
    const input = (await inspectInput(bytes, DEFAULT_LIMITS))!;
    const steps = [{ width: { px: 200 } }, { blur: 5 }];
    return renderImage(bytes, input, { steps, output: {}, format: 'jpeg', defaultQuality: 80, limits: DEFAULT_LIMITS, deadline: { at, signal, source: 'a test' } }).catch((e: unknown) => e);
  }

  it('with the reason its signal carries (the client left)', async () => {
    const reason = new HttpError('EABORTED', 'gone');
    expect(await renderTwoSteps(AbortSignal.abort(reason), performance.now() + 10_000)).toBe(reason);
  });

  it('with EDEADLINE once the deadline has passed, even before the timer fired', async () => {
    const error = await renderTwoSteps(new AbortController().signal, performance.now() - 1);
    expect(error).toMatchObject({ status: 503, code: 'EDEADLINE', message: expect.stringContaining('(a test)') });
  });
});

describe('1. An SVG is drawn at the size asked for, within limits.maxSvgPixels', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await harnessWith({});
  });
  afterAll(() => h.close());

  it('w- draws the SVG at a higher density, and that size is what the limit checks (default 2048x2048)', async () => {
    const over = await h.get('/tr:w-4000,f-png/logo-1000.svg');
    expect(over.status).toBe(422);
    expect(over.headers.get('x-afterimage-error')).toBe(
      'ELIMIT - The SVG would be drawn at 4000x4000 = 16000000 pixels (declared 1000x1000, drawn larger for the requested size); the limit is 4194304 (limits.maxSvgPixels)',
    );
    expect(over.headers.get('cache-control')).toBe('no-store');
    const within = await h.get('/tr:w-2000,f-png/logo-1000.svg');
    expect(within.status).toBe(200);
    expect(await decode(within.body)).toMatchObject({ width: 2000, height: 2000, format: 'png' });
  });

  it('filters are held to the memory budget before drawing: each kept result is a surface of the whole drawing', async () => {
    const started = Date.now();
    const res = await h.get('/tr:f-png/filters-2048.svg');
    expect(res.status).toBe(422);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.headers.get('x-afterimage-error')).toMatch(/^ELIMIT - .*the SVG's 111 filter primitives, drawn at 4194304 pixels, would need about \d+ MB at peak; the budget is 972 MB \(limits\.memoryBudgetMB 1228 less limits\.originalCacheMB 256\)/);
    // Refused from its text: nothing was drawn (drawing it takes about a minute).
    expect(Date.now() - started).toBeLessThan(5000);
    // Drawn smaller, the same filters fit.
    expect((await h.get('/tr:w-256,f-png/filters-2048.svg')).status).toBe(200);
  });

  it('a declared size over the limit is refused, unless the URL asks for it smaller', async () => {
    const whole = await h.get('/tr:f-png/poster-3000.svg');
    expect(whole.status).toBe(422);
    expect(whole.headers.get('x-afterimage-error')).toMatch(/^ELIMIT - The SVG would be drawn at 3000x3000 = 9000000 pixels; the limit is 4194304 \(limits\.maxSvgPixels\)$/);
    const small = await h.get('/tr:w-300,h-200,f-png/poster-3000.svg');
    expect(small.status).toBe(200);
    expect(await decode(small.body)).toMatchObject({ width: 300, height: 200 });
    // A fraction is a share of the declared size, so the SVG is drawn at that size.
    expect((await h.get('/tr:w-0.5,f-png/poster-3000.svg')).status).toBe(422);
    expect(await decode((await h.get('/tr:w-0.5,f-png/logo-1000.svg')).body)).toMatchObject({ width: 500, height: 500 });
  });

  it('the drawing is made at the output size, not enlarged from the declared one: edges stay sharp', async () => {
    const res = await h.get('/tr:w-500,f-png/dot.svg');
    expect(await decode(res.body)).toMatchObject({ width: 500, height: 500 });
    const { data, info } = await sharp(res.body).flatten({ background: '#fff' }).greyscale().raw().toBuffer({ resolveWithObject: true });
    const row = data.subarray(250 * info.width, 251 * info.width);
    const blurred = [...row].filter((v) => v > 20 && v < 235).length;
    expect(blurred).toBeLessThanOrEqual(4); // enlarged 50 times, each edge would be ~50 grey pixels
  });

  it('md-true on an SVG draws it once (it has no EXIF or XMP to keep)', async () => {
    const res = await h.get('/tr:w-100,md-true,f-png/logo-1000.svg');
    expect(res.status).toBe(200);
    expect(await decode(res.body)).toMatchObject({ width: 100, height: 100 });
  });

  it('the limit is configurable', async () => {
    const config = parseConfig({ origins: [s3Origin(h.s3, { name: 'main', bucket: BUCKET })], limits: { maxSvgPixels: 100 * 100 } });
    const service = new ImageService(config);
    expect((await service.handle(get('/tr:w-100,f-png/dot.svg'))).status).toBe(200);
    const res = await service.handle(get('/tr:w-101,f-png/dot.svg'));
    expect(res.status).toBe(422);
    expect(res.headers['x-afterimage-error']).toMatch(/101x101 = 10201 pixels .* the limit is 10000 \(limits\.maxSvgPixels\)/);
  });
});

/**
 * `real` behind a 16x16 decoy that libjpeg reads as the header (it takes RST0 for a marker without
 * a length) while zune-jpeg, librsvg's decoder, reads a length after it and skips the decoy.
 */
async function jpegBehindDecoy(real: Buffer): Promise<Buffer> {
  const decoy = await sharp({ create: { width: 16, height: 16, channels: 3, background: '#0f0' } }).jpeg().toBuffer();
  const head = Buffer.from([0xff, 0xd8, 0xff, 0xd0, 0xff, 0xfe, 0x00, 0x02]);
  return Buffer.concat([head, decoy.subarray(2), Buffer.alloc(65538 - head.length - (decoy.length - 2)), real.subarray(2)]);
}

describe('1. The images an SVG embeds count as input pixels, at any depth and however written', () => {
  const EMBED_BUCKET = 'embeds';
  let h: Harness;
  let png1200: Buffer;
  let png800: Buffer;
  let png500: Buffer;
  let files: Record<string, Buffer>;
  const svgWith = (body: string, prolog = '') =>
    Buffer.from(`${prolog}<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="10" height="10">${body}</svg>`);
  const image = (href: string) => `<image width="10" height="10" xlink:href="${href}"/>`;
  const base64 = (bytes: Buffer, type = 'image/png') => `data:${type};base64,${bytes.toString('base64')}`;

  beforeAll(async () => {
    const grey = async (width: number, height: number) => sharp({ create: { width, height, channels: 3, background: '#777' } }).png().toBuffer();
    [png1200, png800, png500] = [await grey(1200, 1000), await grey(800, 800), await grey(500, 500)];
    const percent = `data:image/png,${[...png1200].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('')}`;
    const payload = png1200.toString('base64');
    const jpeg1200 = await sharp({ create: { width: 1200, height: 1000, channels: 3, background: '#777' } }).jpeg().toBuffer();
    const jpeg1116 = await sharp({ create: { width: 1200, height: 1116, channels: 3, background: '#777' } }).jpeg().toBuffer();
    const continued = (text: string, joint: string) => text.match(/.{1,36}/g)!.join(joint);
    const escapedInner = `<svg xmlns='http://www.w3.org/2000/svg' width='10' height='10'><image width='10' height='10' href='${base64(png1200)}'/></svg>`.replace(/</g, '%3C').replace(/>/g, '%3E');
    // librsvg follows a fill to a pattern in another (data:) document, which holds the image.
    const pattern = svgWith(`<pattern id="p" width="10" height="10" patternUnits="userSpaceOnUse">${image(base64(png1200))}</pattern><rect width="10" height="10" fill="url(#p)"/>`);
    const stylesheet = Buffer.from(`.c{fill:url("${base64(pattern, 'image/svg+xml')}#p")}`);
    const utf16 = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(`<?xml version="1.0" encoding="UTF-16"?>${svgWith(image(base64(png1200)))}`, 'utf16le')]);
    files = {
      'plain.svg': svgWith(image(base64(png1200))),
      'fe-image.svg': svgWith(`<filter id="f"><feImage xlink:href="${base64(png1200)}"/></filter><rect width="10" height="10" filter="url(#f)"/>`),
      'references.svg': svgWith(image(`&#100;ata:image/png;base64,${payload}`)),
      'zeros.svg': svgWith(image(`&#0000000000100;ata:image/png;base64,${payload}`)),
      'tab.svg': svgWith(image(`d&#9;ata:image/png;base6&#10;4,${payload}`)),
      'entity.svg': svgWith(image(`&d;ata:image/png;base64,${payload}`), '<!DOCTYPE svg [<!ENTITY d "d">]>'),
      'long-type.svg': svgWith(image(`data:image/png;x=${'a'.repeat(300)}();base64,${payload}`)),
      'percent.svg': svgWith(image(percent)),
      'percent-base64.svg': svgWith(image(`data:image/png;base64,%${payload.charCodeAt(0).toString(16)}${payload.slice(1)}`)),
      'disguised.svg': svgWith(image(base64(png1200, 'font/woff2'))),
      'nested.svg': svgWith(image(base64(svgWith(image(base64(png1200))), 'image/svg+xml'))),
      'utf16.svg': svgWith(image(base64(utf16, 'image/svg+xml'))),
      'css-escape.svg': svgWith(`<rect width="10" height="10" style="fill:url('d\\61 ta:image/svg+xml;base64,${pattern.toString('base64')}#p')"/>`),
      'stylesheet.svg': svgWith('<rect width="10" height="10" class="c"/>', `<?xml-stylesheet type="text/css" href="${base64(stylesheet, 'text/css')}"?>`),
      'svgz.svg': gzipSync(svgWith(image(base64(png1200)))),
      // The second review's: markup splitting a word, a percent-escaped document cut by a quote or
      // a space, decoy declarations, a JPEG with a stray byte after its SOI.
      'style-comment.svg': svgWith(`<style>rect{fill:url(d<!-- x -->ata:image/svg+xml;base64,${pattern.toString('base64')}#p)}</style><rect width="10" height="10"/>`),
      'style-cdata.svg': svgWith(`<style>rect{fill:url(d<![CDATA[ata:image/svg+xml;base64,]]>${pattern.toString('base64')}#p)}</style><rect width="10" height="10"/>`),
      'escaped-quote.svg': svgWith(image(`data:image/svg+xml,${escapedInner.replace('data:', '%64ata:')}`)),
      'escaped-space.svg': svgWith(image(`data:image/svg+xml, ${escapedInner.replace(/'/g, '%27').replace('data:', '%64ata:')}`)),
      'decoy-comment.svg': svgWith(image(`&d;ata:image/png;base64,${payload}`), '<!-- <!ENTITY d "x"> --><!DOCTYPE svg [<!ENTITY d "d">]>'),
      'jpeg-stray-byte.svg': svgWith(image(base64(Buffer.concat([jpeg1200.subarray(0, 2), Buffer.of(0), jpeg1200.subarray(2)]), 'image/jpeg'))),
      // The third review's: a comment or CSS comment opened where it is none, a child element
      // splitting a stylesheet's base64, a JPEG whose decoy header libjpeg reads and librsvg's
      // decoder skips (an RST0 marker read with a length), any media type.
      'desc-comment.svg': svgWith(`<desc>/*</desc>${image(base64(png1200))}`),
      'type-star.svg': svgWith(image(base64(png1200, 'image/*'))),
      'cdata-comment.svg': svgWith(`<desc><![CDATA[<!--]]></desc>${image(base64(png1200))}`),
      'attribute-comment.svg': svgWith(`<g class="/*">${image(base64(png1200))}</g>`),
      'style-child.svg': svgWith(`<style>rect{fill:url(data:image/svg+xml;base64,${pattern.toString('base64').slice(0, 9)}<x/>${pattern.toString('base64').slice(9)}#p)}</style><rect width="10" height="10"/>`),
      'jpeg-decoy.svg': svgWith(image(base64(await jpegBehindDecoy(jpeg1200), 'image/jpeg'))),
      // The fourth review's: CSS line continuations written with a CR (`\&#13;`, or a raw CR, which
      // XML makes a line feed) splitting a stylesheet's base64 into short pieces; a backslash that
      // is a byte of a percent-escaped JPEG's frame header (1116 = 0x045C), not a CSS escape.
      // The fifth review's: a `[` in the DOCTYPE's quoted literal, taken for a subset, hid the
      // rest of the file from the lexer; the style's base64 is split by empty comments.
      'doctype-literal.svg': svgWith(`<style>rect{fill:url(data:image/svg+xml;base64,${continued(pattern.toString('base64'), '<!---->')}#p)}</style><rect width="10" height="10"/>`, '<!DOCTYPE svg SYSTEM "[">'),
      'xinclude.svg': svgWith(`<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="data:application/xml;base64,${svgWith(image(base64(png500))).toString('base64')}" parse="xml"/>`),
      'css-continuation.svg': svgWith(`<rect width="10" height="10" style="fill:url(&quot;data:image/svg+xml;base64,${continued(pattern.toString('base64'), '\\&#13;')}#p&quot;)"/>`),
      'css-continuation-raw.svg': svgWith(`<style>rect{fill:url("data:image/svg+xml;base64,${continued(pattern.toString('base64'), '\\\r')}#p")}</style><rect width="10" height="10"/>`),
      'escaped-backslash.svg': svgWith(image(`data:image/jpeg,${[...Buffer.concat([Buffer.from([0xff, 0xd8, 0x29]), (await jpegBehindDecoy(jpeg1116)).subarray(2)])].map((b) => (b === 0x5c ? '\\' : `%${b.toString(16).padStart(2, '0')}`)).join('')}`)),
      'two.svg': svgWith(image(base64(png800)) + image(base64(png800))),
      'uses.svg': svgWith(`<defs>${image(base64(png800)).replace('<image', '<image id="i"')}</defs>${'<use xlink:href="#i"/>'.repeat(6)}`),
      'parameter-entity.svg': svgWith(image(base64(png500)), '<!DOCTYPE svg [<!ENTITY % p "x">]>'),
      'entity-non-ascii.svg': svgWith(image(`&é;ata:image/png;base64,${payload}`), '<!DOCTYPE svg [<!ENTITY é "d">]>'),
      'entity-reference.svg': svgWith(image(`&e;ata:image/png;base64,${payload}`), '<!DOCTYPE svg [<!ENTITY e "&#38;#100;">]>'),
      'undeclared.svg': svgWith(image(`&d;ata:image/png;base64,${payload}`)),
      'entity-comment.svg': svgWith(image(`iVBORw&d;0KGgo${payload.slice(11)}`.replace(/^/, 'data:image/png;base64,')), '<!DOCTYPE svg [<!ENTITY a "<!--"><!ENTITY d ""><!ENTITY b "-->"><!ENTITY d "!">]>'),
      'attlist.svg': svgWith('<image width="10" height="10"/>', `<!DOCTYPE svg [<!ATTLIST image xlink:href CDATA "${base64(png500)}">]>`),
      'laughs.svg': svgWith('<text>&lol9;</text>', `<!DOCTYPE svg [<!ENTITY lol0 "lol">${Array.from({ length: 9 }, (_, i) => `<!ENTITY lol${i + 1} "${`&lol${i};`.repeat(10)}">`).join('')}]>`),
      'small.svg': svgWith(image('&pic;'), `<!DOCTYPE svg [<!ENTITY ns_svg "http://www.w3.org/2000/svg"><!ENTITY pic "${base64(png500)}">]>`),
    };
    h = await startHarness({
      buckets: [EMBED_BUCKET],
      config: (s3) => ({ origins: [s3Origin(s3, { name: 'main', bucket: EMBED_BUCKET })], limits: { maxInputPixels: 1_000_000 } }),
      seed: async (s3) => {
        for (const [key, body] of Object.entries(files)) await s3.put(EMBED_BUCKET, key, body, 'image/svg+xml');
        await s3.put(EMBED_BUCKET, 'photo.jpg', await solidImage(400, 300, { r: 200, g: 40, b: 40 }), 'image/jpeg');
      },
    });
  });
  afterAll(() => h.close());

  it.each([
    'plain', 'fe-image', 'references', 'zeros', 'tab', 'entity', 'long-type', 'percent', 'percent-base64', 'disguised', 'nested', 'utf16', 'css-escape', 'stylesheet', 'svgz',
    'style-comment', 'style-cdata', 'escaped-quote', 'escaped-space', 'decoy-comment', 'jpeg-stray-byte',
    'desc-comment', 'type-star', 'cdata-comment', 'attribute-comment', 'style-child', 'jpeg-decoy', 'css-continuation', 'css-continuation-raw',
    'doctype-literal',
  ])('an embedded PNG over limits.maxInputPixels (%s) is a 422 before drawing', async (name) => {
    const res = await h.get(`/tr:f-png/${name}.svg`);
    expect(res.status).toBe(422);
    // A percent-escaped document's image is found both inside it and in the unescaped text:
    // counted twice, which errs on the side of refusing.
    const pixels = name.startsWith('escaped-') ? 2400000 : 1200000;
    expect(res.headers.get('x-afterimage-error')).toBe(`ELIMIT - The SVG embeds images of ${pixels} pixels in all (the largest 1200x1000); the limit is 1000000 (limits.maxInputPixels)`);
  });

  it('a backslash in a percent-escaped body is a byte, not a CSS escape: the real frame header counts', async () => {
    const res = await h.get('/tr:f-png/escaped-backslash.svg');
    expect(res.headers.get('x-afterimage-error')).toMatch(/^ELIMIT - The SVG embeds images of \d+ pixels in all \(the largest 1200x1116\)/);
    expect(res.headers.get('cache-control')).toBe('no-store');
  });

  it('an embedded header past sharp\'s own pixel limit is still read and counted', async () => {
    // A PNG declaring 20000x20000 (400 MP, past sharp's default limitInputPixels), one row of pixels.
    const crc32 = (bytes: Buffer) => {
      let c = ~0;
      for (const byte of bytes) {
        c ^= byte;
        for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1));
      }
      return ~c >>> 0;
    };
    const chunk = (type: string, data: Buffer) => {
      const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
      const out = Buffer.alloc(body.length + 8);
      out.writeUInt32BE(data.length, 0);
      body.copy(out, 4);
      out.writeUInt32BE(crc32(body), body.length + 4);
      return out;
    };
    const ihdr = Buffer.alloc(13);
    ihdr.writeUInt32BE(20000, 0);
    ihdr.writeUInt32BE(20000, 4);
    ihdr.set([8, 0, 0, 0, 0], 8); // 8-bit grey
    const header = Buffer.concat([Buffer.from('89504e470d0a1a0a', 'hex'), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(Buffer.alloc(20001))), chunk('IEND', Buffer.alloc(0))]);
    await h.s3.put(EMBED_BUCKET, 'declared.svg', svgWith(image(base64(header))), 'image/svg+xml');
    const res = await h.get('/tr:f-png/declared.svg');
    expect(res.headers.get('x-afterimage-error')).toBe('ELIMIT - The SVG embeds images of 400000000 pixels in all (the largest 20000x20000); the limit is 1000000 (limits.maxInputPixels)');
  });

  it('the images are counted together', async () => {
    const res = await h.get('/tr:f-png/two.svg');
    expect(res.headers.get('x-afterimage-error')).toBe('ELIMIT - The SVG embeds images of 1280000 pixels in all (the largest 800x800); the limit is 1000000 (limits.maxInputPixels)');
  });

  it('an SVG layer meets the same check', async () => {
    const res = await h.get('/tr:w-200,l-image,i-plain.svg,w-20,l-end/photo.jpg');
    expect(res.status).toBe(422);
    expect(res.headers.get('x-afterimage-error')).toMatch(/The SVG embeds images of 1200000 pixels in all/);
  });

  it('an <use> that draws an embedded image again counts again', async () => {
    const res = await h.get('/tr:f-png/uses.svg');
    expect(res.headers.get('x-afterimage-error')).toBe(
      'ELIMIT - The SVG embeds images of 640000 pixels (the largest 800x800) and has 6 <use> elements, each of which may draw them again: 4480000 pixels drawn; the limit is 4000000 (4 times limits.maxInputPixels)',
    );
  });

  it('a parameter entity or an attribute default, whose content this scan cannot see used, is refused; plain entities are expanded', async () => {
    for (const name of ['parameter-entity', 'attlist', 'entity-non-ascii', 'entity-reference', 'entity-comment']) {
      const res = await h.get(`/tr:f-png/${name}.svg`);
      expect({ name, status: res.status }).toEqual({ name, status: 422 });
      expect(res.headers.get('x-afterimage-error')).toMatch(/^ELIMIT - The SVG declares .*; afterimage cannot bound what drawing it would cost$/);
    }
    // An included document shares the including one's entities in librsvg: not scanned alone, refused.
    expect((await h.get('/tr:f-png/xinclude.svg')).headers.get('x-afterimage-error')).toBe('ELIMIT - The SVG uses XInclude; afterimage cannot bound what drawing it would cost');
    // libxml2 refuses a reference to an undeclared entity itself; the scan does too, should it ever recover.
    await expect(svgEmbeds(files['undeclared.svg'], DEFAULT_LIMITS)).rejects.toThrow(/^The SVG uses an entity it does not declare \(&d;\)/);
    const small = await h.get('/tr:w-10,f-png/small.svg');
    expect(small.status).toBe(200);
    // The embedded image is really drawn: grey, not the transparent nothing of a skipped one.
    const { data } = await sharp(small.body).raw().toBuffer({ resolveWithObject: true });
    expect([...data.subarray(0, 4)]).toEqual([0x77, 0x77, 0x77, 255]);
  });

  it('only plain entities are expanded, to at most eight times the file: a billion laughs stops at once', async () => {
    // sharp's own loader refuses this file before a render; the scan must stop too, not build 3 GB of text.
    expect((await h.get('/tr:f-png/laughs.svg')).status).toBe(422);
    const started = Date.now();
    await expect(svgEmbeds(files['laughs.svg'], DEFAULT_LIMITS)).rejects.toThrow(/^The SVG declares more than plain entities in its DOCTYPE \(<!ENTITY lol1 "&lol0;/);
    const wide = svgWith(`<text>${'&a;'.repeat(1000)}</text>`, `<!DOCTYPE svg [<!ENTITY a "${'x'.repeat(10_000)}">]>`);
    await expect(svgEmbeds(wide, DEFAULT_LIMITS)).rejects.toThrow(/^The SVG declares entities that expand to more than \d+ characters/);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('hostile text costs the scan linear time: repeated signatures are refused, repeated data: read once each', async () => {
    const started = Date.now();
    const signatures = svgWith(`<desc>${'%FF%D8'.repeat(40_000)}</desc>`);
    await expect(svgEmbeds(signatures, DEFAULT_LIMITS)).rejects.toThrow(/^The SVG holds more than 64 percent-escaped image signatures/);
    const prefixes = svgWith(`<desc>${'data:'.repeat(40_000)},${'A'.repeat(1_000_000)}</desc>`);
    expect((await svgEmbeds(prefixes, DEFAULT_LIMITS)).pixels).toBe(0);
    const declarations = svgWith('<rect/>', `<!DOCTYPE svg [<!ENTITY z "]">${Array.from({ length: 20_000 }, (_, i) => `<!ENTITY a${i} "x">`).join('')}]>`);
    expect((await svgEmbeds(declarations, DEFAULT_LIMITS)).pixels).toBe(0);
    expect(Date.now() - started).toBeLessThan(5000); // quadratic, the first two took 8.5 s and (with a long body) minutes
  });

  it('within the pixel limit, the decoded images are held to the memory budget', async () => {
    const config = parseConfig({ origins: [s3Origin(h.s3, { name: 'main', bucket: EMBED_BUCKET })], limits: { memoryBudgetMB: 140, originalCacheMB: 0 } });
    const res = await new ImageService(config).handle(get('/tr:f-png/plain.svg'));
    expect(res.status).toBe(422);
    expect(res.headers['x-afterimage-error']).toMatch(/^ELIMIT - This request is over the cost limits: the 1200000 pixels of the images it embeds, would need about 141 MB at peak; the budget is 140 MB/);
  });
});

describe('1 and 5. Renders are capped per process and queued; a client that leaves takes its work along', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await harnessWith({ maxConcurrentRenders: 1, maxQueuedRenders: 2, requestTimeoutMs: 15_000, maxSvgPixels: HOSTILE_SIZE ** 2 });
  });
  afterAll(() => h.close());

  /** Occupies the one render slot for about a second (its own deadline, then sharp's timeout). */
  async function occupySlot(): Promise<Promise<unknown>> {
    const busy = h.service.handle(get('/tr:f-png/hostile.svg'), { timeoutMs: 500 });
    await until(() => h.service.renderSlots.load.running === 1, 5000, 'the hostile render holds the slot');
    return busy;
  }

  it('renders past the cap wait their turn; a full queue is a 503 EBUSY at once, never cached', async () => {
    const busy = await occupySlot();
    const queued = [h.get('/tr:w-200/photo.jpg'), h.get('/tr:w-201/photo.jpg')];
    await until(() => h.service.renderSlots.load.waiting === 2, 5000, 'two requests wait');
    const refused = await h.get('/tr:w-202/photo.jpg');
    expect(refused.status).toBe(503);
    expect(refused.headers.get('x-afterimage-error')).toMatch(/^EBUSY - The server is busy: 1 renders are running and 2 waiting \(limits\.maxConcurrentRenders, limits\.maxQueuedRenders\)/);
    expect(refused.headers.get('cache-control')).toBe('no-store');
    expect(h.service.renderSlots.load.running).toBe(1);
    expect((await busy as { status: number }).status).toBe(503);
    // Once the slot is free, the queue is served in order, within its own deadline.
    expect((await Promise.all(queued)).map((r) => r.status)).toEqual([200, 200]);
    await until(() => h.service.renderSlots.load.running === 0, 5000, 'every render has ended');
  });

  it('a request whose client disconnects while it waits leaves the queue and is never rendered', async () => {
    const busy = await occupySlot();
    const client = new AbortController();
    const leaving = fetch(`${h.baseUrl}/tr:w-300/photo.jpg`, { signal: client.signal }).catch((e: Error) => e.name);
    await until(() => h.service.renderSlots.load.waiting === 1, 5000, 'the request waits');
    client.abort();
    expect(await leaving).toBe('AbortError');
    await until(() => h.service.renderSlots.load.waiting === 0, 2000, 'the request has left the queue');
    // Still the hostile render only: the request that left never took the slot.
    expect(h.service.renderSlots.load.running).toBe(1);
    await busy;
    await until(() => h.service.renderSlots.load.running === 0, 5000, 'every render has ended');
  });

  it('the service answers at once for a caller whose signal has aborted', async () => {
    const res = await h.service.handle(get('/tr:w-100/photo.jpg'), { signal: AbortSignal.abort() });
    expect(res.status).toBe(503);
    expect(res.headers['x-afterimage-error']).toMatch(/^EABORTED - /);
  });
});

describe('5. One origin call per object, not per request', () => {
  let proxy: FaultProxy;
  let h: Harness;
  let s3Endpoint = '';
  beforeAll(async () => {
    proxy = await startFaultProxy(() => s3Endpoint);
    h = await startHarness({
      buckets: [BUCKET],
      config: (s3) => {
        s3Endpoint = s3.endpoint;
        // Sharing alone: the cache of originals below it (its own tests) is off.
        return { origins: [s3Origin(s3, { name: 'main', bucket: BUCKET, endpoint: proxy.endpoint })], limits: { originRetries: 0, originalCacheMB: 0 } };
      },
      seed,
    });
  });
  afterAll(async () => {
    await h.close();
    await proxy.close();
  });
  beforeEach(() => {
    proxy.clear();
    // Every GET is held a moment, so the whole burst arrives while the first one is in flight.
    proxy.setRules([{ fault: 'slow', delayMs: 300 }]);
  });

  const gets = (key: string) => proxy.requests.filter((r) => r.method === 'GET' && !r.list && r.key === key).length;

  it('20 concurrent requests for one uncached image make one GET, and all are answered', async () => {
    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => h.get(`/tr:w-${100 + i}/photo.jpg`)));
    expect(answers.map((a) => a.status)).toEqual(Array(20).fill(200));
    expect(await decode(answers[19].body)).toMatchObject({ width: 119 });
    expect(gets('photo.jpg')).toBe(1);
  });

  it('the outcome is shared, errors too, and nothing is kept once it settles', async () => {
    const missing = await Promise.all(Array.from({ length: 10 }, () => h.get('/nowhere.jpg')));
    expect(missing.map((a) => a.status)).toEqual(Array(10).fill(404));
    expect(gets('nowhere.jpg')).toBe(1);

    proxy.setRules([{ fault: 'denied', delayMs: 300 }]);
    const refused = await Promise.all(Array.from({ length: 10 }, () => h.get('/tr:w-50/photo.jpg')));
    expect(refused.map((a) => a.status)).toEqual(Array(10).fill(502));
    expect(new Set(refused.map((a) => a.headers.get('x-afterimage-error'))).size).toBe(1);
    expect(gets('photo.jpg')).toBe(1);

    // Not a cache: the next request asks again, and sees the origin as it is now.
    proxy.setRules([]);
    expect((await h.get('/tr:w-50/photo.jpg')).status).toBe(200);
    expect(gets('photo.jpg')).toBe(2);
  });
});
