// README "Fixing a stale image", end to end: a viewer URL goes through the CloudFront Function (its
// deployed code, run as CloudFront runs it), and the rewritten request (image-first URI, kept query,
// the function's headers) goes to the real local service over HTTP, as CloudFront would forward
// it. The answer must be the bytes the viewer URL gets without CloudFront, and a signed URL must
// still verify against what the viewer signed (and fail when tampered with).

import { CANONICAL_HEADER, invalidationPathOf } from '../lambda/request/cache-key';
import { signUrl } from '../lambda/request/signature';
import { type EdgeRequest, loadViewerRequest } from '../lib/edge/viewer-request-code';
import { viewerRequestCode } from '../lib/image-delivery';
import { decode, s3Origin, solidImage, startHarness, type Harness } from '../tools/harness';
import { EMBEDDED_KEYS } from '../local/embedded-s3';

const KEY = 'e2e-private-key';
const BACKUP = 'backup';
let h: Harness;
let edge: ReturnType<typeof loadViewerRequest>;

beforeAll(async () => {
  h = await startHarness({
    buckets: ['media', BACKUP],
    config: (s3) => ({
      origins: [
        s3Origin(s3, { name: 'media', bucket: 'media' }),
        { name: 'cld', type: 'cloudinary-backup', bucket: BACKUP, folder: '/res/demo/', endpoint: s3.endpoint, credentials: { source: 'static', ...EMBEDDED_KEYS }, exactVersions: true },
      ],
      endpoints: [
        { prefix: '', origins: ['media'] },
        { prefix: 'private', origins: ['media'], requireSignedUrls: true },
        { prefix: 'sized', origins: ['media'], widths: [100, 200] },
        { prefix: 'demo', origins: ['cld'], cloudinaryUrls: true },
      ],
      namedTransformations: { thumb: 'w-40,h-40' },
      output: { versionedCacheControl: 'public, max-age=604800, immutable' },
    }),
    seed: async (s3) => {
      await s3.put('media', 'products/shoe.jpg', await solidImage(300, 200, { r: 200, g: 30, b: 30 }), 'image/jpeg');
      await s3.put('media', 'products/café @2x.png', await solidImage(120, 80, { r: 30, g: 30, b: 200 }, 'png'), 'image/png');
      await s3.put(BACKUP, 'res/demo/image/upload/products/sneaker/1600000000.jpg', await solidImage(90, 60, { r: 10, g: 10, b: 10 }), 'image/jpeg');
      await s3.put(BACKUP, 'res/demo/image/upload/products/sneaker/1700000000.jpg', await solidImage(90, 60, { r: 10, g: 200, b: 10 }), 'image/jpeg');
    },
    deps: { signingKey: () => KEY },
  });
  edge = loadViewerRequest(viewerRequestCode(h.service.config));
}, 60_000);

afterAll(() => h?.close());

/** The request CloudFront sends to the origin for a viewer URL: the function's URI, query and headers. */
function forwarded(url: string, accept: string): { path: string; headers: Record<string, string> } {
  const q = url.indexOf('?');
  const querystring: EdgeRequest['querystring'] = {};
  if (q >= 0) {
    for (const pair of url.slice(q + 1).split('&')) {
      const eq = pair.indexOf('=');
      querystring[pair.slice(0, eq)] = { value: pair.slice(eq + 1) };
    }
  }
  const out = edge({ request: { uri: q >= 0 ? url.slice(0, q) : url, querystring, headers: { accept: { value: accept } } } });
  const query = Object.entries(out.querystring).map(([k, v]) => `${k}=${v.value}`).join('&');
  const headers = Object.fromEntries(Object.entries(out.headers).map(([k, v]) => [k, v.value]));
  return { path: out.uri + (query ? `?${query}` : ''), headers };
}

const CHROME = 'image/avif,image/webp,image/apng,image/*,*/*;q=0.8';

describe('the image-first URI serves what the viewer URL serves', () => {
  it.each([
    ['/products/shoe.jpg', '/products/shoe.jpg/!*'],
    ['/tr:w-150/products/shoe.jpg', '/products/shoe.jpg/!*'],
    ['/products/shoe.jpg?tr=w-120,h-120,rt-90', '/products/shoe.jpg/!*'],
    ['/tr:w-150:bl-2/products/shoe.jpg?tr=f-png', '/products/shoe.jpg/!*'],
    ['/tr:n-thumb/products/shoe.jpg', '/products/shoe.jpg/!*'],
    ['/tr:w-50/products/caf%C3%A9%20%402x.png', '/products/caf%C3%A9%20@2x.png/!*'],
    ['/tr:w-50/products%2Fshoe.jpg', '/products/shoe.jpg/!*'],
    ['/sized/tr:w-150/products/shoe.jpg', '/sized/products/shoe.jpg/!*'],
    ['/demo/image/upload/products/sneaker.jpg', '/demo/image/upload/products/sneaker.jpg/!*'],
    ['/demo/image/upload/c_fill,w_40,h_40/v1700000000/products/sneaker.jpg', '/demo/image/upload/products/sneaker.jpg/!*'],
    ['/demo/image/upload/v1600000000/products/sneaker.jpg', '/demo/image/upload/products/sneaker.jpg/!*'],
    ['/demo/tr:w-30/image/upload/e_grayscale/products/sneaker.jpg', '/demo/image/upload/products/sneaker.jpg/!*'],
  ])('%s (invalidated by %s)', async (url, invalidation) => {
    for (const accept of [CHROME, 'image/webp', '*/*']) {
      const direct = await h.get(url, { accept });
      const viaCloudFront = forwarded(url, accept);
      expect(viaCloudFront.headers[CANONICAL_HEADER]).toBe('1');
      expect(invalidationPathOf(viaCloudFront.path.split('?')[0])).toBe(invalidation);
      const answer = await h.get(viaCloudFront.path, viaCloudFront.headers);
      expect([url, accept, direct.status]).toEqual([url, accept, 200]);
      expect([url, accept, answer.status, answer.headers.get('content-type'), answer.headers.get('etag')]).toEqual([
        url,
        accept,
        200,
        direct.headers.get('content-type'),
        direct.headers.get('etag'),
      ]);
      expect(answer.body.equals(direct.body)).toBe(true);
    }
  });

  test("the request's record (the log line) names the viewer's URL, not the image-first rewrite", async () => {
    const viaCloudFront = forwarded('/tr:w-150/products/shoe.jpg?tr=q-50', '*/*');
    const [path, query = ''] = viaCloudFront.path.split('?');
    const { record } = await h.service.serve({ method: 'GET', rawPath: path, rawQuery: query, headers: viaCloudFront.headers });
    expect(record.url).toBe('/tr:w-150/products/shoe.jpg?tr=q-50');
  });

  test('widths snapped at the edge render the listed width', async () => {
    const answer = await h.get(forwarded('/sized/tr:w-150/products/shoe.jpg', '*/*').path, forwarded('/sized/tr:w-150/products/shoe.jpg', '*/*').headers);
    expect((await decode(answer.body)).width).toBe(200);
  });

  test('errors are the same errors: a bad chain, a missing image', async () => {
    for (const url of ['/tr:w-abc/products/shoe.jpg', '/tr:w-10/products/nope.jpg', '/demo/image/upload/c_nonsense/v1/products/sneaker.jpg', '/demo/image/upload/foo_bar/v1/products/sneaker.jpg', '/demo/image/upload/w_/v1/products/sneaker.jpg']) {
      const direct = await h.get(url);
      const via = forwarded(url, '*/*');
      const answer = await h.get(via.path, via.headers);
      expect([url, answer.status, answer.headers.get('x-afterimage-error')]).toEqual([url, direct.status, direct.headers.get('x-afterimage-error')]);
    }
  });
});

describe('signed URLs verify against what the viewer signed', () => {
  const sign = (path: string, expires?: number) => signUrl(`https://cdn.example.com/private/${path}`, 'https://cdn.example.com/private/', KEY, expires).slice('https://cdn.example.com'.length);

  it.each([
    'tr:w-100/products/shoe.jpg',
    'products/shoe.jpg?tr=w-80',
    'tr:w-50/products/caf%C3%A9%20%402x.png',
    'tr:w-50/products/caf%c3%a9%20@2x.png',
  ])('%s is served through the edge, and refused when tampered with', async (path) => {
    const url = sign(path, Math.floor(Date.now() / 1000) + 3600);
    const via = forwarded(url, CHROME);
    expect(via.path.startsWith('/private/products/')).toBe(true);
    const answer = await h.get(via.path, via.headers);
    expect([path, answer.status, answer.headers.get('x-afterimage-error')]).toEqual([path, 200, null]);
    expect(answer.body.equals((await h.get(url, { accept: CHROME })).body)).toBe(true);

    for (const tampered of [url.replace(/w-(\d+)/, 'w-1$1'), url.replace(/ik-s=[0-9a-f]/, 'ik-s=x'), url.replace(/ik-t=\d/, 'ik-t=9')]) {
      const t = forwarded(tampered, CHROME);
      const refused = await h.get(t.path, t.headers);
      expect([tampered, refused.status, refused.headers.get('x-afterimage-error')?.slice(0, 10)]).toEqual([tampered, 401, 'ESIGNATURE']);
    }
  });

  test('an unsigned request for the same URL is a 401, under its own cache key', async () => {
    const via = forwarded('/private/tr:w-100/products/shoe.jpg', CHROME);
    const signedVia = forwarded(sign('tr:w-100/products/shoe.jpg'), CHROME);
    expect(via.path).not.toBe(signedVia.path);
    expect((await h.get(via.path, via.headers)).status).toBe(401);
    expect((await h.get(signedVia.path, signedVia.headers)).status).toBe(200);
  });
});

describe('Cache-Control: CloudFront keeps what purge can reach, browsers what it cannot', () => {
  test('an image: a year at CloudFront (s-maxage), a day in browsers (max-age)', async () => {
    const via = forwarded('/tr:w-100/products/shoe.jpg', CHROME);
    expect((await h.get(via.path, via.headers)).headers.get('cache-control')).toBe('public, max-age=86400, s-maxage=31536000, stale-while-revalidate=86400');
  });

  test('a Cloudinary version served exactly: output.versionedCacheControl (configured here), since those bytes never change', async () => {
    const exact = forwarded('/demo/image/upload/v1600000000/products/sneaker.jpg', CHROME);
    expect((await h.get(exact.path, exact.headers)).headers.get('cache-control')).toBe('public, max-age=604800, immutable');
    const latest = forwarded('/demo/image/upload/products/sneaker.jpg', CHROME);
    expect((await h.get(latest.path, latest.headers)).headers.get('cache-control')).toMatch(/^public, max-age=86400, s-maxage=31536000/);
  });
});
