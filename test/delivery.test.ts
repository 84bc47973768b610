// README "Output" and "Decisions and details" end to end: real s3rver, real HTTP, outputs decoded by sharp.

import sharp from 'sharp';
import { decode, s3Origin, solidImage, startHarness, type Harness } from '../tools/harness';

const BUCKET = 'delivery';
let h: Harness;
let landscape: Buffer;

beforeAll(async () => {
  landscape = await sharp({ create: { width: 1200, height: 800, channels: 3, background: { r: 200, g: 40, b: 40 } } })
    .jpeg()
    .toBuffer();
  h = await startHarness({
    buckets: [BUCKET],
    config: (s3) => ({
      origins: [
        s3Origin(s3, { name: 'main', bucket: BUCKET, canonicalBaseUrl: 'https://www.example.com/media/' }),
        s3Origin(s3, { name: 'limited', bucket: BUCKET }),
      ],
      endpoints: [
        { prefix: '', origins: ['main'] },
      ],
      limits: { maxInputPixels: 2_000_000 },
    }),
    seed: async (s3) => {
      await s3.put(BUCKET, 'photos/landscape.jpg', landscape, 'image/jpeg');
      await s3.put(BUCKET, 'photos/alpha.png', await solidImage(300, 200, { r: 0, g: 0, b: 255, alpha: 0.5 }, 'png'), 'image/png');
      await s3.put(BUCKET, 'photos/odd name <1>.jpg', await solidImage(50, 50, { r: 1, g: 2, b: 3 }), 'image/jpeg');
      await s3.put(BUCKET, 'photos/huge.png', await sharp({ create: { width: 2000, height: 1500, channels: 3, background: '#fff' } }).png().toBuffer(), 'image/png');
      // Stored 300x200 with EXIF orientation 6 (rotate 90° clockwise to display): displays as 200x300.
      await s3.put(BUCKET, 'photos/rotated.jpg', await sharp({ create: { width: 300, height: 200, channels: 3, background: '#0a0' } }).jpeg().withMetadata({ orientation: 6 }).toBuffer(), 'image/jpeg');
      await s3.put(BUCKET, 'photos/broken.jpg', Buffer.from('not really a jpeg'), 'image/jpeg');
      // Script in an SVG sharp cannot read, stored with an upper-case type: still sandboxed.
      await s3.put(BUCKET, 'art/nodim.svg', Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'), 'image/SVG+xml');
      await s3.put(BUCKET, 'art/huge.svg', Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="100000" height="100000"><rect width="10" height="10"/></svg>'), 'image/svg+xml');
      await s3.put(BUCKET, 'art/page.png', Buffer.from('<html><script>alert(1)</script></html>'), 'image/png');
      await s3.put(BUCKET, 'docs/manual.pdf', Buffer.from('%PDF-1.4 fake but stored'), 'application/pdf');
      await s3.put(BUCKET, 'art/logo.svg', Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><script>alert(1)</script></svg>'), 'image/svg+xml');
    },
  });
});

afterAll(() => h.close());

describe('3. w, h and c-maintain_ratio', () => {
  it('resizes to a width, keeping the aspect ratio', async () => {
    const res = await h.get('/tr:w-300/photos/landscape.jpg');
    expect(res.status).toBe(200);
    expect(await decode(res.body)).toMatchObject({ width: 300, height: 200, format: 'jpeg' });
  });

  it('resizes to a height, keeping the aspect ratio', async () => {
    expect(await decode((await h.get('/tr:h-100/photos/landscape.jpg')).body)).toMatchObject({ width: 150, height: 100 });
  });

  it('crops to exactly w x h with both given (maintain_ratio)', async () => {
    expect(await decode((await h.get('/tr:w-300,h-300/photos/landscape.jpg')).body)).toMatchObject({ width: 300, height: 300 });
    expect(await decode((await h.get('/tr:w-300,h-300,c-maintain_ratio/photos/landscape.jpg')).body)).toMatchObject({ width: 300, height: 300 });
  });

  it('treats a fraction as a share of the input', async () => {
    expect(await decode((await h.get('/tr:w-0.25/photos/landscape.jpg')).body)).toMatchObject({ width: 300, height: 200 });
  });

  it('accepts the query form and chains steps in order', async () => {
    expect(await decode((await h.get('/photos/landscape.jpg?tr=w-600')).body)).toMatchObject({ width: 600 });
    expect(await decode((await h.get('/tr:w-600/photos/landscape.jpg?tr=w-0.5')).body)).toMatchObject({ width: 300, height: 200 });
  });

  it('answers 400 when a fraction resolves above the output limit', async () => {
    const res = await h.get('/tr:w-600:w-0.5:h-8000/photos/landscape.jpg');
    expect(res.status).toBe(400);
  });
});

describe('3. every image is auto-oriented from its EXIF orientation before any step', () => {
  it('turns an orientation-6 image upright, then resizes the upright image', async () => {
    expect(await decode((await h.get('/tr:f-png/photos/rotated.jpg')).body)).toMatchObject({ width: 200, height: 300 });
    expect(await decode((await h.get('/tr:w-100/photos/rotated.jpg')).body)).toMatchObject({ width: 100, height: 150 });
  });
});

describe('3. q: quality of lossy outputs', () => {
  it('a lower quality gives fewer bytes', async () => {
    const low = await h.get('/tr:q-10,f-jpg/photos/landscape.jpg');
    const high = await h.get('/tr:q-95,f-jpg/photos/landscape.jpg');
    expect(low.body.length).toBeLessThan(high.body.length);
  });
});

describe('4. output format', () => {
  it('f-auto picks AVIF when Accept lists it, with Vary: Accept', async () => {
    const res = await h.get('/tr:w-100/photos/landscape.jpg', { accept: 'image/avif,image/webp,*/*' });
    expect(res.headers.get('content-type')).toBe('image/avif');
    expect((await decode(res.body)).format).toBe('heif');
    expect(res.headers.get('vary')).toBe('Accept');
  });

  it('f-auto picks WebP when Accept lists WebP but not AVIF', async () => {
    const res = await h.get('/tr:w-100/photos/landscape.jpg', { accept: 'image/webp,*/*' });
    expect(res.headers.get('content-type')).toBe('image/webp');
    expect((await decode(res.body)).format).toBe('webp');
  });

  it('f-auto keeps the input format otherwise, still with Vary: Accept', async () => {
    const res = await h.get('/tr:w-100/photos/landscape.jpg', { accept: '*/*' });
    expect(res.headers.get('content-type')).toBe('image/jpeg');
    expect(res.headers.get('vary')).toBe('Accept');
  });

  it('an explicit f- wins over Accept and drops Vary', async () => {
    const res = await h.get('/tr:w-100,f-png/photos/landscape.jpg', { accept: 'image/avif' });
    expect(res.headers.get('content-type')).toBe('image/png');
    expect((await decode(res.body)).format).toBe('png');
    expect(res.headers.get('vary')).toBeNull();
  });

  it('f-orig keeps the input format', async () => {
    const res = await h.get('/tr:f-orig/photos/alpha.png', { accept: 'image/avif' });
    expect(res.headers.get('content-type')).toBe('image/png');
  });

  it('keeps transparency in formats that have it', async () => {
    const res = await h.get('/tr:w-100/photos/alpha.png', { accept: 'image/webp' });
    expect(await decode(res.body)).toMatchObject({ format: 'webp', hasAlpha: true });
  });

  it('serves a large SVG as stored (never rasterised), and applies the pixel limit only when asked to rasterise it', async () => {
    const stored = await h.get('/art/huge.svg', { accept: 'image/avif' });
    expect(stored.status).toBe(200);
    expect(stored.headers.get('content-type')).toBe('image/svg+xml');
    const rasterised = await h.get('/tr:f-png/art/huge.svg');
    expect(rasterised.status).toBe(422);
    expect(rasterised.headers.get('x-afterimage-error')).toMatch(/^ELIMIT - .*limits\.maxInputPixels/);
  });

  it('serves SVG as stored under auto, sandboxed', async () => {
    const res = await h.get('/art/logo.svg', { accept: 'image/avif' });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('image/svg+xml');
    expect(res.headers.get('content-security-policy')).toBe("default-src 'none'; style-src 'unsafe-inline'; sandbox");
  });
});

describe('5. success headers', () => {
  it('carries Content-Type, Content-Length, ETag, Last-Modified, Cache-Control and nosniff', async () => {
    const res = await h.get('/tr:w-100/photos/landscape.jpg');
    expect(res.headers.get('content-length')).toBe(String(res.body.length));
    expect(res.headers.get('etag')).toMatch(/^"[\w-]{20,}"$/);
    expect(new Date(res.headers.get('last-modified')!).getTime()).toBeGreaterThan(Date.now() - 3_600_000);
    // README "Fixing a stale image": CloudFront keeps a year (s-maxage; purge removes it), browsers a day (max-age; nothing reaches them).
    expect(res.headers.get('cache-control')).toBe('public, max-age=86400, s-maxage=31536000, stale-while-revalidate=86400');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
  });

  it('gives a different ETag to a different transformation and negotiated format', async () => {
    const a = (await h.get('/tr:w-100/photos/landscape.jpg', { accept: 'image/webp' })).headers.get('etag');
    const b = (await h.get('/tr:w-101/photos/landscape.jpg', { accept: 'image/webp' })).headers.get('etag');
    const c = (await h.get('/tr:w-100/photos/landscape.jpg', { accept: 'image/avif' })).headers.get('etag');
    expect(new Set([a, b, c]).size).toBe(3);
  });

  it('answers 304 with no body when If-None-Match matches', async () => {
    const first = await h.get('/tr:w-100/photos/landscape.jpg', { accept: 'image/webp' });
    const etag = first.headers.get('etag')!;
    const again = await h.get('/tr:w-100/photos/landscape.jpg', { accept: 'image/webp', 'if-none-match': `W/"x", ${etag}` });
    expect(again.status).toBe(304);
    expect(again.body.length).toBe(0);
    expect(again.headers.get('etag')).toBe(etag);
  });

  // A cache refreshes a stored response's headers from the 304 (RFC 9111 4.3.4): the 304 must
  // not drop one, least of all the sandbox of an SVG.
  const REVALIDATED_HEADERS = ['etag', 'cache-control', 'last-modified', 'vary', 'link', 'content-security-policy', 'x-content-type-options'];
  it.each([
    ['an SVG kept as SVG', '/art/logo.svg'],
    ['a file sharp cannot read', '/art/nodim.svg'],
    ['a non-image', '/docs/manual.pdf'],
    ['a rendered image', '/tr:w-100/photos/landscape.jpg'],
    ['an original', '/tr:orig-true/photos/landscape.jpg'],
  ])('a 304 for %s carries the headers of its 200', async (_, path) => {
    const first = await h.get(path, { accept: 'image/avif' });
    expect(first.status).toBe(200);
    const again = await h.get(path, { accept: 'image/avif', 'if-none-match': first.headers.get('etag')! });
    expect(again.status).toBe(304);
    expect(again.body.length).toBe(0);
    const pick = (headers: Headers) => Object.fromEntries(REVALIDATED_HEADERS.map((name) => [name, headers.get(name)]));
    expect(pick(again.headers)).toEqual(pick(first.headers));
  });

  it('answers HEAD like GET without a body', async () => {
    const get = await h.get('/tr:w-100/photos/landscape.jpg', { accept: 'image/webp' });
    const head = await h.get('/tr:w-100/photos/landscape.jpg', { accept: 'image/webp' }, 'HEAD');
    expect(head.status).toBe(200);
    expect(head.body.length).toBe(0);
    expect(head.headers.get('content-length')).toBe(get.headers.get('content-length'));
    expect(head.headers.get('etag')).toBe(get.headers.get('etag'));
  });

  it('adds the canonical Link, percent-encoded so it cannot break the header', async () => {
    const res = await h.get('/tr:w-10/photos/odd%20name%20%3C1%3E.jpg?x=1');
    expect(res.status).toBe(200);
    expect(res.headers.get('link')).toBe('<https://www.example.com/media/photos/odd%20name%20%3C1%3E.jpg>; rel="canonical"');
  });

  it('sandboxes whatever sharp cannot read, whatever its stored type says', async () => {
    for (const path of ['/art/nodim.svg', '/art/page.png']) {
      const res = await h.get(path);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-security-policy')).toBe("default-src 'none'; style-src 'unsafe-inline'; sandbox");
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    }
  });

  it('serves a stored file that is not an image as stored, sandboxed', async () => {
    const res = await h.get('/docs/manual.pdf', { accept: 'image/avif' });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/pdf');
    expect(res.body.toString()).toBe('%PDF-1.4 fake but stored');
    expect(res.headers.get('content-security-policy')).toMatch(/sandbox/);
    expect(res.headers.get('vary')).toBeNull();
  });
});

describe('5. errors', () => {
  function expectError(res: { status: number; headers: Headers; body: Buffer }, status: number, code: string) {
    expect(res.status).toBe(status);
    expect(res.headers.get('x-afterimage-error')).toMatch(new RegExp(`^${code} - `));
    expect(res.headers.get('content-type')).toBe('text/plain; charset=utf-8');
    expect(res.headers.get('cache-control')).toBe(status >= 500 ? 'no-store' : 'public, max-age=60');
    expect(res.body.toString()).not.toMatch(/\bat .*\.(ts|js):\d+/); // never a stack trace
  }

  it('400 for a bad transformation, naming it', async () => {
    const res = await h.get('/tr:w-abc/photos/landscape.jpg');
    expectError(res, 400, 'EINVAL');
    expect(res.body.toString()).toMatch(/^Invalid transformation "w-abc": w must be/);
  });

  it('400 for a bad path', async () => {
    expectError(await h.get('/photos/%2e%2e%2Fsecret.jpg'), 400, 'EINVAL');
  });

  it('404 when no origin has the file', async () => {
    expectError(await h.get('/photos/missing.jpg'), 404, 'ENOENT');
  });

  it('405 for other methods', async () => {
    const res = await h.get('/photos/landscape.jpg', {}, 'DELETE');
    expectError(res, 405, 'EMETHOD');
  });

  it('422 for a stored file that is not an image while a transformation is asked for', async () => {
    expectError(await h.get('/tr:w-10/docs/manual.pdf'), 422, 'EUNREADABLE');
    expectError(await h.get('/tr:w-10/photos/broken.jpg'), 422, 'EUNREADABLE');
  });

  it('422 for an input over the pixel limit, naming the limit', async () => {
    const res = await h.get('/tr:w-10/photos/huge.png');
    expectError(res, 422, 'ELIMIT');
    expect(res.body.toString()).toMatch(/limits\.maxInputPixels/);
  });
});

describe('5. input over the byte limit', () => {
  let small: Harness;
  beforeAll(async () => {
    small = await startHarness({
      buckets: ['bytes'],
      config: (s3) => ({ origins: [s3Origin(s3, { name: 'bytes', bucket: 'bytes' })], limits: { maxInputBytes: 1000 } }),
      seed: async (s3) => {
        await s3.put('bytes', 'big.png', await sharp({ create: { width: 64, height: 64, channels: 3, background: '#000', noise: { type: 'gaussian', mean: 128, sigma: 60 } } }).png().toBuffer(), 'image/png');
        await s3.put('bytes', 'tiny.png', await solidImage(4, 4, { r: 1, g: 1, b: 1 }, 'png'), 'image/png');
      },
    });
  });
  afterAll(() => small.close());

  it('answers 422 ELIMIT naming limits.maxInputBytes, and serves what is under it', async () => {
    const res = await small.get('/tr:w-10/big.png');
    expect(res.status).toBe(422);
    expect(res.headers.get('x-afterimage-error')).toMatch(/^ELIMIT - .*limits\.maxInputBytes/);
    expect((await small.get('/tr:w-2/tiny.png')).status).toBe(200);
  });
});

describe('5. output over the pixel limit (limits.maxOutputPixels), checked before the work', () => {
  let limited: Harness;
  beforeAll(async () => {
    // 30 frames of 300x200: a few KB that would render 30 times whatever size is asked for.
    const [width, height, frames] = [300, 200, 30];
    const data = Buffer.alloc(width * height * frames * 3);
    for (let f = 0; f < frames; f++) data.fill(f * 8, f * width * height * 3, (f + 1) * width * height * 3);
    limited = await startHarness({
      buckets: ['pixels'],
      config: (s3) => ({ origins: [s3Origin(s3, { name: 'pixels', bucket: 'pixels' })], limits: { maxOutputPixels: 2_000_000 } }),
      seed: async (s3) => {
        await s3.put('pixels', 'anim.gif', await sharp(data, { raw: { width, height: height * frames, channels: 3, pageHeight: height } }).gif().toBuffer(), 'image/gif');
        await s3.put('pixels', 'still.png', await solidImage(1000, 1000, { r: 0, g: 128, b: 0 }, 'png'), 'image/png');
      },
    });
  });
  afterAll(() => limited.close());

  async function expectLimit(path: string, message: string) {
    const res = await limited.get(path);
    expect(res.status).toBe(400);
    expect(res.headers.get('x-afterimage-error')).toMatch(/^EINVAL - /);
    expect(res.body.toString().trim()).toBe(`Invalid transformation: the output would be ${message}`);
  }

  it('counts every frame of an animation', async () => {
    await expectLimit('/tr:w-4000,f-gif/anim.gif', '4000x2667 x 30 frames = 320040000 pixels; the limit is 2000000 (limits.maxOutputPixels)');
    await expectLimit('/tr:e-usm-1-0.5-2-0.1:w-8192/anim.gif', '8192x5461 x 30 frames = 1342095360 pixels; the limit is 2000000 (limits.maxOutputPixels)');
    await expectLimit('/tr:w-1000/anim.gif', '1000x667 x 30 frames = 20010000 pixels; the limit is 2000000 (limits.maxOutputPixels)');
  });

  it('serves what is under it: a smaller animation, or one frame', async () => {
    const small = await limited.get('/tr:w-250/anim.gif');
    expect(small.status).toBe(200);
    const meta = await sharp(small.body).metadata();
    expect([meta.format, meta.pages, meta.width, meta.height]).toEqual(['gif', 30, 250, 167]);
    const frame = await limited.get('/tr:w-1000,f-png/anim.gif');
    expect(frame.status).toBe(200);
    expect(await decode(frame.body)).toMatchObject({ format: 'png', width: 1000, height: 667 });
  });

  it('checks the canvas a rotation grows to before rotating', async () => {
    // 1000x1000 turned 45° is 1414x1414 (1999396 pixels); 1001x1001 is 1416x1416.
    expect((await limited.get('/tr:rt-45,f-png/still.png')).status).toBe(200);
    await expectLimit('/tr:w-1001,h-1001,rt-45/still.png', '1416x1416 = 2005056 pixels; the limit is 2000000 (limits.maxOutputPixels)');
  });
});
