// README "URL reference" and "Serving a Cloudinary backup": URL endpoints, the preference list, faults, encoded keys, and `di-`
// (README "Parameters"). Real s3rver over HTTP; faults come from a proxy in front of it.

import { createServer, type AddressInfo } from 'node:net';
import { parseConfig } from '../lambda/config';
import { originFailure } from '../lambda/origin/s3';
import { matchEndpoint } from '../lambda/request/parse-url';
import { BLUE, GREEN, RED, YELLOW, backupOrigin, expectColour, type Colour } from './helpers/cloudinary-fixture';
import { startFaultProxy, type FaultProxy, type ProxiedRequest } from './helpers/fault-proxy';
import { decode, s3Origin, solidImage, startHarness, type Harness } from '../tools/harness';

const TIMEOUT_MS = 300;
const RETRIES = 2;

let proxy: FaultProxy;
let harness: Harness;

/** A loopback port nothing listens on: connections to it are refused. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

beforeAll(async () => {
  const refusedEndpoint = `http://127.0.0.1:${await closedPort()}`;
  let s3Endpoint = '';
  proxy = await startFaultProxy(() => s3Endpoint);
  harness = await startHarness({
    buckets: ['primary', 'secondary', 'thumbs', 'cloudinary-backup'],
    seed: async (s3) => {
      const jpeg = (c: Colour) => solidImage(40, 30, c, 'jpeg');
      await s3.put('primary', 'both.jpg', await jpeg(RED), 'image/jpeg');
      await s3.put('secondary', 'both.jpg', await jpeg(GREEN), 'image/jpeg');
      await s3.put('secondary', 'only-second.jpg', await jpeg(GREEN), 'image/jpeg');
      await s3.put('secondary', 'defaults/missing.png', await solidImage(64, 64, BLUE, 'png'), 'image/png');
      await s3.put('thumbs', 'both.jpg', await jpeg(YELLOW), 'image/jpeg');
      await s3.put('primary', 'image%2Bexample.jpg', await jpeg(BLUE), 'image/jpeg');
      await s3.put('primary', 'image+example.jpg', await jpeg(YELLOW), 'image/jpeg');
      await s3.put('cloudinary-backup', 'res/demo/image/upload/shoe/1700000000.jpg', await jpeg(GREEN), 'image/jpeg');
    },
    config: (s3) => {
      s3Endpoint = s3.endpoint;
      const viaProxy = { endpoint: proxy.endpoint };
      return {
        origins: [
          s3Origin(s3, { name: 'primary', bucket: 'primary' }),
          s3Origin(s3, { name: 'secondary', bucket: 'secondary' }),
          s3Origin(s3, { name: 'thumbs', bucket: 'thumbs' }),
          s3Origin(s3, { name: 'encoded', bucket: 'primary', encodeKeys: true }),
          s3Origin(viaProxy, { name: 'faulty', bucket: 'primary' }),
          backupOrigin(proxy.endpoint, { name: 'faulty-backup' }),
          s3Origin({ endpoint: refusedEndpoint }, { name: 'refusing', bucket: 'primary' }),
        ],
        endpoints: [
          { prefix: '', origins: ['primary', 'secondary'] },
          { prefix: '/images', origins: ['secondary'] },
          { prefix: '/images/thumbs', origins: ['thumbs'] },
          { prefix: '/encoded', origins: ['encoded'] },
          { prefix: '/faulty', origins: ['faulty', 'secondary'] },
          { prefix: '/faulty-backup', origins: ['faulty-backup', 'secondary'] },
          { prefix: '/refusing', origins: ['refusing', 'secondary'] },
        ],
        output: { format: 'auto' },
        // Every request reaches the origins (the resolution cache and the cache of originals have their own tests).
        limits: { originTimeoutMs: TIMEOUT_MS, originRetries: RETRIES, originalCacheMB: 0 },
        cache: { resolutionMaxEntries: 0 },
      };
    },
  });
});

afterAll(async () => {
  await harness?.close();
  await proxy?.close();
});

beforeEach(() => {
  proxy.setRules([]);
  proxy.clear();
});

async function expectImage(path: string, colour: Colour) {
  const response = await harness.get(path);
  expect({ path, status: response.status, error: response.headers.get('x-afterimage-error') }).toEqual({ path, status: 200, error: null });
  await expectColour(response.body, colour);
  return response;
}

async function expectError(path: string, status: number, code: string) {
  const response = await harness.get(path);
  expect({ status: response.status, reason: response.headers.get('x-afterimage-error')?.split(' - ')[0] }).toEqual({ status, reason: code });
  expect(response.headers.get('x-afterimage-error')).toMatch(new RegExp(`^${code} - \\S`));
  expect(response.headers.get('cache-control')).toBe(status >= 500 ? 'no-store' : 'public, max-age=60');
  return response;
}

const objectReads = (key: string) => (r: ProxiedRequest) => !r.list && r.key === key;

describe('URL endpoints: the longest prefix that matches whole segments wins (spec 1)', () => {
  const endpoints = parseConfig({
    origins: [{ name: 'o', type: 's3', bucket: 'b' }],
    endpoints: [
      { prefix: '', origins: ['o'] },
      { prefix: '/images', origins: ['o'] },
      { prefix: '/images/thumbs/', origins: ['o'] },
    ],
  }).endpoints;
  const match = (path: string) => matchEndpoint(endpoints, path.replace(/^\//, '').split('/'))?.prefix;

  it('matches on whole segments, longest first, whatever the configured order', () => {
    expect(match('/images/thumbs/a.jpg')).toBe('images/thumbs');
    expect(match('/images/a.jpg')).toBe('images');
    expect(match('/images/thumbsX/a.jpg')).toBe('images');
    expect(match('/imagesX/a.jpg')).toBe('');
    expect(match('/a.jpg')).toBe('');
    expect(matchEndpoint([...endpoints].reverse(), ['images', 'thumbs', 'a.jpg'])?.prefix).toBe('images/thumbs');
  });

  it('no match without a default endpoint', () => {
    expect(matchEndpoint(endpoints.filter((e) => e.prefix !== ''), ['other', 'a.jpg'])).toBeUndefined();
  });

  it('each endpoint serves from its own origins', async () => {
    await expectImage('/both.jpg', RED);
    await expectImage('/images/both.jpg', GREEN);
    await expectImage('/images/thumbs/both.jpg', YELLOW);
    await expectImage('/images/thumbs/tr:w-10/both.jpg', YELLOW);
  });
});

describe('the preference list: the next origin only when the file is not found (spec 7)', () => {
  it('the first origin wins when both have the file', async () => {
    await expectImage('/both.jpg', RED);
  });

  it('the second origin serves what only it has', async () => {
    await expectImage('/only-second.jpg', GREEN);
  });

  it('404 with ENOENT when no origin has the file', async () => {
    await expectError('/nowhere.jpg', 404, 'ENOENT');
  });

  it('moves on from a faulty-endpoint origin only on "not found" (the proxy forwards)', async () => {
    await expectImage('/faulty/both.jpg', RED);
    await expectImage('/faulty/only-second.jpg', GREEN);
    await expectImage('/faulty-backup/image/upload/shoe.jpg', GREEN);
    await expectImage('/faulty-backup/only-second.jpg', GREEN);
  });
});

describe('origin faults stop the walk with 502/504 and a reason (spec 5, 7)', () => {
  // `only-second.jpg` is in the second origin: a fallback would answer 200.
  it('access denied → 502 EACCES, not retried, second origin not consulted', async () => {
    proxy.setRules([{ fault: 'denied' }]);
    const response = await expectError('/faulty/only-second.jpg', 502, 'EACCES');
    expect(response.headers.get('x-afterimage-error')).toContain('"faulty"');
    expect(proxy.requests).toHaveLength(1);
  });

  it('a missing bucket → 502 EACCES', async () => {
    proxy.setRules([{ fault: 'no-such-bucket' }]);
    await expectError('/faulty/only-second.jpg', 502, 'EACCES');
    await expectError('/faulty-backup/image/upload/only-second.jpg', 502, 'EACCES');
  });

  it(`an origin that keeps failing → 502 EORIGIN after exactly originRetries + 1 = ${RETRIES + 1} attempts`, async () => {
    proxy.setRules([{ fault: 'error' }]);
    await expectError('/faulty/only-second.jpg', 502, 'EORIGIN');
    expect(proxy.requests.filter(objectReads('only-second.jpg'))).toHaveLength(RETRIES + 1);
  });

  it('a listing that keeps failing (Cloudinary backup) → 502 EORIGIN, bounded too', async () => {
    proxy.setRules([{ fault: 'error', when: (r) => r.list }]);
    await expectError('/faulty-backup/image/upload/shoe.jpg', 502, 'EORIGIN');
    expect(proxy.requests).toHaveLength(RETRIES + 1);
  });

  it('a failure that clears up within the retries is served', async () => {
    let failures = 0;
    proxy.setRules([{ fault: 'error', when: () => failures++ < RETRIES }]);
    await expectImage('/faulty/both.jpg', RED);
    expect(proxy.requests).toHaveLength(RETRIES + 1);
  });

  it(`a slow origin → 504 ETIMEDOUT, each attempt cut at originTimeoutMs (${TIMEOUT_MS} ms)`, async () => {
    proxy.setRules([{ fault: 'slow', delayMs: TIMEOUT_MS * 10 }]);
    const started = Date.now();
    const response = await expectError('/faulty/only-second.jpg', 504, 'ETIMEDOUT');
    const elapsed = Date.now() - started;
    expect(proxy.requests).toHaveLength(RETRIES + 1);
    expect(elapsed).toBeLessThan(TIMEOUT_MS * 10);
    expect(response.body.toString()).not.toMatch(/127\.0\.0\.1|S3RVER/);
  });

  it('a body that stalls after the headers → 504 ETIMEDOUT after originTimeoutMs without data', async () => {
    proxy.setRules([{ fault: 'stall-body', delayMs: TIMEOUT_MS * 20 }]);
    const started = Date.now();
    await expectError('/faulty/both.jpg', 504, 'ETIMEDOUT');
    expect(Date.now() - started).toBeLessThan(TIMEOUT_MS * 3);
  });

  it('a slow listing (Cloudinary backup) → 504 ETIMEDOUT', async () => {
    proxy.setRules([{ fault: 'slow', delayMs: TIMEOUT_MS * 10, when: (r) => r.list }]);
    await expectError('/faulty-backup/image/upload/shoe.jpg', 504, 'ETIMEDOUT');
  });

  // The SDK names a reset connection `TimeoutError` (so that it retries it); the origin did answer.
  it(`a connection the origin resets → 502 EORIGIN saying so, after ${RETRIES + 1} attempts, not 504`, async () => {
    proxy.setRules([{ fault: 'reset' }]);
    const response = await expectError('/faulty/only-second.jpg', 502, 'EORIGIN');
    expect(response.headers.get('x-afterimage-error')).toBe('EORIGIN - Origin "faulty" reset the connection (ECONNRESET)');
    expect(proxy.requests.filter(objectReads('only-second.jpg'))).toHaveLength(RETRIES + 1);
  });

  it('a connection reset while the body is read → 502 EORIGIN', async () => {
    proxy.setRules([{ fault: 'reset-body' }]);
    const response = await expectError('/faulty/both.jpg', 502, 'EORIGIN');
    expect(response.headers.get('x-afterimage-error')).toMatch(/^EORIGIN - Origin "faulty" (reset the connection \(ECONNRESET\)|aborted the connection \(ECONNABORTED\))$/);
  });

  it('a refused connection → 502 EORIGIN saying which origin refused it (the host stays out of the answer)', async () => {
    const response = await expectError('/refusing/only-second.jpg', 502, 'EORIGIN');
    expect(response.headers.get('x-afterimage-error')).toBe('EORIGIN - Origin "refusing" refused the connection (ECONNREFUSED)');
    expect(response.body.toString()).not.toMatch(/127\.0\.0\.1/);
  });

  it('a fault while looking for the default image is not hidden either', async () => {
    proxy.setRules([{ fault: 'denied', when: (r) => r.key === 'defaults/missing.png' }]);
    await expectError('/faulty/tr:di-defaults@@missing.png/nowhere.jpg', 502, 'EACCES');
  });
});

describe('origin failures, as the SDK throws them, become 502/504 naming what failed (spec 5)', () => {
  const origin = parseConfig({ origins: [{ name: 'photos', type: 's3', bucket: 'b' }] }).origins[0];
  /** An error as Node and the SDK's HTTP handler make it (which renames ECONNRESET, EPIPE and ETIMEDOUT TimeoutError, to retry them). */
  const nodeError = (message: string, fields: Record<string, unknown>) => Object.assign(new Error(message), { $metadata: { attempts: 3 } }, fields);

  it.each([
    ['a reset connection', nodeError('read ECONNRESET', { code: 'ECONNRESET', name: 'TimeoutError' }), 502, 'EORIGIN - Origin "photos" reset the connection (ECONNRESET)'],
    ['a broken pipe', nodeError('write EPIPE', { code: 'EPIPE', name: 'TimeoutError' }), 502, 'EORIGIN - Origin "photos" closed the connection while the request was being sent (EPIPE)'],
    ['a refused connection', nodeError('connect ECONNREFUSED 10.0.0.7:9000', { code: 'ECONNREFUSED' }), 502, 'EORIGIN - Origin "photos" refused the connection (ECONNREFUSED)'],
    ['an unknown host', nodeError('getaddrinfo ENOTFOUND minio.internal', { code: 'ENOTFOUND' }), 502, 'EORIGIN - Origin "photos" has a host name that does not resolve (ENOTFOUND)'],
    ['a bad certificate', nodeError('certificate has expired', { code: 'CERT_HAS_EXPIRED' }), 502, 'EORIGIN - Origin "photos" failed the TLS handshake (CERT_HAS_EXPIRED): check its endpoint and certificate'],
    ['the request timeout', nodeError('a request has exceeded the configured 300 ms requestTimeout', { code: 'ETIMEDOUT', name: 'TimeoutError' }), 504, 'ETIMEDOUT - Origin "photos" did not answer in time'],
    ['the connection timeout', nodeError('did not establish a connection within 300 ms', { name: 'TimeoutError' }), 504, 'ETIMEDOUT - Origin "photos" did not answer in time'],
    ['the deadline', nodeError('This operation was aborted', { name: 'AbortError' }), 504, 'ETIMEDOUT - Origin "photos" did not answer in time'],
    ['an S3 error', nodeError('We encountered an internal error', { name: 'InternalError', $metadata: { httpStatusCode: 500 } }), 502, 'EORIGIN - Origin "photos" failed (InternalError 500)'],
    ['an unknown system error', nodeError('write EPROTO', { code: 'EPROTO' }), 502, 'EORIGIN - Origin "photos" failed (EPROTO)'],
    ['no credentials in the default chain', nodeError('Could not load credentials from any providers', { name: 'CredentialsProviderError' }), 502, 'EORIGIN - Origin "photos" has no AWS credentials (CredentialsProviderError): the SDK\'s default chain found none; set AWS_PROFILE, run aws sso login, or give the origin credentials in the configuration'],
    ['an error the SDK wrapped', nodeError('AWS SDK error wrapper for Error: connect ECONNREFUSED 127.0.0.1:1', {}), 502, 'EORIGIN - Origin "photos" refused the connection (ECONNREFUSED)'],
  ])('%s', (_, error, status, header) => {
    const failure = originFailure(error, origin);
    expect({ status: failure.status, header: `${failure.code} - ${failure.message}` }).toEqual({ status, header });
    expect(failure.message).not.toMatch(/10\.0\.0\.7|minio\.internal|127\.0\.0\.1/);
  });
});

describe('encodeKeys (spec 7)', () => {
  it('on: a request for image+example.jpg fetches the object stored as image%2Bexample.jpg', async () => {
    await expectImage('/encoded/image+example.jpg', BLUE);
  });

  it('off: the same request fetches image+example.jpg', async () => {
    await expectImage('/image+example.jpg', YELLOW);
    await expectImage('/image%252Bexample.jpg', BLUE);
  });
});

describe('di-: the default image, through the same endpoint and transformations (spec 3)', () => {
  it('serves the default image when the file is in no origin, transformed the same way', async () => {
    const response = await expectImage('/tr:di-defaults@@missing.png,w-16/nowhere.jpg', BLUE);
    expect(await decode(response.body)).toMatchObject({ width: 16, height: 16, format: 'png' });
    // Short-lived, so the real file shows soon after it is uploaded.
    expect(response.headers.get('cache-control')).toBe('public, max-age=300');
  });

  it('finds the default image through the whole preference list, in the query form too', async () => {
    await expectImage('/nowhere.jpg?tr=di-defaults@@missing.png', BLUE);
    await expectImage('/tr:di-@@defaults@@missing.png/nowhere.jpg', BLUE);
  });

  it('is not used when the file exists', async () => {
    await expectImage('/tr:di-defaults@@missing.png/both.jpg', RED);
  });

  it('404 when neither the file nor the default image exists', async () => {
    await expectError('/tr:di-defaults@@nothing.png/nowhere.jpg', 404, 'ENOENT');
  });

  it('400 for a default image path that could escape the folder', async () => {
    await expectError('/tr:di-..@@secret.png/nowhere.jpg', 400, 'EINVAL');
  });
});
