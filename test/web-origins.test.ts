// README "Web and Cloudinary origins" and "Copy on miss": web servers and Cloudinary itself as
// origins in the preference list, SSRF rules, limits, and copies written into S3. The upstreams
// are real node:http servers on loopback; faults come from the proxy in front of one; the
// copies land in a real s3rver.

import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { GREEN, RED, BLUE, YELLOW, backupOrigin, expectColour, type Colour } from './helpers/cloudinary-fixture';
import { startFaultProxy, type FaultProxy } from './helpers/fault-proxy';
import { file, redirect, selfSignedCertificate, status, startWebServer, type WebServer } from './helpers/web-server';
import { decode, s3Origin, solidImage, startHarness, type Harness } from '../tools/harness';
import { createStreamingHandler } from '../lambda/function-url';
import { DEFAULT_OUTPUT, parseConfig } from '../lambda/config';
import { copyWriterConfig } from '../lambda/origin/registry';
import { originHeadersFromEnvironment } from '../lambda/origin/web';
import { LambdaRuntime, awslambdaDouble, functionUrlEvent, installLambdaRuntime, type StreamingHandler } from './helpers/lambda-runtime';
import { refusedRange } from '../lambda/origin/address-policy';
import { ImageService } from '../lambda/service/image-service';

installLambdaRuntime();

const TIMEOUT_MS = 300;
const RETRIES = 2;
const MAX_INPUT_BYTES = 300_000;

let web: WebServer;
let cloudinary: WebServer;
/** https, with a certificate for images.example.org that the origins' transport trusts. */
let secure: WebServer;
let tls: { key: string; cert: string };
let proxy: FaultProxy;
/** In front of the S3 server, for slow copies. */
let s3Proxy: FaultProxy;
let runtime: LambdaRuntime;
let harness: Harness;

/** Test DNS: names under `.test` that resolve to chosen addresses. */
const NAMES: Record<string, string[]> = {
  'origin.example.test': ['127.0.0.1'],
  'images.example.org': ['127.0.0.1'],
  localhost: ['127.0.0.1'],
  'metadata.example.test': ['169.254.169.254'],
  'mixed.example.test': ['93.184.216.34', '10.1.2.3'],
  'internal.example.test': ['10.0.0.7'],
};

const jpeg = (c: Colour, width = 40) => solidImage(width, 30, c, 'jpeg');

beforeAll(async () => {
  web = await startWebServer();
  cloudinary = await startWebServer();
  tls = selfSignedCertificate('images.example.org');
  secure = await startWebServer(tls);
  secure.routes.set('/pics/a.jpg', file(await jpeg(GREEN), 'image/jpeg'));
  secure.routes.set('/pics/a%20b.jpg', file(await jpeg(BLUE), 'image/jpeg'));
  secure.routes.set('/pics/away.jpg', redirect('https://elsewhere.example.org/a.jpg'));
  secure.routes.set('/pics/near.jpg', redirect('/pics/a.jpg'));
  proxy = await startFaultProxy(web.url);
  let s3Endpoint = '';
  s3Proxy = await startFaultProxy(() => s3Endpoint);
  runtime = await new LambdaRuntime().start();
  const media = `${web.url}/media`;
  const byName = `http://origin.example.test:${web.port}/media`;
  web.routes.set('/media/web-only.jpg', file(await jpeg(GREEN), 'image/jpeg', { etag: '"v1"', 'last-modified': 'Tue, 14 Nov 2023 22:13:20 GMT' }));
  web.routes.set('/media/both.jpg', file(await jpeg(BLUE), 'image/jpeg'));
  web.routes.set('/media/gone.jpg', status(410));
  web.routes.set('/media/private.jpg', file(await jpeg(YELLOW), 'image/jpeg', { 'cache-control': 'private, max-age=120' }));
  web.routes.set('/media/no-store.jpg', file(await jpeg(YELLOW), 'image/jpeg', { 'cache-control': 'no-store' }));
  web.routes.set('/media/page.jpg', file(Buffer.from('<html>soft 404</html>'), 'text/html'));
  web.routes.set('/media/doc.pdf', file(Buffer.from('%PDF-1.4 not really'), 'application/pdf'));
  web.routes.set('/media/a%2Bb.jpg', file(await jpeg(RED), 'image/jpeg'));
  web.routes.set('/media/a%252Bb.jpg', file(await jpeg(GREEN), 'image/jpeg'));
  web.routes.set('/media/my%20photo.jpg', file(await jpeg(BLUE), 'image/jpeg'));
  web.routes.set('/media/huge.jpg', file(Buffer.alloc(MAX_INPUT_BYTES + 1), 'image/jpeg'));
  web.routes.set('/media/huge-chunked.jpg', (_req, res) => {
    res.writeHead(200, { 'content-type': 'image/jpeg' });
    for (let i = 0; i < 10; i++) res.write(Buffer.alloc(MAX_INPUT_BYTES / 5));
    res.end();
  });
  web.routes.set('/media/secret.jpg', async (req, res) => {
    if (req.headers.authorization !== 'Bearer s3cret') return status(401)(req, res);
    file(await jpeg(GREEN), 'image/jpeg')(req, res);
  });
  web.routes.set('/media/moved.jpg', redirect('/media/web-only.jpg', 301));
  web.routes.set('/media/hop1.jpg', redirect('/media/hop2.jpg'));
  web.routes.set('/media/hop2.jpg', redirect('/media/hop3.jpg', 307));
  web.routes.set('/media/hop3.jpg', redirect('/media/web-only.jpg', 308));
  web.routes.set('/media/loop1.jpg', redirect('/media/loop2.jpg'));
  web.routes.set('/media/loop2.jpg', redirect('/media/loop3.jpg'));
  web.routes.set('/media/loop3.jpg', redirect('/media/loop4.jpg'));
  web.routes.set('/media/loop4.jpg', redirect('/media/web-only.jpg'));
  web.routes.set('/media/to-metadata.jpg', redirect('http://169.254.169.254/latest/meta-data/iam/security-credentials/'));
  web.routes.set('/media/to-internal-name.jpg', redirect(`http://internal.example.test:${web.port}/media/web-only.jpg`));
  web.routes.set('/media/to-mapped.jpg', redirect(`http://[::ffff:169.254.169.254]/latest/meta-data/`));
  web.routes.set('/media/to-decimal.jpg', redirect('http://2852039166/latest/meta-data/'));
  web.routes.set('/media/to-ftp.jpg', redirect('ftp://origin.example.test/x.jpg'));
  web.routes.set('/media/to-other-host.jpg', redirect(`http://localhost:${web.port}/media/echo-auth.jpg`));
  web.routes.set('/media/echo-auth.jpg', file(await jpeg(GREEN), 'image/jpeg'));

  // A Cloudinary delivery host (private-CDN form: no cloud name in the path).
  cloudinary.routes.set('/image/upload/v1700000000/shop/shoe', file(await jpeg(GREEN, 60), 'image/jpeg', { etag: '"cld-shoe"' }));
  cloudinary.routes.set('/image/upload/v1/shop/boot', file(await solidImage(50, 40, BLUE, 'png'), 'image/png'));
  cloudinary.routes.set('/image/upload/v1/w_300/crop', file(await jpeg(YELLOW), 'image/jpeg'));
  cloudinary.routes.set('/image/upload/v1/docs/my.photo', file(await jpeg(RED), 'image/jpeg'));
  cloudinary.routes.set('/image/upload/v1/fresh', file(await jpeg(YELLOW), 'image/jpeg', { 'last-modified': 'Wed, 01 May 2024 00:00:00 GMT' }));
  cloudinary.routes.set('/image/private/v1/internal', file(await jpeg(RED), 'image/jpeg'));

  harness = await startHarness({
    buckets: ['primary', 'cloudinary-backup'],
    seed: async (s3) => {
      await s3.put('primary', 'both.jpg', await jpeg(RED), 'image/jpeg');
      await s3.put('primary', 'primary-only.jpg', await jpeg(RED), 'image/jpeg');
    },
    config: (s3) => {
      s3Endpoint = s3.endpoint;
      const loopback = { allowHttp: true, allowPrivateNetwork: true };
      return {
        origins: [
          s3Origin(s3, { name: 'primary', bucket: 'primary' }),
          backupOrigin(s3.endpoint, { name: 'backup' }),
          { type: 'web', name: 'web', baseUrl: media, ...loopback },
          { type: 'web', name: 'web-pdf', baseUrl: media, contentTypes: ['image/*', 'application/pdf'], ...loopback },
          { type: 'web', name: 'web-encoded', baseUrl: media, encodeKeys: true, ...loopback },
          { type: 'web', name: 'web-faulty', baseUrl: `${proxy.endpoint}/media`, ...loopback },
          { type: 'web', name: 'web-by-name', baseUrl: byName, allowHttp: true },
          { type: 'web', name: 'web-metadata', baseUrl: 'http://metadata.example.test/media', allowHttp: true },
          { type: 'web', name: 'web-mixed', baseUrl: 'http://mixed.example.test/media', allowHttp: true },
          { type: 'web', name: 'web-https', baseUrl: `https://origin.example.test:${web.port}/media`, allowPrivateNetwork: true },
          { type: 'web', name: 'web-tls', baseUrl: `https://images.example.org:${secure.port}/pics` },
          { type: 'web', name: 'web-tls-wrong-name', baseUrl: `https://origin.example.test:${secure.port}/pics` },
          { type: 'web', name: 'web-auth', baseUrl: media, secretHeaders: { Authorization: 'webAuthorization' }, ...loopback },
          { type: 'web', name: 'web-copy', baseUrl: media, copyTo: 'primary', ...loopback },
          s3Origin({ endpoint: s3Proxy.endpoint }, { name: 'primary-via-proxy', bucket: 'primary' }),
          { type: 'web', name: 'web-copy-slow', baseUrl: media, copyTo: 'primary-via-proxy', ...loopback },
          { type: 'cloudinary', name: 'cloudinary-live', cloud: 'demo', deliveryHost: `127.0.0.1:${cloudinary.port}`, copyTo: 'backup', ...loopback },
        ],
        endpoints: [
          { prefix: '', origins: ['primary', 'web'] },
          { prefix: '/web', origins: ['web', 'primary'] },
          { prefix: '/pdf', origins: ['web-pdf'] },
          { prefix: '/encoded', origins: ['web-encoded'] },
          { prefix: '/faulty', origins: ['web-faulty', 'primary'] },
          { prefix: '/by-name', origins: ['web-by-name'] },
          { prefix: '/metadata', origins: ['web-metadata'] },
          { prefix: '/mixed', origins: ['web-mixed'] },
          { prefix: '/https', origins: ['web-https'] },
          { prefix: '/tls', origins: ['web-tls'] },
          { prefix: '/tls-wrong-name', origins: ['web-tls-wrong-name'] },
          { prefix: '/fetch', origins: ['primary'], cloudinaryUrls: true, fetchAllowedHosts: [`images.example.org:${secure.port}`] },
          { prefix: '/no-fetch', origins: ['primary'], cloudinaryUrls: true },
          { prefix: '/auth', origins: ['web-auth'] },
          { prefix: '/copy', origins: ['primary', 'web-copy'] },
          { prefix: '/copy-slow', origins: ['primary-via-proxy', 'web-copy-slow'] },
          { prefix: '/demo', origins: ['backup', 'cloudinary-live'], cloudinaryUrls: true },
          { prefix: '/ik', origins: ['backup', 'cloudinary-live'] },
        ],
        limits: { originTimeoutMs: TIMEOUT_MS, originRetries: RETRIES, maxInputBytes: MAX_INPUT_BYTES },
        // Every request reaches the upstream (a revalidation, where the cache of originals holds the
        // file): the faults below are answers to it. test/web-original-cache.test.ts tests the cache.
        cache: { resolutionMaxEntries: 0, originalTtlSeconds: 0 },
      };
    },
    deps: {
      originHeaders: async (field) => (field === 'webAuthorization' ? 'Bearer s3cret' : undefined),
      webTransport: {
        resolve: async (name) => {
          const addresses = NAMES[name];
          if (!addresses) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${name}`), { code: 'ENOTFOUND' });
          return addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
        },
        // The test server is on loopback: 127.0.0.1 counts as public here, every other range as in production.
        refusedRange: (address) => (address === '127.0.0.1' ? undefined : refusedRange(address)),
        ca: tls.cert,
      },
    },
  });
});

afterAll(async () => {
  await harness?.close();
  await proxy?.close();
  await s3Proxy?.close();
  await runtime?.stop();
  await web?.close();
  await cloudinary?.close();
  await secure?.close();
});

beforeEach(() => {
  proxy.setRules([]);
  proxy.clear();
  s3Proxy.setRules([]);
});

async function expectImage(path: string, colour: Colour) {
  const response = await harness.get(path);
  expect({ path, status: response.status, error: response.headers.get('x-afterimage-error') }).toEqual({ path, status: 200, error: null });
  await expectColour(response.body, colour);
  return response;
}

async function expectError(path: string, status: number, code: string, message?: RegExp) {
  const response = await harness.get(path);
  const reason = response.headers.get('x-afterimage-error') ?? '';
  expect({ path, status: response.status, code: reason.split(' - ')[0] }).toEqual({ path, status, code });
  if (message) expect(reason).toMatch(message);
  return response;
}

describe('a web origin in the preference list: the next origin only on 404 or 410', () => {
  it('serves <baseUrl>/<path>, transformed', async () => {
    const response = await expectImage('/tr:w-20/web-only.jpg', GREEN);
    expect((await decode(response.body)).width).toBe(20);
    expect(web.requests.at(-1)!.path).toBe('/media/web-only.jpg');
  });

  it('an earlier origin that has the file wins; the web origin is not asked', async () => {
    const before = web.count('/media/both.jpg');
    await expectImage('/both.jpg', RED);
    expect(web.count('/media/both.jpg')).toBe(before);
  });

  it('404 and 410 from the web origin move on to the next origin', async () => {
    await expectImage('/web/primary-only.jpg', RED);
    web.routes.set('/media/primary-only.jpg', status(410));
    await expectImage('/web/primary-only.jpg', RED);
    web.routes.delete('/media/primary-only.jpg');
  });

  it('404 when no origin has it', async () => {
    await expectError('/web/nowhere.jpg', 404, 'ENOENT');
  });

  it('a path is percent-encoded; encodeKeys encodes it once more, as for S3', async () => {
    await expectImage('/web/a+b.jpg', RED);
    await expectImage('/encoded/a+b.jpg', GREEN);
    await expectImage('/web/my%20photo.jpg', BLUE);
  });

  it('follows up to 3 redirects', async () => {
    await expectImage('/web/moved.jpg', GREEN);
    await expectImage('/web/hop1.jpg', GREEN);
  });

  it('a fourth redirect is a 502', async () => {
    await expectError('/web/loop1.jpg', 502, 'EORIGIN', /more than 3 times/);
  });
});

describe('web origin faults: 502/504 as for S3, and the walk stops', () => {
  it(`a 500 → 502 EORIGIN after originRetries + 1 = ${RETRIES + 1} attempts; the next origin is not asked`, async () => {
    proxy.setRules([{ fault: 'error' }]);
    await expectError('/faulty/primary-only.jpg', 502, 'EORIGIN', /HTTP 500/);
    expect(proxy.requests).toHaveLength(RETRIES + 1);
  });

  it('a failure that clears up within the retries is served', async () => {
    let failures = 1;
    proxy.setRules([{ fault: 'error', when: () => failures-- > 0 }]);
    await expectImage('/faulty/web-only.jpg', GREEN);
    expect(proxy.requests).toHaveLength(2);
  });

  it('a 404 through the proxy moves on', async () => {
    await expectImage('/faulty/primary-only.jpg', RED);
  });

  it(`a slow upstream → 504 ETIMEDOUT, each attempt cut at originTimeoutMs (${TIMEOUT_MS} ms)`, async () => {
    proxy.setRules([{ fault: 'slow', delayMs: TIMEOUT_MS * 4 }]);
    const started = performance.now();
    await expectError('/faulty/web-only.jpg', 504, 'ETIMEDOUT');
    expect(performance.now() - started).toBeLessThan(TIMEOUT_MS * 4 * (RETRIES + 1));
  });

  it('a body that stalls → 504 ETIMEDOUT', async () => {
    proxy.setRules([{ fault: 'stall-body', delayMs: TIMEOUT_MS * 4 }]);
    await expectError('/faulty/web-only.jpg', 504, 'ETIMEDOUT');
  });

  it('a reset connection → 502 EORIGIN', async () => {
    proxy.setRules([{ fault: 'reset' }]);
    await expectError('/faulty/web-only.jpg', 502, 'EORIGIN', /reset the connection/);
    expect(proxy.requests).toHaveLength(RETRIES + 1);
  });

  it('401/403 → 502 EACCES, not retried', async () => {
    proxy.setRules([{ fault: 'denied' }]);
    await expectError('/faulty/web-only.jpg', 502, 'EACCES');
    expect(proxy.requests).toHaveLength(1);
  });
});

describe('what a web origin answers must be an image, within limits.maxInputBytes', () => {
  it('a 200 that is not an image (a soft 404 page) → 502 naming the Content-Type', async () => {
    await expectError('/web/page.jpg', 502, 'EORIGIN', /text\/html/);
  });

  it('the origin\'s declared contentTypes widen the rule', async () => {
    await expectError('/web/doc.pdf', 502, 'EORIGIN', /application\/pdf/);
    const response = await harness.get('/pdf/doc.pdf');
    expect(response.status).toBe(200);
    expect(response.body.toString()).toBe('%PDF-1.4 not really');
  });

  it('a Content-Length over the limit → 422 ELIMIT', async () => {
    await expectError('/web/huge.jpg', 422, 'ELIMIT');
  });

  it('a chunked body over the limit is cut while streaming → 422 ELIMIT', async () => {
    await expectError('/web/huge-chunked.jpg', 422, 'ELIMIT', /over 300000 bytes/);
  });
});

describe('upstream validators and caching rules', () => {
  it('the upstream ETag and Last-Modified feed the response ETag', async () => {
    const first = await expectImage('/web/web-only.jpg', GREEN);
    expect(first.headers.get('last-modified')).toBe('Tue, 14 Nov 2023 22:13:20 GMT');
    expect((await harness.get('/web/web-only.jpg')).headers.get('etag')).toBe(first.headers.get('etag'));
    const old = web.routes.get('/media/web-only.jpg')!;
    web.routes.set('/media/web-only.jpg', file(await jpeg(GREEN), 'image/jpeg', { etag: '"v2"', 'last-modified': 'Tue, 14 Nov 2023 22:13:20 GMT' }));
    const changed = await harness.get('/web/web-only.jpg');
    web.routes.set('/media/web-only.jpg', old);
    expect(changed.headers.get('etag')).not.toBe(first.headers.get('etag'));
  });

  it('Cache-Control: private upstream stays private (its max-age kept)', async () => {
    const response = await expectImage('/web/tr:w-10/private.jpg', YELLOW);
    expect(response.headers.get('cache-control')).toBe('private, max-age=120');
  });

  it('Cache-Control: no-store upstream stays no-store', async () => {
    const response = await expectImage('/web/no-store.jpg', YELLOW);
    expect(response.headers.get('cache-control')).toBe('no-store');
  });

  it('an ordinary upstream answer gets the configured Cache-Control', async () => {
    const response = await expectImage('/web/both.jpg', BLUE);
    expect(response.headers.get('cache-control')).toBe(DEFAULT_OUTPUT.cacheControl);
  });
});

describe('request headers from the secret', () => {
  it('are sent to the origin', async () => {
    await expectImage('/auth/secret.jpg', GREEN);
    expect(web.requests.at(-1)!.headers.authorization).toBe('Bearer s3cret');
  });

  it('are not sent on to another host after a redirect', async () => {
    await expectImage('/auth/to-other-host.jpg', GREEN);
    const last = web.requests.at(-1)!;
    expect(last.path).toBe('/media/echo-auth.jpg');
    expect(last.headers.host).toBe(`localhost:${web.port}`);
    expect(last.headers.authorization).toBeUndefined();
  });
});

describe('AFTERIMAGE_ORIGIN_HEADERS (local runs only)', () => {
  it('holds the originHeaders fields as JSON', async () => {
    const source = originHeadersFromEnvironment({ AFTERIMAGE_ORIGIN_HEADERS: '{"legacy": "Bearer x"}' })!;
    expect(await source('legacy')).toBe('Bearer x');
    expect(await source('toString')).toBeUndefined();
    expect(originHeadersFromEnvironment({})).toBeUndefined();
    expect(() => originHeadersFromEnvironment({ AFTERIMAGE_ORIGIN_HEADERS: '["x"]' })).toThrow(/a JSON object of strings/);
  });

  it('without any source of header values, an origin with secretHeaders does not start', () => {
    expect(() => new ImageService(parseConfig({ origins: [{ type: 'web', name: 'w', baseUrl: 'https://x.example.org', secretHeaders: { Authorization: 'a' } }] })))
      .toThrow(/origin "w" reads request headers from Secrets Manager, but no secret is configured \(AFTERIMAGE_SECRET_ARN in AWS; locally, set AFTERIMAGE_ORIGIN_HEADERS\)/);
  });
});

describe('SSRF: every address is checked before connecting (README "Web and Cloudinary origins", SECURITY.md)', () => {
  it('with the production policy, a loopback origin is refused without allowPrivateNetwork, and never contacted', async () => {
    const service = (allowPrivateNetwork: boolean) => new ImageService(parseConfig({
      origins: [{ type: 'web', name: 'loopback', baseUrl: `${web.url}/media`, allowHttp: true, allowPrivateNetwork }],
    }));
    const get = (s: ImageService) => s.handle({ method: 'GET', rawPath: '/web-only.jpg', rawQuery: '', headers: {} });
    const before = web.count('/media/web-only.jpg');
    const refused = await get(service(false));
    expect(refused.status).toBe(502);
    expect(refused.headers['x-afterimage-error']).toMatch(/^EACCES - .*loopback.*allowPrivateNetwork/);
    expect(web.count('/media/web-only.jpg')).toBe(before);
    expect((await get(service(true))).status).toBe(200);
    expect(web.count('/media/web-only.jpg')).toBe(before + 1);
  });

  it('a host name is resolved, checked, and the connection pinned to the checked address', async () => {
    // origin.example.test exists only in the test resolver: the connection can only have used it.
    await expectImage('/by-name/web-only.jpg', GREEN);
    expect(web.requests.at(-1)!.headers.host).toBe(`origin.example.test:${web.port}`);
  });

  it('a name resolving to the instance metadata address is refused', async () => {
    await expectError('/metadata/x.jpg', 502, 'EACCES', /link-local/);
  });

  it('a name with one public and one private address is refused', async () => {
    await expectError('/mixed/x.jpg', 502, 'EACCES', /private \(10\.0\.0\.0\/8\)/);
  });

  it('redirects are re-checked: to the metadata address, to a name resolving privately, to an IPv4-mapped IPv6 address', async () => {
    await expectError('/by-name/to-metadata.jpg', 502, 'EACCES', /redirect 1.*link-local/);
    await expectError('/by-name/to-internal-name.jpg', 502, 'EACCES', /redirect 1.*private/);
    await expectError('/by-name/to-mapped.jpg', 502, 'EACCES', /link-local.*IPv6/);
    // 2852039166 is 169.254.169.254 written as one number: URLs are normalised before the check.
    await expectError('/by-name/to-decimal.jpg', 502, 'EACCES', /link-local/);
  });

  it('a redirect to another scheme is refused', async () => {
    await expectError('/by-name/to-ftp.jpg', 502, 'EACCES', /ftp/);
  });

  it('an https origin fails on a plain-http server (no downgrade)', async () => {
    await expectError('/https/web-only.jpg', 502, 'EORIGIN');
  });

  it('https: the certificate is checked against the host name, though the connection is pinned to an address', async () => {
    await expectImage('/tls/a.jpg', GREEN);
    await expectError('/tls-wrong-name/a.jpg', 502, 'EORIGIN', /TLS handshake \(ERR_TLS_CERT_ALTNAME_INVALID\)/);
  });
});

describe('the address policy (address-policy.ts)', () => {
  it.each([
    ['127.0.0.1', /loopback/], ['10.1.2.3', /private/], ['172.16.0.1', /private/], ['172.31.255.255', /private/], ['192.168.1.1', /private/],
    ['169.254.169.254', /link-local/], ['100.64.0.1', /carrier-grade/], ['0.0.0.0', /this network/], ['224.0.0.1', /multicast/],
    ['255.255.255.255', /reserved/], ['::1', /loopback/], ['::', /unspecified/], ['fe80::1', /link-local/], ['fd00::1', /unique-local/],
    ['fc00::1', /unique-local/], ['ff02::1', /multicast/], ['::ffff:127.0.0.1', /loopback.*IPv6/], ['::ffff:a9fe:a9fe', /link-local.*IPv6/],
    ['::ffff:10.0.0.1', /private.*IPv6/], ['64:ff9b::169.254.169.254', /link-local/], ['2002:a9fe:a9fe::1', /6to4/], ['2001:0:4136:e378::1', /Teredo/], ['64:ff9b:1::a9fe:a9fe', /translation/], ['not-an-ip', /not an IP/],
  ])('%s is refused (%s)', (address, reason) => {
    expect(refusedRange(address)).toMatch(reason);
  });

  it.each(['93.184.216.34', '8.8.8.8', '172.32.0.1', '100.128.0.1', '2606:4700::1111', '::ffff:93.184.216.34'])('%s is public', (address) => {
    expect(refusedRange(address)).toBeUndefined();
  });
});

describe('Cloudinary as an origin: the original, from the delivery URL, without transformations', () => {
  it('a Cloudinary URL missing from the backup is fetched from Cloudinary: version kept, extension dropped, transformations applied here', async () => {
    const response = await expectImage('/demo/image/upload/c_scale,w_30/v1700000000/shop/shoe.jpg', GREEN);
    expect((await decode(response.body)).width).toBe(30);
    expect(cloudinary.requests.at(-1)!.path).toBe('/image/upload/v1700000000/shop/shoe');
  });

  it('an ImageKit-style URL resolves through it too; without a version, v1 is written', async () => {
    const response = await expectImage('/ik/tr:w-25/image/upload/shop/boot.png', BLUE);
    expect(await decode(response.body)).toMatchObject({ width: 25, format: 'png' });
    expect(cloudinary.requests.at(-1)!.path).toBe('/image/upload/v1/shop/boot');
  });

  it('the extension asks for an output format, as with the backup', async () => {
    const response = await harness.get('/ik/image/upload/shop/boot.jpg');
    expect(response.status).toBe(200);
    expect((await decode(response.body)).format).toBe('jpeg');
  });

  it('a folder named like a transformation is a folder: the version marker keeps Cloudinary from applying it', async () => {
    await expectImage('/ik/image/upload/w_300/crop.jpg', YELLOW);
  });

  it('a public id with a dot is tried as a whole name after the extension reading', async () => {
    await expectImage('/ik/image/upload/docs/my.photo', RED);
    expect(cloudinary.requests.slice(-2).map((r) => r.path)).toEqual(['/image/upload/v1/docs/my', '/image/upload/v1/docs/my.photo']);
  });

  it('delivery types not configured (private) are not fetched', async () => {
    const before = cloudinary.requests.length;
    await expectError('/ik/image/private/internal.jpg', 404, 'ENOENT');
    expect(cloudinary.requests.length).toBe(before);
  });
});

describe('copy on miss (README "Copy on miss")', () => {
  it('a file fetched from a web origin is written at the same key of a plain origin; the next request is served from S3', async () => {
    web.routes.set('/media/copied.jpg', file(await jpeg(GREEN), 'image/jpeg'));
    const logs = jest.spyOn(console, 'log').mockImplementation(() => undefined);
    try {
      await expectImage('/copy/tr:w-10/copied.jpg', GREEN);
      await harness.service.background.settled();
      expect(logs.mock.calls.map((c) => String(c[0]))).toContainEqual(expect.stringMatching(/^afterimage: copied "copied\.jpg" \(\d+ bytes\) from origin "web-copy" into origin "primary"$/));
    } finally {
      logs.mockRestore();
    }
    await harness.s3.client.send(new HeadObjectCommand({ Bucket: 'primary', Key: 'copied.jpg' }));
    const before = web.count('/media/copied.jpg');
    web.routes.set('/media/copied.jpg', file(await jpeg(RED), 'image/jpeg'));
    await expectImage('/copy/copied.jpg', GREEN);
    expect(web.count('/media/copied.jpg')).toBe(before);
  });

  it('a file fetched from Cloudinary is written in the backup layout; the next request is served by the backup', async () => {
    await expectImage('/demo/image/upload/fresh.jpg', YELLOW);
    await harness.service.background.settled();
    // Last-Modified 2024-05-01T00:00:00Z is the version: Cloudinary versions are upload times in seconds.
    const head = await harness.s3.client.send(new HeadObjectCommand({ Bucket: 'cloudinary-backup', Key: 'res/demo/image/upload/fresh/1714521600.jpg' }));
    expect(head.ContentType).toBe('image/jpeg');
    const before = cloudinary.count('/image/upload/v1/fresh');
    await expectImage('/demo/image/upload/w_20/fresh.jpg', YELLOW);
    await expectImage('/ik/image/upload/fresh.jpg', YELLOW);
    expect(cloudinary.count('/image/upload/v1/fresh')).toBe(before);
  });

  it('what the upstream marked private or no-store is not copied', async () => {
    await expectImage('/copy/private.jpg', YELLOW);
    await expectImage('/copy/no-store.jpg', YELLOW);
    await harness.service.background.settled();
    await expect(harness.s3.client.send(new HeadObjectCommand({ Bucket: 'primary', Key: 'private.jpg' }))).rejects.toMatchObject({ name: 'NotFound' });
    await expect(harness.s3.client.send(new HeadObjectCommand({ Bucket: 'primary', Key: 'no-store.jpg' }))).rejects.toMatchObject({ name: 'NotFound' });
  });
});

describe('copy on miss in Lambda: after the response, before the handler returns', () => {
  // Under originTimeoutMs: the write client has the same timeouts as the read clients.
  const COPY_DELAY_MS = 200;

  it('the response stream ends first; the handler returns only once the copy is written', async () => {
    web.routes.set('/media/lambda-copy.jpg', file(await jpeg(BLUE), 'image/jpeg'));
    let putArrived = 0;
    // Only the first attempt is slowed: should a busy machine push it past originTimeoutMs, the retry goes through.
    s3Proxy.setRules([{ fault: 'slow', delayMs: COPY_DELAY_MS, when: (r) => {
      if (r.method !== 'PUT' || putArrived > 0) return false;
      putArrived = performance.now();
      return true;
    } }]);
    const inner = createStreamingHandler({ service: harness.service });
    let streamFinished = 0;
    let handlerReturned = 0;
    const handler = awslambdaDouble.streamifyResponse((async (event, stream, context) => {
      stream.on('finish', () => {
        streamFinished = performance.now();
      });
      await inner(event, stream as never, context);
      handlerReturned = performance.now();
    }) as StreamingHandler);
    const result = await runtime.invoke(handler, functionUrlEvent('GET', '/copy-slow/tr:w-10/lambda-copy.jpg'));
    expect(result.statusCode).toBe(200);
    expect(harness.service.background.size).toBe(0);
    // Written, without waiting for anything after the invocation.
    await harness.s3.client.send(new HeadObjectCommand({ Bucket: 'primary', Key: 'lambda-copy.jpg' }));
    expect(putArrived).toBeGreaterThan(0);
    expect(streamFinished).toBeGreaterThan(0);
    // The viewer had the whole response before the slow copy was done.
    expect(handlerReturned - streamFinished).toBeGreaterThanOrEqual(COPY_DELAY_MS - 50);
  });

  it('a failed copy is logged and never fails the request', async () => {
    web.routes.set('/media/copy-fails.jpg', file(await jpeg(GREEN), 'image/jpeg'));
    s3Proxy.setRules([{ fault: 'denied', when: (r) => r.method === 'PUT' }]);
    const errors = jest.spyOn(console, 'error').mockImplementation(() => undefined);
    try {
      const handler = awslambdaDouble.streamifyResponse(createStreamingHandler({ service: harness.service }) as unknown as StreamingHandler);
      const result = await runtime.invoke(handler, functionUrlEvent('GET', '/copy-slow/copy-fails.jpg'));
      expect(result.statusCode).toBe(200);
      await expectColour(result.body, GREEN);
      expect(errors.mock.calls.map((c) => String(c[0])).join('\n')).toMatch(/copy of "copy-fails\.jpg" from origin "web-copy-slow" into origin "primary-via-proxy" failed: AccessDenied/);
    } finally {
      errors.mockRestore();
    }
  });

  it('copies are written with the function\'s role where the target reads with the secret\'s read-only keys', () => {
    expect(copyWriterConfig({ name: 'b', type: 'cloudinary-backup', bucket: 'b', credentials: { source: 'secret' } }).credentials).toEqual({ source: 'default-chain' });
    expect(copyWriterConfig({ name: 'b', type: 's3', bucket: 'b' }).credentials).toEqual({ source: 'default-chain' });
    expect(copyWriterConfig({ name: 'b', type: 's3', bucket: 'b', credentials: { source: 'env' } }).credentials).toEqual({ source: 'env' });
  });
});

describe('Cloudinary fetch URLs (README "Cloudinary fetch URLs")', () => {
  const host = () => `images.example.org:${secure.port}`;

  it('an https URL on an allowed host is fetched, and transformed', async () => {
    const response = await expectImage(`/fetch/image/fetch/w_20/https://${host()}/pics/a.jpg`, GREEN);
    expect((await decode(response.body)).width).toBe(20);
    expect(secure.requests.at(-1)!.path).toBe('/pics/a.jpg');
  });

  it('the remote URL may be percent-encoded in one segment, or have its // collapsed', async () => {
    await expectImage(`/fetch/image/fetch/${encodeURIComponent(`https://${host()}/pics/a b.jpg`)}`, BLUE);
    await expectImage(`/fetch/image/fetch/c_fill,w_10,h_10/https:/${host()}/pics/a.jpg`, GREEN);
  });

  it('a token in the remote URL\'s query is fetched with it, never recorded (README "Observability")', async () => {
    const remote = encodeURIComponent(`https://${host()}/pics/a.jpg?w=1&token=t0k3n-never-logged`);
    const { response, record } = await harness.service.serve({ method: 'GET', rawPath: `/fetch/image/fetch/w_20/${remote}`, rawQuery: '', headers: {} });
    expect(response.status).toBe(200);
    expect(secure.requests.at(-1)!.url).toBe('/pics/a.jpg?w=1&token=t0k3n-never-logged');
    expect(record.key).toBe(`https://${host()}/pics/a.jpg?w=1&token=REDACTED`);
    expect(record.url).toBe(`/fetch/image/fetch/w_20/${encodeURIComponent(`https://${host()}/pics/a.jpg?w=1&token=`)}REDACTED`);
    expect(JSON.stringify(record)).not.toContain('t0k3n');
  });

  it('a redirect on the same host is followed; one to a host outside fetchAllowedHosts is refused', async () => {
    await expectImage(`/fetch/image/fetch/https://${host()}/pics/near.jpg`, GREEN);
    await expectError(`/fetch/image/fetch/https://${host()}/pics/away.jpg`, 502, 'EACCES', /redirect 1 leads to a host that is not in fetchAllowedHosts/);
  });

  it.each([
    ['another host', 'https://elsewhere.example.org/a.jpg', /host "elsewhere\.example\.org" is not in this endpoint's fetchAllowedHosts/],
    ['a suffix trick', 'https://images.example.org.evil.example/a.jpg', /is not in this endpoint's fetchAllowedHosts/],
    ['the allowed name on another port', 'https://images.example.org:1/a.jpg', /is not in this endpoint's fetchAllowedHosts/],
    ['a user-info trick', 'https://images.example.org@evil.example/a.jpg', /user name or password|not in this endpoint's fetchAllowedHosts/],
    ['http', 'http://images.example.org/a.jpg', /only https remote URLs are fetched, not http/],
    ['no URL at all', 'w_100', /expected \/image\/fetch\/\[<transformations>\/\]https:\/\/<host>\/<path>/],
  ])('%s is a 400', async (_what, remote, message) => {
    const before = secure.requests.length;
    await expectError(`/fetch/image/fetch/${remote}`, 400, 'EINVAL', message);
    expect(secure.requests.length).toBe(before);
  });

  it('without fetchAllowedHosts, fetch URLs are off: a 400 saying so', async () => {
    await expectError(`/no-fetch/image/fetch/https://${host()}/pics/a.jpg`, 400, 'EINVAL', /Cloudinary fetch URLs are off on this endpoint/);
  });
});
