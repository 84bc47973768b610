// README "The cache of originals", for web and Cloudinary origins: a srcset burst costs one
// upstream GET; past cache.originalTtlSeconds an entry is revalidated with a conditional GET under
// the origin's own rules (secret headers, redirects, address policy); the upstream's
// Cache-Control is respected; one byte budget for S3 and web originals. The upstreams are real
// node:http servers on loopback that answer preconditions as RFC 9110 §13 says and record every
// answer; the S3 server is a real s3rver behind a counting proxy; images are made by sharp.

import { HeadObjectCommand } from '@aws-sdk/client-s3';
import type { IncomingMessage, ServerResponse } from 'node:http';
import sharp from 'sharp';
import { parseConfig, type AfterimageConfigInput } from '../lambda/config';
import { refusedRange } from '../lambda/origin/address-policy';
import { ENTRY_FRACTION, OriginalCache } from '../lambda/origin/original-cache';
import { ImageService, type ServiceResponse } from '../lambda/service/image-service';
import { startEmbeddedS3, type EmbeddedS3 } from '../local/embedded-s3';
import { decode, s3Origin, solidImage } from '../tools/harness';
import { GREEN, RED, expectColour } from './helpers/cloudinary-fixture';
import { startFaultProxy, type FaultProxy } from './helpers/fault-proxy';
import { headerReads } from './helpers/header-reads';
import { redirect, selfSignedCertificate, startWebServer, status, type WebServer } from './helpers/web-server';

const BUCKET = 'originals';
const WIDTHS = [320, 640, 960, 1280, 1920];
const TTL_SECONDS = 10;

/** A file on the upstream: its bytes and the headers it is served with (ETag, Last-Modified, Cache-Control…). Tests change it in place. */
interface UpstreamFile {
  body: Buffer;
  headers: Record<string, string>;
}

/** What the upstream answered one request with. */
interface Answer {
  path: string;
  status: number;
  bodyBytes: number;
  ifNoneMatch?: string;
  ifModifiedSince?: string;
  authorization?: string;
}

let web: WebServer;
/** https, with a certificate for images.example.org that the origins' transport trusts (fetch URLs are https only). */
let secure: WebServer;
let tls: { key: string; cert: string };
let s3: EmbeddedS3;
/** In front of the S3 server: counts the reads of S3 origins and the writes of copies. */
let s3Proxy: FaultProxy;
let answers: Answer[] = [];
let now = 1_000_000;
/** Test DNS for the origin that goes by name (its answer changes in one test). */
const names: Record<string, string[]> = {};

/** The upstream's answer, as a server honouring preconditions gives it (RFC 9110 §13.2.2: If-None-Match first, If-Modified-Since only without it). */
function conditional(file: UpstreamFile) {
  return (req: IncomingMessage, res: ServerResponse) => {
    const { etag, 'last-modified': lastModified } = file.headers;
    const ifNoneMatch = req.headers['if-none-match'];
    const ifModifiedSince = req.headers['if-modified-since'];
    const unchanged = ifNoneMatch !== undefined
      ? etag !== undefined && ifNoneMatch.split(',').map((t) => t.trim()).includes(etag)
      : ifModifiedSince !== undefined && lastModified !== undefined && Date.parse(lastModified) <= Date.parse(ifModifiedSince);
    const body = unchanged ? Buffer.alloc(0) : file.body;
    answers.push({ path: (req.url ?? '').split('?')[0], status: unchanged ? 304 : 200, bodyBytes: body.length, ifNoneMatch, ifModifiedSince, authorization: req.headers.authorization });
    res.writeHead(unchanged ? 304 : 200, unchanged ? file.headers : { 'content-type': 'image/jpeg', 'content-length': body.length, ...file.headers });
    res.end(body);
  };
}

/** Serves `file` at `path` on the upstream, and returns it (to change later). */
function serve(path: string, file: UpstreamFile, server = web): UpstreamFile {
  server.routes.set(path, conditional(file));
  return file;
}

const upstream = (path: string) => answers.filter((a) => a.path === path);

beforeAll(async () => {
  web = await startWebServer();
  tls = selfSignedCertificate('images.example.org');
  secure = await startWebServer(tls);
  s3 = await startEmbeddedS3([BUCKET]);
  s3Proxy = await startFaultProxy(s3.endpoint);
});

afterAll(async () => {
  await web.close();
  await secure.close();
  await s3Proxy.close();
  await s3.close();
});

beforeEach(() => {
  answers = [];
  s3Proxy.setRules([]);
  s3Proxy.clear();
  names['origin.example.test'] = ['127.0.0.1'];
  names['images.example.org'] = ['127.0.0.1'];
});

/** A service on the test's clock, over the test upstream and the S3 server. */
function service(input: Partial<AfterimageConfigInput> = {}): ImageService {
  const loopback = { allowHttp: true, allowPrivateNetwork: true };
  const media = `${web.url}/media`;
  return new ImageService(
    parseConfig({
      origins: [
        { type: 'web', name: 'web', baseUrl: media, ...loopback },
        { type: 'web', name: 'web-auth', baseUrl: media, secretHeaders: { Authorization: 'webAuthorization' }, ...loopback },
        // The production address policy, except that the test server's loopback address counts as public.
        { type: 'web', name: 'web-by-name', baseUrl: `http://origin.example.test:${web.port}/media`, allowHttp: true },
        { type: 'cloudinary', name: 'cloudinary-live', cloud: 'demo', deliveryHost: `127.0.0.1:${web.port}`, ...loopback },
        s3Origin(s3Proxy, { name: 'primary', bucket: BUCKET }),
        { type: 'web', name: 'web-copy', baseUrl: media, copyTo: 'primary', ...loopback },
      ],
      endpoints: [
        { prefix: '', origins: ['web'] },
        { prefix: '/auth', origins: ['web-auth'] },
        { prefix: '/by-name', origins: ['web-by-name'] },
        { prefix: '/demo', origins: ['cloudinary-live'], cloudinaryUrls: true },
        { prefix: '/s3', origins: ['primary'] },
        { prefix: '/copy', origins: ['primary', 'web-copy'] },
        { prefix: '/fetch', origins: ['primary'], cloudinaryUrls: true, fetchAllowedHosts: [`images.example.org:${secure.port}`], fetchAllowPrivateNetwork: true },
      ],
      cache: { originalTtlSeconds: TTL_SECONDS },
      ...input,
    }),
    {
      now: () => now,
      originHeaders: async (field) => (field === 'webAuthorization' ? 'Bearer s3cret' : undefined),
      webTransport: {
        resolve: async (name) => (names[name] ?? []).map((address) => ({ address, family: 4 })),
        refusedRange: (address) => (address === '127.0.0.1' ? undefined : refusedRange(address)),
        ca: tls.cert,
      },
    },
  );
}

function get(images: ImageService, path: string): Promise<ServiceResponse> {
  return images.handle({ method: 'GET', rawPath: path, rawQuery: '', headers: {} });
}

/** Five widths of one original, one after another (a srcset burst). */
async function burst(images: ImageService, url: (width: number) => string): Promise<ServiceResponse[]> {
  const responses: ServiceResponse[] = [];
  for (const width of WIDTHS) responses.push(await get(images, url(width)));
  return responses;
}

const jpeg = (colour = RED) => solidImage(1000, 650, colour);

/** Noise (it barely compresses), so the stored file is about `side`² × 3 bytes at quality 100. */
function noiseJpeg(side: number): Promise<Buffer> {
  return sharp({ create: { width: side, height: side, channels: 3, background: { r: 0, g: 0, b: 0 }, noise: { type: 'gaussian', mean: 128, sigma: 80 } } })
    .jpeg({ quality: 100 })
    .toBuffer();
}

describe('a srcset burst from a web origin costs one upstream GET', () => {
  it('five widths one after another: one GET, five renders', async () => {
    serve('/media/burst/one.jpg', { body: await jpeg(), headers: { etag: '"one"' } });
    const responses = await burst(service(), (w) => `/tr:w-${w},f-jpg/burst/one.jpg`);
    expect(responses.map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
    expect(await Promise.all(responses.map(async (r) => (await decode(r.body)).width))).toEqual(WIDTHS);
    expect(upstream('/media/burst/one.jpg').map((a) => a.status)).toEqual([200]);
  });

  it('from a Cloudinary origin too: one GET of the original', async () => {
    serve('/image/upload/v1/shop/burst', { body: await jpeg(), headers: { etag: '"cld"' } });
    const responses = await burst(service(), (w) => `/demo/image/upload/w_${w},f_jpg/shop/burst.jpg`);
    expect(responses.map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
    expect(await Promise.all(responses.map(async (r) => (await decode(r.body)).width))).toEqual(WIDTHS);
    expect(upstream('/image/upload/v1/shop/burst')).toHaveLength(1);
  });

  it('from a Cloudinary fetch URL too (the remote URL, per endpoint); revalidated with a 304', async () => {
    serve('/pics/burst.jpg', { body: await jpeg(), headers: { etag: '"remote"' } }, secure);
    const images = service();
    const url = (w: number) => `/fetch/image/fetch/w_${w},f_jpg/https://images.example.org:${secure.port}/pics/burst.jpg`;
    const responses = await burst(images, url);
    expect(await Promise.all(responses.map(async (r) => (await decode(r.body)).width))).toEqual(WIDTHS);
    expect(upstream('/pics/burst.jpg')).toHaveLength(1);
    now += TTL_SECONDS * 1000;
    expect((await get(images, url(320))).status).toBe(200);
    expect(upstream('/pics/burst.jpg').map((a) => [a.status, a.bodyBytes > 0, a.ifNoneMatch])).toEqual([[200, true, undefined], [304, false, '"remote"']]);
  });

  it("each request's record says whether the cache answered", async () => {
    serve('/media/burst/recorded.jpg', { body: await jpeg(), headers: { etag: '"r"' } });
    const images = service();
    const served = [];
    for (const w of WIDTHS.slice(0, 3)) served.push(await images.serve({ method: 'GET', rawPath: `/tr:w-${w}/burst/recorded.jpg`, rawQuery: '', headers: {} }));
    expect(served.map((s) => [s.record.origin, s.record.originalsCache])).toEqual([['web', 'miss'], ['web', 'hit'], ['web', 'hit']]);
    expect(served[1].record.timings.fetch).toBe(0);
  });

  it('with the cache turned off (limits.originalCacheMB 0), one GET a width, where it is one GET on', async () => {
    serve('/media/burst/uncached.jpg', { body: await jpeg(), headers: { etag: '"u"' } });
    await burst(service({ limits: { originalCacheMB: 0 } }), (w) => `/tr:w-${w}/burst/uncached.jpg`);
    expect(upstream('/media/burst/uncached.jpg').map((a) => a.status)).toEqual([200, 200, 200, 200, 200]);
    await burst(service(), (w) => `/tr:w-${w}/burst/uncached.jpg`);
    expect(upstream('/media/burst/uncached.jpg')).toHaveLength(6);
  });
});

describe('past cache.originalTtlSeconds, a conditional GET to the upstream', () => {
  it('an unchanged file: one request with If-None-Match, answered 304 without a body; the same bytes; trusted for another TTL', async () => {
    const path = '/media/fresh/same.jpg';
    serve(path, { body: await jpeg(), headers: { etag: '"same"', 'last-modified': 'Tue, 14 Nov 2023 22:13:20 GMT' } });
    const images = service();
    const first = await get(images, '/tr:w-30/fresh/same.jpg');
    now += (TTL_SECONDS - 1) * 1000;
    await get(images, '/tr:w-30/fresh/same.jpg');
    expect(upstream(path)).toHaveLength(1);
    now += 1000;
    const again = await images.serve({ method: 'GET', rawPath: '/tr:w-30/fresh/same.jpg', rawQuery: '', headers: {} });
    expect(again.response.status).toBe(200);
    expect(again.response.body.equals(first.body)).toBe(true);
    expect(again.response.headers.etag).toBe(first.headers.etag);
    // The 304 is the origin's answer, as on the S3 path: a hit of the cache, from this origin.
    expect(again.record).toMatchObject({ origin: 'web', originalsCache: 'hit' });
    expect(upstream(path)).toEqual([
      expect.objectContaining({ status: 200, ifNoneMatch: undefined }),
      expect.objectContaining({ status: 304, bodyBytes: 0, ifNoneMatch: '"same"', ifModifiedSince: undefined }),
    ]);
    now += (TTL_SECONDS - 1) * 1000;
    await get(images, '/tr:w-20/fresh/same.jpg');
    expect(upstream(path)).toHaveLength(2);
  });

  it('a changed file: answered 200, the new bytes are served and kept', async () => {
    const path = '/media/fresh/changing.jpg';
    const file = serve(path, { body: await jpeg(RED), headers: { etag: '"red"' } });
    const images = service();
    const before = await get(images, '/tr:w-30/fresh/changing.jpg');
    await expectColour(before.body, RED);
    Object.assign(file, { body: await jpeg(GREEN), headers: { etag: '"green"' } });
    now += TTL_SECONDS * 1000;
    const after = await get(images, '/tr:w-30/fresh/changing.jpg');
    await expectColour(after.body, GREEN);
    expect(after.headers.etag).not.toBe(before.headers.etag);
    expect(upstream(path).map((a) => [a.status, a.ifNoneMatch])).toEqual([[200, undefined], [200, '"red"']]);
    await expectColour((await get(images, '/tr:w-20/fresh/changing.jpg')).body, GREEN);
    expect(upstream(path)).toHaveLength(2);
  });

  it('without an ETag, If-Modified-Since with the stored Last-Modified', async () => {
    const path = '/media/fresh/dated.jpg';
    const lastModified = 'Wed, 01 May 2024 00:00:00 GMT';
    const file = serve(path, { body: await jpeg(RED), headers: { 'last-modified': lastModified } });
    const images = service();
    await get(images, '/tr:w-30/fresh/dated.jpg');
    now += TTL_SECONDS * 1000;
    await expectColour((await get(images, '/tr:w-30/fresh/dated.jpg')).body, RED);
    expect(upstream(path).map((a) => [a.status, a.bodyBytes > 0, a.ifNoneMatch, a.ifModifiedSince])).toEqual([
      [200, true, undefined, undefined],
      [304, false, undefined, lastModified],
    ]);
    // A newer upload: the date moves on, the next revalidation gets the new file.
    Object.assign(file, { body: await jpeg(GREEN), headers: { 'last-modified': 'Thu, 02 May 2024 00:00:00 GMT' } });
    now += TTL_SECONDS * 1000;
    await expectColour((await get(images, '/tr:w-30/fresh/dated.jpg')).body, GREEN);
    expect(upstream(path).at(-1)).toMatchObject({ status: 200, ifModifiedSince: lastModified });
  });

  it('with no validator at all: served while fresh, then read again in full', async () => {
    const path = '/media/fresh/bare.jpg';
    serve(path, { body: await jpeg(), headers: {} });
    const images = service();
    await burst(images, (w) => `/tr:w-${w}/fresh/bare.jpg`);
    expect(upstream(path)).toHaveLength(1);
    now += TTL_SECONDS * 1000;
    await get(images, '/tr:w-30/fresh/bare.jpg');
    expect(upstream(path).map((a) => [a.status, a.ifNoneMatch, a.ifModifiedSince])).toEqual([[200, undefined, undefined], [200, undefined, undefined]]);
  });

  it('a file gone upstream (410, 404) is dropped: not found, as without the cache', async () => {
    const path = '/media/fresh/deleted.jpg';
    serve(path, { body: await jpeg(), headers: { etag: '"d"' } });
    const images = service();
    expect((await get(images, '/fresh/deleted.jpg')).status).toBe(200);
    web.routes.set(path, status(410));
    expect((await get(images, '/fresh/deleted.jpg')).status).toBe(200);
    now += TTL_SECONDS * 1000;
    const gone = await get(images, '/fresh/deleted.jpg');
    expect(gone.status).toBe(404);
    expect(gone.headers['x-afterimage-error']).toMatch(/^ENOENT - /);
    // Nothing kept: it comes back as soon as the upstream has it again.
    serve(path, { body: await jpeg(GREEN), headers: { etag: '"d2"' } });
    await expectColour((await get(images, '/fresh/deleted.jpg')).body, GREEN);
    web.routes.delete(path);
    now += TTL_SECONDS * 1000;
    expect((await get(images, '/fresh/deleted.jpg')).status).toBe(404);
    expect(images.originals.size).toBe(0);
  });

  it("the secret's headers go on the revalidation as on the first GET, redirects followed the same way; the entry is the URL asked for", async () => {
    serve('/media/auth/target.jpg', { body: await jpeg(), headers: { etag: '"t"' } });
    web.routes.set('/media/auth/moved.jpg', redirect('/media/auth/target.jpg', 302));
    const images = service();
    await burst(images, (w) => `/auth/tr:w-${w}/auth/moved.jpg`);
    expect(web.count('/media/auth/moved.jpg')).toBe(1);
    now += TTL_SECONDS * 1000;
    expect((await get(images, '/auth/tr:w-30/auth/moved.jpg')).status).toBe(200);
    expect(web.count('/media/auth/moved.jpg')).toBe(2);
    const revalidation = web.requests.filter((r) => r.path === '/media/auth/moved.jpg').at(-1)!;
    expect(revalidation.headers).toMatchObject({ authorization: 'Bearer s3cret' });
    // The validators were given by the URL that answered, and go there only.
    expect(revalidation.headers['if-none-match']).toBeUndefined();
    expect(upstream('/media/auth/target.jpg')).toEqual([
      expect.objectContaining({ status: 200, authorization: 'Bearer s3cret' }),
      expect.objectContaining({ status: 304, bodyBytes: 0, authorization: 'Bearer s3cret', ifNoneMatch: '"t"' }),
    ]);
  });

  it('a redirect that now points elsewhere: the new target is asked for the file in full, never with the old validators', async () => {
    // The old target is newer than the new one: sent If-Modified-Since, the new target would answer 304 and keep the old picture.
    serve('/media/cdn1/picture.jpg', { body: await jpeg(RED), headers: { 'last-modified': 'Wed, 01 May 2024 00:00:00 GMT' } });
    serve('/media/cdn2/picture.jpg', { body: await jpeg(GREEN), headers: { 'last-modified': 'Sun, 01 Jan 2023 00:00:00 GMT' } });
    web.routes.set('/media/moved/picture.jpg', redirect('/media/cdn1/picture.jpg', 302));
    const images = service();
    await expectColour((await get(images, '/tr:w-20/moved/picture.jpg')).body, RED);
    web.routes.set('/media/moved/picture.jpg', redirect('/media/cdn2/picture.jpg', 302));
    now += TTL_SECONDS * 1000;
    await expectColour((await get(images, '/tr:w-20/moved/picture.jpg')).body, GREEN);
    expect(upstream('/media/cdn2/picture.jpg')).toEqual([expect.objectContaining({ status: 200, ifModifiedSince: undefined, ifNoneMatch: undefined })]);
    // And the new target's own validators from then on.
    now += TTL_SECONDS * 1000;
    await expectColour((await get(images, '/tr:w-20/moved/picture.jpg')).body, GREEN);
    expect(upstream('/media/cdn2/picture.jpg').map((a) => [a.status, a.ifModifiedSince])).toEqual([[200, undefined], [304, 'Sun, 01 Jan 2023 00:00:00 GMT']]);
  });

  it('under the same address policy: a host that now resolves to a private address is refused, not served from the cache', async () => {
    const path = '/media/fresh/by-name.jpg';
    serve(path, { body: await jpeg(), headers: { etag: '"n"' } });
    const images = service();
    expect((await get(images, '/by-name/fresh/by-name.jpg')).status).toBe(200);
    names['origin.example.test'] = ['10.0.0.7'];
    expect((await get(images, '/by-name/tr:w-20/fresh/by-name.jpg')).status).toBe(200);
    now += TTL_SECONDS * 1000;
    const refused = await get(images, '/by-name/tr:w-20/fresh/by-name.jpg');
    expect(refused.status).toBe(502);
    expect(refused.headers['x-afterimage-error']).toMatch(/^EACCES - .*private.*allowPrivateNetwork/);
    expect(upstream(path)).toHaveLength(1);
  });

  it('a Cloudinary public id that holds its extension: the reading without it is asked once a TTL, not on every request', async () => {
    // The public id is `shop/poster.jpg`: `shop/poster` is not there (404), the whole name is.
    serve('/image/upload/v1/shop/poster.jpg', { body: await jpeg(GREEN), headers: { etag: '"poster"' } });
    const images = service();
    const responses = await burst(images, (w) => `/demo/image/upload/w_${w},f_jpg/shop/poster.jpg`);
    expect(responses.map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
    await expectColour(responses[4].body, GREEN);
    expect(web.count('/image/upload/v1/shop/poster')).toBe(1);
    expect(upstream('/image/upload/v1/shop/poster.jpg')).toHaveLength(1);
    // Past the TTL, the readings in order again: the 404 first, then the file's revalidation.
    now += TTL_SECONDS * 1000;
    await burst(images, (w) => `/demo/image/upload/w_${w},f_jpg/shop/poster.jpg`);
    expect(web.count('/image/upload/v1/shop/poster')).toBe(2);
    expect(upstream('/image/upload/v1/shop/poster.jpg').map((a) => a.status)).toEqual([200, 304]);
    // Should the reading without the extension appear, it is found once the entry is due again.
    serve('/image/upload/v1/shop/poster', { body: await jpeg(RED), headers: { etag: '"poster-new"' } });
    now += TTL_SECONDS * 1000;
    await expectColour((await get(images, '/demo/image/upload/w_20,f_jpg/shop/poster.jpg')).body, RED);
  });

  it('from a Cloudinary origin: a 304, then nothing until the next TTL', async () => {
    const path = '/image/upload/v1700000000/shop/shoe';
    serve(path, { body: await jpeg(), headers: { etag: '"cld-shoe"' } });
    const images = service();
    await burst(images, (w) => `/demo/image/upload/w_${w}/v1700000000/shop/shoe.jpg`);
    now += TTL_SECONDS * 1000;
    await burst(images, (w) => `/demo/image/upload/w_${w}/v1700000000/shop/shoe.jpg`);
    expect(upstream(path).map((a) => [a.status, a.bodyBytes > 0])).toEqual([[200, true], [304, false]]);
  });
});

describe("the upstream's Cache-Control is respected", () => {
  it.each(['no-store', 'private, max-age=120'])('%s: never kept (five GETs), and passed on', async (cacheControl) => {
    const path = `/media/rules/${cacheControl.split(',')[0]}.jpg`;
    serve(path, { body: await jpeg(), headers: { etag: '"x"', 'cache-control': cacheControl } });
    const images = service();
    const responses = await burst(images, (w) => `/tr:w-${w}/rules/${cacheControl.split(',')[0]}.jpg`);
    expect(new Set(responses.map((r) => r.headers['cache-control']))).toEqual(new Set([cacheControl === 'no-store' ? 'no-store' : 'private, max-age=120']));
    expect(upstream(path).map((a) => a.status)).toEqual([200, 200, 200, 200, 200]);
    expect(images.originals.size).toBe(0);
    // The same file without it: kept.
    serve('/media/rules/plain.jpg', { body: await jpeg(), headers: { etag: '"x"' } });
    await burst(images, (w) => `/tr:w-${w}/rules/plain.jpg`);
    expect(upstream('/media/rules/plain.jpg')).toHaveLength(1);
  });

  it.each(['max-age=0', 'no-cache', 'public, s-maxage=0, max-age=600'])('%s: revalidated on every request (a 304 each)', async (cacheControl) => {
    const name = cacheControl.replace(/[^a-z0-9]+/g, '-');
    const path = `/media/rules/${name}.jpg`;
    serve(path, { body: await jpeg(), headers: { etag: '"e"', 'cache-control': cacheControl } });
    const responses = await burst(service(), (w) => `/tr:w-${w},f-jpg/rules/${name}.jpg`);
    expect(await Promise.all(responses.map(async (r) => (await decode(r.body)).width))).toEqual(WIDTHS);
    expect(upstream(path).map((a) => [a.status, a.bodyBytes > 0])).toEqual([[200, true], [304, false], [304, false], [304, false], [304, false]]);
  });

  /**
   * Serves each file (under /media/rules/, by name, with its headers), reads them all with one
   * service, then again at each time given (ms after the first read): for each file, the times at
   * which the upstream was asked (the first GET, then each revalidation).
   */
  async function askedAt(files: Record<string, Record<string, string>>, times: number[]): Promise<Record<string, number[]>> {
    for (const [name, headers] of Object.entries(files)) serve(`/media/rules/${name}.jpg`, { body: await jpeg(), headers });
    const images = service();
    const start = now;
    const asked: Record<string, number[]> = Object.fromEntries(Object.keys(files).map((name) => [name, []]));
    for (const at of [0, ...times]) {
      now = start + at;
      for (const name of Object.keys(files)) {
        const before = upstream(`/media/rules/${name}.jpg`).length;
        await get(images, `/tr:w-20/rules/${name}.jpg`);
        if (upstream(`/media/rules/${name}.jpg`).length > before) asked[name].push(at);
      }
    }
    return asked;
  }

  it('a max-age shorter than cache.originalTtlSeconds shortens the entry (less the Age it has spent upstream); a longer one does not lengthen it', async () => {
    const asked = await askedAt({
      short: { etag: '"s"', 'cache-control': 'public, max-age=3' },
      aged: { etag: '"a"', 'cache-control': 'public, max-age=5', age: '4' },
      long: { etag: '"l"', 'cache-control': 'public, max-age=31536000' },
    }, [999, 1000, 3000, TTL_SECONDS * 1000]);
    // A revalidation's 304 carries the same headers: the entry is fresh for as long again from then.
    expect(asked).toEqual({ short: [0, 3000, TTL_SECONDS * 1000], aged: [0, 1000, 3000, TTL_SECONDS * 1000], long: [0, TTL_SECONDS * 1000] });
  });

  it.each([
    ['Vary: *', { vary: '*' }],
    ['Vary: Accept, *', { vary: 'Accept, *' }],
    ['an Expires that is no date (0)', { expires: '0' }],
    ['an Expires at its Date', { date: 'Sun, 29 Nov 2026 12:00:00 GMT', expires: 'Sun, 29 Nov 2026 12:00:00 GMT' }],
  ])('%s: revalidated on every request (a 304 each)', async (_what, headers) => {
    const name = `expires-${Object.values(headers).join('-').replace(/[^a-z0-9]+/gi, '-')}`;
    const path = `/media/rules/${name}.jpg`;
    serve(path, { body: await jpeg(), headers: { etag: '"x"', ...headers } });
    await burst(service(), (w) => `/tr:w-${w},f-jpg/rules/${name}.jpg`);
    expect(upstream(path).map((a) => a.status)).toEqual([200, 304, 304, 304, 304]);
  });

  it('without a max-age, an Expires 3 s after its Date shortens the entry to 3 s (less the Age); a max-age beside it wins', async () => {
    const date = 'Sun, 29 Nov 2026 12:00:00 GMT';
    const expires = 'Sun, 29 Nov 2026 12:00:03 GMT';
    const asked = await askedAt({
      expires: { etag: '"e3"', date, expires },
      'expires-aged': { etag: '"ea"', date, expires, age: '2' },
      'expires-max-age': { etag: '"em"', date, expires, 'cache-control': 'public, max-age=6' },
    }, [999, 1000, 3000, 6000]);
    expect(asked).toEqual({ expires: [0, 3000, 6000], 'expires-aged': [0, 1000, 3000, 6000], 'expires-max-age': [0, 6000] });
  });

  it('a 304 that brings a new Cache-Control replaces the stored one', async () => {
    const path = '/media/rules/turned.jpg';
    const file = serve(path, { body: await jpeg(), headers: { etag: '"t"' } });
    const images = service();
    await get(images, '/tr:w-20/rules/turned.jpg');
    file.headers = { etag: '"t"', 'cache-control': 'no-store' };
    now += TTL_SECONDS * 1000;
    const turned = await get(images, '/tr:w-20/rules/turned.jpg');
    expect(turned.headers['cache-control']).toBe('no-store');
    await get(images, '/tr:w-20/rules/turned.jpg');
    expect(upstream(path).map((a) => a.status)).toEqual([200, 304, 200]);
  });
});

describe('copy on miss: one copy per upstream fetch, none for a hit or a 304', () => {
  it('a burst writes one copy; a 304 writes none; a changed file one more', async () => {
    const path = '/media/copy/once.jpg';
    const file = serve(path, { body: await jpeg(RED), headers: { etag: '"1"' } });
    // The copies are refused, so that the target never answers and every request reaches the web origin.
    s3Proxy.setRules([{ fault: 'denied', when: (r) => r.method === 'PUT' }]);
    const errors = jest.spyOn(console, 'error').mockImplementation(() => undefined);
    const puts = () => s3Proxy.requests.filter((r) => r.method === 'PUT' && r.key === 'copy/once.jpg').length;
    try {
      const images = service();
      const responses = await burst(images, (w) => `/copy/tr:w-${w}/copy/once.jpg`);
      expect(responses.map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
      await images.background.settled();
      expect(upstream(path)).toHaveLength(1);
      expect(puts()).toBe(1);
      now += TTL_SECONDS * 1000;
      await get(images, '/copy/tr:w-30/copy/once.jpg');
      await images.background.settled();
      expect(upstream(path).map((a) => a.status)).toEqual([200, 304]);
      expect(puts()).toBe(1);
      Object.assign(file, { body: await jpeg(GREEN), headers: { etag: '"2"' } });
      now += TTL_SECONDS * 1000;
      await expectColour((await get(images, '/copy/tr:w-30/copy/once.jpg')).body, GREEN);
      await images.background.settled();
      expect(puts()).toBe(2);
    } finally {
      errors.mockRestore();
    }
  });
});

describe('one budget for S3 and web originals (limits.originalCacheMB)', () => {
  // A 1 MB cache keeps originals of up to 128 KiB (an eighth).
  const limits = { originalCacheMB: 1 };

  it('S3 and web entries share one least-recently-used order and one byte bound', async () => {
    const file = await noiseJpeg(160);
    const cost = OriginalCache.costOf({ body: file, key: '', origin: undefined as never });
    expect(cost).toBeLessThan(2 ** 20 / ENTRY_FRACTION);
    const fits = Math.floor(2 ** 20 / cost);
    serve('/media/shared/web.jpg', { body: file, headers: { etag: '"w"' } });
    const keys = Array.from({ length: fits }, (_, i) => `shared/${i}.jpg`);
    await Promise.all(keys.map((key) => s3.put(BUCKET, key, file, 'image/jpeg')));
    const images = service({ limits });

    // The web original first, then as many S3 originals as fit: the web one is the oldest, and goes.
    await get(images, '/tr:w-10/shared/web.jpg');
    for (const key of keys) await get(images, `/s3/tr:w-10/${key}`);
    expect(images.originals.size).toBe(fits);
    expect(images.originals.bytes).toBe(fits * cost);
    await get(images, '/tr:w-10/shared/web.jpg');
    expect(upstream('/media/shared/web.jpg')).toHaveLength(2);
    // Now the web original pushed out the oldest S3 one, and the bound still holds.
    expect(images.originals.bytes).toBeLessThanOrEqual(2 ** 20);
    expect(images.originals.size).toBe(fits);
    s3Proxy.clear();
    await get(images, '/tr:w-10/shared/web.jpg');
    await get(images, `/s3/tr:w-10/${keys[1]}`);
    expect(upstream('/media/shared/web.jpg')).toHaveLength(2);
    expect(s3Proxy.requests).toHaveLength(0);
    await get(images, `/s3/tr:w-10/${keys[0]}`);
    expect(s3Proxy.requests.filter((r) => r.method === 'GET' && r.key === keys[0])).toHaveLength(1);
  });

  it('a web original over an eighth of the cache is not kept', async () => {
    const big = await noiseJpeg(400);
    expect(big.length).toBeGreaterThan(2 ** 20 / ENTRY_FRACTION);
    serve('/media/shared/big.jpg', { body: big, headers: { etag: '"big"' } });
    const images = service({ limits });
    await get(images, '/tr:w-40/shared/big.jpg');
    await get(images, '/tr:w-30/shared/big.jpg');
    expect(upstream('/media/shared/big.jpg')).toHaveLength(2);
    expect(images.originals.size).toBe(0);
    // One within the eighth is.
    serve('/media/shared/small.jpg', { body: await noiseJpeg(100), headers: { etag: '"small"' } });
    await get(images, '/tr:w-40/shared/small.jpg');
    await get(images, '/tr:w-30/shared/small.jpg');
    expect(upstream('/media/shared/small.jpg')).toHaveLength(1);
  });

  it('the same key in an S3 origin and a web origin are two entries', async () => {
    await s3.put(BUCKET, 'shared/twin.jpg', await jpeg(RED), 'image/jpeg');
    serve('/media/shared/twin.jpg', { body: await jpeg(GREEN), headers: { etag: '"twin"' } });
    const images = service();
    await expectColour((await get(images, '/s3/tr:w-20/shared/twin.jpg')).body, RED);
    await expectColour((await get(images, '/tr:w-20/shared/twin.jpg')).body, GREEN);
    await expectColour((await get(images, '/s3/tr:w-10/shared/twin.jpg')).body, RED);
    await expectColour((await get(images, '/tr:w-10/shared/twin.jpg')).body, GREEN);
    expect(images.originals.size).toBe(2);
  });
});

describe('the header read while the file arrives: web, Cloudinary and fetch-URL origins refuse an image over the pixel limit there', () => {
  // 1200x1000 with alpha, noise: about 4.8 MB, 1.2 million pixels. Each route sends it 64 KiB
  // every 2 ms (about 150 ms in all), as a network would, and records how much it sent and
  // whether the client hung up before the end.
  let image: Buffer;
  const sent: { path: string; bytes: number; cut?: boolean }[] = [];
  const trickle = (path: string) => (_req: IncomingMessage, res: ServerResponse) => {
    const record: { path: string; bytes: number; cut?: boolean } = { path, bytes: 0 };
    sent.push(record);
    res.writeHead(200, { 'content-type': 'image/png', 'content-length': image.length });
    res.on('close', () => {
      record.cut = !res.writableFinished;
    });
    const next = () => {
      if (res.destroyed) return;
      if (record.bytes >= image.length) return void res.end();
      const chunk = image.subarray(record.bytes, record.bytes + 65_536);
      record.bytes += chunk.length;
      res.write(chunk);
      setTimeout(next, 2);
    };
    next();
  };
  const OVER = { limits: { maxInputPixels: 1_000_000 } };
  const PATHS = [
    ['a web origin', '/tr:w-200/big/wide.png'],
    ['a Cloudinary origin', '/demo/image/upload/w_200/big/wide.png'],
    ['a Cloudinary fetch URL', () => `/fetch/image/fetch/w_200/https://images.example.org:${secure.port}/big/wide.png`],
  ] as const;
  const pathOf = (path: string | (() => string)) => (typeof path === 'string' ? path : path());
  /** Waits until the upstream has seen the connection end (a moment after the service answered). */
  const settled = async () => {
    for (let waited = 0; sent.some((s) => s.cut === undefined) && waited < 5_000; waited += 10) await new Promise((resolve) => setTimeout(resolve, 10));
  };

  beforeAll(async () => {
    image = await sharp({ create: { width: 1200, height: 1000, channels: 4, background: { r: 90, g: 140, b: 200, alpha: 0.8 }, noise: { type: 'gaussian', mean: 128, sigma: 40 } } }).png().toBuffer();
    web.routes.set('/media/big/wide.png', trickle('web'));
    web.routes.set('/image/upload/v1/big/wide', trickle('cloudinary'));
    secure.routes.set('/big/wide.png', trickle('fetch'));
    web.routes.set('/media/big/copied.png', trickle('copy'));
  });
  beforeEach(() => {
    sent.length = 0;
  });

  it.each(PATHS)('%s: over maxInputPixels, the 422 of the whole file, with the read cut after its first bytes', async (_origin, path) => {
    const response = await get(service(OVER), pathOf(path));
    expect(response.status).toBe(422);
    expect(response.headers['x-afterimage-error']).toBe('ELIMIT - The input is 1200x1000 = 1200000 pixels; the limit is 1000000 (limits.maxInputPixels)');
    await settled();
    expect(sent).toHaveLength(1);
    expect(sent[0].cut).toBe(true);
    expect(sent[0].bytes).toBeLessThan(image.length / 2);
  });

  it.each(PATHS)('%s: within the limit, rendered, its header read once, from fewer bytes than the file', async (_origin, path) => {
    const { lengths, result: response } = await headerReads(() => get(service(), pathOf(path)));
    expect(lengths).toHaveLength(1);
    expect(lengths[0]).toBeLessThan(image.length);
    expect(response.status).toBe(200);
    expect(await decode(response.body)).toMatchObject({ width: 200, height: 167 });
    expect(sent.map((s) => [s.bytes, s.cut])).toStrictEqual([[image.length, false]]);
  });

  it('copy on miss reads the file whole and copies it, then refuses it: the copy does not depend on what the request asked', async () => {
    const images = service(OVER);
    const response = await get(images, '/copy/tr:w-200/big/copied.png');
    expect(response.status).toBe(422);
    expect(response.headers['x-afterimage-error']).toMatch(/^ELIMIT - The input is 1200x1000 = 1200000 pixels/);
    expect(await images.background.settled(10_000)).toBe(true);
    const copy = await s3.client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'big/copied.png' }));
    expect(copy.ContentLength).toBe(image.length);
    await settled();
    expect(sent.map((s) => [s.bytes, s.cut])).toStrictEqual([[image.length, false]]);
  });
});
