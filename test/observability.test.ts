// README "Observability": the request record the service fills, the Server-Timing header, the
// Lambda adapter's JSON log line and EMF metrics (Powertools Logger and Metrics 2.36, run for
// real, their stdout captured) and the local server's human line. Requests go through the real
// Lambda adapter in the runtime double, to a real S3 server.

import { createStreamingHandler } from '../lambda/function-url';
import { parseConfig, type AfterimageConfigInput } from '../lambda/config';
import { signUrl } from '../lambda/request/signature';
import { ImageService, type RequestRecord } from '../lambda/service/image-service';
import { redactKey, redactUrl, serverTiming } from '../lambda/service/request-record';
import { DIMENSION, METRIC, METRICS_NAMESPACE, Telemetry } from '../lambda/telemetry';
import { startEmbeddedS3, type EmbeddedS3 } from '../local/embedded-s3';
import { humanLine } from '../local/request-line';
import { seedCloudinaryBackup, seedSamples } from '../local/samples';
import { createLocalServer, listen } from '../local/server';
import { sampleConfig } from '../local/start';
import { LambdaRuntime, awslambdaDouble, functionUrlEvent, installLambdaRuntime, type StreamingHandler } from './helpers/lambda-runtime';

installLambdaRuntime();

// Values that must never reach a log: the bucket keys of the origins and the signing key.
const ACCESS_KEY_ID = 'AKIAOBSERVEDNEVERLOGGED';
const SECRET_ACCESS_KEY = 'secret-access-key-never-logged-7f3a9c';
const PRIVATE_KEY = 'private_signing_key_never_logged_41d2';

let s3: EmbeddedS3;
let runtime: LambdaRuntime;

function configFor(endpoint: string, extra: Partial<AfterimageConfigInput> = {}): AfterimageConfigInput {
  const base = sampleConfig(endpoint);
  const credentials = { source: 'static' as const, accessKeyId: ACCESS_KEY_ID, secretAccessKey: SECRET_ACCESS_KEY };
  return {
    ...base,
    origins: base.origins.map((origin) => ({ ...origin, credentials })),
    endpoints: [...(base.endpoints ?? []), { prefix: 'signed', origins: ['samples'], requireSignedUrls: true }],
    ...extra,
  };
}

function serviceFor(extra: Partial<AfterimageConfigInput> = {}): ImageService {
  return new ImageService(parseConfig(configFor(s3.endpoint, extra)), { signingKey: () => PRIVATE_KEY });
}

// s3rver (in this process) checks SigV4 signatures against its accounts' keys: ours are added,
// so the origins really sign with them.
const s3rverAccounts = require('s3rver/lib/models/account') as { DUMMY_ACCOUNT: { createKeyPair(id: string, secret: string): void } };

beforeAll(async () => {
  s3rverAccounts.DUMMY_ACCOUNT.createKeyPair(ACCESS_KEY_ID, SECRET_ACCESS_KEY);
  delete process.env.POWERTOOLS_DEV; // dev mode would print to the global console and drop metrics
  s3 = await startEmbeddedS3(['afterimage-samples']);
  await seedSamples(s3);
  await seedCloudinaryBackup(s3);
  runtime = await new LambdaRuntime().start();
}, 60_000);

afterAll(async () => {
  await runtime?.stop();
  await s3?.close();
});

/** Everything written to stdout and stderr while `work` runs. */
async function capture<T>(work: () => Promise<T>): Promise<{ result: T; out: string }> {
  const chunks: string[] = [];
  const stdout = process.stdout.write;
  const stderr = process.stderr.write;
  const grab = (chunk: unknown) => {
    chunks.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString('utf8'));
    return true;
  };
  process.stdout.write = grab as typeof process.stdout.write;
  process.stderr.write = grab as typeof process.stderr.write;
  try {
    const result = await work();
    return { result, out: chunks.join('') };
  } finally {
    process.stdout.write = stdout;
    process.stderr.write = stderr;
  }
}

/** Invokes the Lambda adapter (with telemetry) once per path, capturing what it writes. */
async function invokeAll(service: ImageService, paths: string[]) {
  const handler = awslambdaDouble.streamifyResponse(createStreamingHandler({ service }, new Telemetry()) as unknown as StreamingHandler);
  return capture(async () => {
    const results = [];
    for (const path of paths) results.push(await runtime.invoke(handler, functionUrlEvent('GET', path, { accept: 'image/webp', 'x-amz-cf-id': 'cf-request-id==' })));
    return results;
  });
}

function jsonLines(out: string): Record<string, unknown>[] {
  return out
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

const requestLogs = (out: string) => jsonLines(out).filter((line) => line.message === 'request');
const emfBlobs = (out: string) => jsonLines(out).filter((line) => line._aws !== undefined) as (Record<string, unknown> & { _aws: { CloudWatchMetrics: { Namespace: string; Dimensions: string[][]; Metrics: { Name: string; Unit: string }[] }[] } })[];

describe('the log line: one JSON line per request, never a secret', () => {
  const signed = signUrl('https://cdn.test/signed/tr:w-120/products/landscape.jpg', 'https://cdn.test/signed/', PRIVATE_KEY);
  const signature = new URL(signed).searchParams.get('ik-s')!;
  const signedPath = signed.slice('https://cdn.test'.length);
  const forged = signedPath.replace(signature, 'f'.repeat(40));
  const cloudinarySignature = 's--Zm9vYmFyYmF6--';
  const paths = [
    signedPath,
    forged,
    `/demo/image/upload/${cloudinarySignature}/w_200/sample.jpg`,
    '/products/landscape.jpg?X-Amz-Signature=abcdef0123456789&X-Amz-Credential=AKIAQUERYCREDENTIAL',
    '/tr:w-80/products/missing.jpg',
  ];
  let out: string;
  let statuses: number[];

  beforeAll(async () => {
    const { result, out: written } = await invokeAll(serviceFor(), paths);
    out = written;
    statuses = result.map((r) => r.statusCode);
  }, 60_000);

  test('the requests were answered as the URL API says (the signed one verified, the forged one refused)', () => {
    expect(statuses).toEqual([200, 401, 200, 200, 404]);
  });

  test('one line per request, with endpoint, origin, key, status, error code, bytes and stage timings', () => {
    const logs = requestLogs(out);
    expect(logs).toHaveLength(paths.length);
    type Logged = Partial<RequestRecord> & Record<string, unknown> & { timings: Record<string, number | undefined> };
    const [ok, refused, cloudinary, , missing] = logs as Logged[];
    expect(ok).toMatchObject({ level: 'INFO', method: 'GET', endpoint: 'signed', origin: 'samples', key: 'products/landscape.jpg', status: 200, format: 'webp' });
    expect(ok.bytesIn).toBeGreaterThan(1000);
    expect(ok.bytesOut).toBeGreaterThan(100);
    for (const stage of ['lookup', 'fetch', 'queue', 'transform', 'encode', 'total']) expect(typeof ok.timings[stage]).toBe('number');
    expect(ok.function_request_id).toMatch(/^invoke-/); // the Lambda context, added by Powertools
    expect(ok.cloudfrontId).toBe('cf-request-id=='); // CloudFront's x-amz-cf-id, to find it in CloudFront's logs
    expect(refused).toMatchObject({ level: 'WARN', status: 401, errorCode: 'ESIGNATURE', endpoint: 'signed' });
    expect(refused.origin).toBeUndefined();
    expect(cloudinary).toMatchObject({ endpoint: 'demo', origin: 'cloudinary-backup', resolutionCache: 'miss', status: 200 });
    expect(cloudinary.key).toMatch(/^res\/demo\/image\/upload\/sample\//);
    expect(missing).toMatchObject({ status: 404, errorCode: 'ENOENT' });
    expect(typeof missing.timings.lookup).toBe('number');
    expect(missing.timings.transform).toBeUndefined();
  });

  test('signatures are redacted in the logged URL', () => {
    const urls = requestLogs(out).map((line) => line.url);
    expect(urls[0]).toBe('/signed/tr:w-120/products/landscape.jpg?ik-s=REDACTED');
    expect(urls[2]).toBe('/demo/image/upload/s--REDACTED--/w_200/sample.jpg');
    expect(urls[3]).toBe('/products/landscape.jpg?X-Amz-Signature=REDACTED&X-Amz-Credential=REDACTED');
  });

  test('no key, credential or signature appears anywhere in what was written', () => {
    expect(out.length).toBeGreaterThan(0);
    for (const secret of [ACCESS_KEY_ID, SECRET_ACCESS_KEY, PRIVATE_KEY, signature, 'f'.repeat(40), 'Zm9vYmFyYmF6', 'abcdef0123456789', 'AKIAQUERYCREDENTIAL']) {
      expect(out).not.toContain(secret);
    }
  });
});

describe('answers made outside the service are reported too', () => {
  test('a function that could not load its configuration logs a 500 EINTERNAL and counts it', async () => {
    const handler = awslambdaDouble.streamifyResponse(createStreamingHandler({ error: new Error('bad configuration') }, new Telemetry()) as unknown as StreamingHandler);
    const { result, out } = await capture(() => runtime.invoke(handler, functionUrlEvent('GET', '/a.jpg?ik-s=0123456789abcdef')));
    expect(result.statusCode).toBe(500);
    expect(requestLogs(out)).toEqual([expect.objectContaining({ level: 'ERROR', status: 500, errorCode: 'EINTERNAL', url: '/a.jpg?ik-s=REDACTED' })]);
    expect(emfBlobs(out).find((blob) => blob[DIMENSION.errorCode])).toMatchObject({ [DIMENSION.statusClass]: '5xx', [DIMENSION.errorCode]: 'EINTERNAL', [METRIC.requests]: 1 });
    expect(out).not.toContain('0123456789abcdef');
  });
});

describe('metrics in Embedded Metric Format, flushed with each invocation', () => {
  let blobs: ReturnType<typeof emfBlobs>;

  beforeAll(async () => {
    // A miss then a hit of the resolution cache, then a forged signature (a 4xx with its code).
    const { out } = await invokeAll(serviceFor(), ['/demo/image/upload/w_100/sample.jpg', '/demo/image/upload/w_100/sample.jpg', '/signed/products/landscape.jpg?ik-s=00']);
    blobs = emfBlobs(out);
  }, 60_000);

  test('each invocation writes its metrics blob and its by-status blob', () => {
    expect(blobs).toHaveLength(6);
    for (const blob of blobs) {
      expect(blob._aws.CloudWatchMetrics).toHaveLength(1);
      expect(blob._aws.CloudWatchMetrics[0].Namespace).toBe(METRICS_NAMESPACE);
      expect(typeof (blob._aws as unknown as { Timestamp: number }).Timestamp).toBe('number');
      expect(blob.service).toBe('afterimage');
    }
  });

  test('the request blob: requests, bytes out, origin latency, transform time, resolution and originals cache hits and misses', () => {
    const [first, , second] = blobs;
    const names = first._aws.CloudWatchMetrics[0].Metrics.map((m) => `${m.Name}:${m.Unit}`).sort();
    expect(names).toEqual(
      [
        `${METRIC.bytesOut}:Bytes`,
        `${METRIC.originErrors}:Count`,
        `${METRIC.originLatency}:Milliseconds`,
        `${METRIC.originalsCacheHits}:Count`,
        `${METRIC.originalsCacheMisses}:Count`,
        `${METRIC.requests}:Count`,
        `${METRIC.resolutionCacheHits}:Count`,
        `${METRIC.resolutionCacheMisses}:Count`,
        `${METRIC.transformTime}:Milliseconds`,
      ].sort(),
    );
    expect(first._aws.CloudWatchMetrics[0].Dimensions).toEqual([['service']]);
    expect(first).toMatchObject({ [METRIC.requests]: 1, [METRIC.resolutionCacheMisses]: 1, [METRIC.resolutionCacheHits]: 0, [METRIC.originErrors]: 0 });
    expect(second).toMatchObject({ [METRIC.resolutionCacheMisses]: 0, [METRIC.resolutionCacheHits]: 1 });
    expect(first).toMatchObject({ [METRIC.originalsCacheMisses]: 1, [METRIC.originalsCacheHits]: 0 });
    expect(first[METRIC.bytesOut]).toBeGreaterThan(100);
    expect(first[METRIC.transformTime]).toBeGreaterThan(0);
  });

  test('requests by status class, and by error code for errors', () => {
    const byStatus = [blobs[1], blobs[3], blobs[5]];
    expect(byStatus[0]._aws.CloudWatchMetrics[0].Dimensions).toEqual([['service', DIMENSION.statusClass]]);
    expect(byStatus[0]).toMatchObject({ [METRIC.requests]: 1, [DIMENSION.statusClass]: '2xx' });
    // Each invocation's dimensions are its own: nothing is left from the one before.
    expect(byStatus[1]._aws.CloudWatchMetrics[0].Dimensions).toEqual([['service', DIMENSION.statusClass]]);
    expect(byStatus[2]._aws.CloudWatchMetrics[0].Dimensions).toEqual([
      ['service', DIMENSION.statusClass],
      ['service', DIMENSION.errorCode],
    ]);
    expect(byStatus[2]).toMatchObject({ [METRIC.requests]: 1, [DIMENSION.statusClass]: '4xx', [DIMENSION.errorCode]: 'ESIGNATURE' });
    // The request blob has no latency or transform time for a request refused before the origins.
    expect(blobs[4][METRIC.originLatency]).toBeUndefined();
    expect(blobs[4][METRIC.transformTime]).toBeUndefined();
  });
});

describe('a read that failed or was refused names its origin and key', () => {
  const get = (service: ImageService, rawPath: string) => service.serve({ method: 'GET', rawPath, rawQuery: '', headers: {} });

  test('a file over limits.maxInputBytes, refused before its body is read', async () => {
    const { response, record } = await get(serviceFor({ limits: { maxInputBytes: 1000 } }), '/tr:w-50/products/landscape.jpg');
    expect([response.status, record.errorCode]).toEqual([422, 'ELIMIT']);
    expect(record).toMatchObject({ origin: 'samples', key: 'products/landscape.jpg', errorCode: 'ELIMIT' });
    expect(record.bytesIn).toBeUndefined();
  });

  test('an origin that refuses the read (a bucket that is not there)', async () => {
    const base = configFor(s3.endpoint);
    const service = new ImageService(parseConfig({ ...base, origins: base.origins.map((o) => (o.name === 'samples' ? { ...o, bucket: 'no-such-bucket' } : o)) }));
    const { response, record } = await get(service, '/tr:w-50/products/landscape.jpg');
    expect([response.status, record.errorCode]).toEqual([502, 'EACCES']);
    expect(record).toMatchObject({ origin: 'samples', key: 'products/landscape.jpg', errorCode: 'EACCES' });
  });

  test('a Cloudinary backup names the version it read', async () => {
    const { response, record } = await get(serviceFor({ limits: { maxInputBytes: 1000 } }), '/demo/image/upload/w_50/v1600000000/products/sneaker.jpg');
    expect(response.status).toBe(422);
    expect(record).toMatchObject({ origin: 'cloudinary-backup', key: 'res/demo/image/upload/products/sneaker/1600000000.jpg' });
  });
});

describe('originals cache counts, where a record names one', () => {
  test('a hit and a miss are written as OriginalsCacheHits / OriginalsCacheMisses', async () => {
    const base = { method: 'GET', url: '/a.jpg', status: 200, bytesOut: 10, timings: { total: 1 } };
    const telemetry = new Telemetry();
    const { out } = await capture(async () => {
      telemetry.report({ ...base, originalsCache: 'hit' });
      telemetry.report({ ...base, originalsCache: 'miss' });
      telemetry.report(base);
    });
    const requestBlobs = emfBlobs(out).filter((blob) => blob._aws.CloudWatchMetrics[0].Dimensions[0].length === 1);
    expect(requestBlobs.map((blob) => [blob[METRIC.originalsCacheHits], blob[METRIC.originalsCacheMisses]])).toEqual([
      [1, 0],
      [0, 1],
      [undefined, undefined],
    ]);
  });
});

describe('Server-Timing', () => {
  test('names the stages the request went through, in order', async () => {
    const { response } = await serviceFor().serve({ method: 'GET', rawPath: '/tr:w-50/products/landscape.jpg', rawQuery: '', headers: {} });
    expect(response.status).toBe(200);
    expect(response.headers['server-timing']).toMatch(/^lookup;dur=[\d.]+, fetch;dur=[\d.]+, queue;dur=[\d.]+, transform;dur=[\d.]+, encode;dur=[\d.]+, total;dur=[\d.]+$/);
  });

  test('a request answered before the origins has only its total', async () => {
    const { response } = await serviceFor().serve({ method: 'GET', rawPath: '/tr:w-nope/products/landscape.jpg', rawQuery: '', headers: {} });
    expect(response.status).toBe(400);
    expect(response.headers['server-timing']).toMatch(/^total;dur=[\d.]+$/);
  });

  test('output.serverTiming: false leaves it out', async () => {
    const service = serviceFor({ output: { serverTiming: false } });
    const { response, record } = await service.serve({ method: 'GET', rawPath: '/tr:w-50/products/landscape.jpg', rawQuery: '', headers: {} });
    expect(response.status).toBe(200);
    expect(response.headers['server-timing']).toBeUndefined();
    expect(record.timings.encode).toBeGreaterThan(0); // still recorded for the logs
  });

  test('the header value is built from the timings, rounded to 0.1 ms', () => {
    expect(serverTiming({ lookup: 1.234, fetch: 30, transform: 2.06, encode: 7.95, total: 41.3 })).toBe('lookup;dur=1.2, fetch;dur=30, transform;dur=2.1, encode;dur=8, total;dur=41.3');
  });
});

describe('redactUrl', () => {
  test.each([
    ['/a.jpg', 'ik-t=1700000000&ik-s=abc', '/a.jpg?ik-t=1700000000&ik-s=REDACTED'],
    ['/a.jpg', 'tr=w-100&IK-S=abc', '/a.jpg?tr=w-100&IK-S=REDACTED'],
    ['/a.jpg', 'x-amz-security-token=t&signature=s&token=k', '/a.jpg?x-amz-security-token=REDACTED&signature=REDACTED&token=REDACTED'],
    ['/a.jpg', 'ik%2Ds=abc', '/a.jpg?ik%2Ds=REDACTED'],
    ['/cld/image/upload/s--abcdefgh--/v1/a.jpg', '', '/cld/image/upload/s--REDACTED--/v1/a.jpg'],
    ['/s--abcdefgh--/a.jpg', '', '/s--REDACTED--/a.jpg'],
    ['/tr:w-100/a.jpg', '', '/tr:w-100/a.jpg'],
    // A Cloudinary fetch URL's remote URL, percent-encoded in one segment, carries its query in the path.
    ['/demo/image/fetch/w_100/https%3A%2F%2Fimg.example.org%2Fa.jpg%3Fw%3D1%26token%3Dabc', '', '/demo/image/fetch/w_100/https%3A%2F%2Fimg.example.org%2Fa.jpg%3Fw%3D1%26token%3DREDACTED'],
    ['/f/https%3a%2f%2fimg.example.org%2fa.jpg%3fX-Amz-Signature%3Dabc&sig=def%26v%3D2', '', '/f/https%3a%2f%2fimg.example.org%2fa.jpg%3fX-Amz-Signature%3DREDACTED&sig=REDACTED%26v%3D2'],
    ['/products/what%3F.jpg', 'w=1', '/products/what%3F.jpg?w=1'],
  ])('%s?%s', (path, query, expected) => {
    expect(redactUrl(path, query)).toBe(expected);
  });

  test('a long URL is cut after the redaction, so a signature at its end is never half kept', () => {
    const url = redactUrl(`/${'a'.repeat(3000)}.jpg`, 'ik-s=0123456789abcdef');
    expect(url).toHaveLength(2049);
    expect(url.endsWith('…')).toBe(true);
    expect(redactUrl(`/${'a'.repeat(2030)}`, 'ik-s=0123456789abcdef')).not.toContain('0123');
  });
});

describe('redactKey: an origin key as recorded', () => {
  test.each([
    ['products/shoe.jpg', 'products/shoe.jpg'],
    ['res/demo/image/upload/a?token=1/1700000000.jpg', 'res/demo/image/upload/a?token=1/1700000000.jpg'],
    ['https://img.example.org/a.jpg?w=1&token=abc', 'https://img.example.org/a.jpg?w=1&token=REDACTED'],
    ['https://img.example.org/a.jpg?X-Amz-Credential=AKIA%2F1&X-Amz-Signature=abc', 'https://img.example.org/a.jpg?X-Amz-Credential=REDACTED&X-Amz-Signature=REDACTED'],
    ['https://res.cloudinary.com/demo/image/upload/s--abcdefgh--/v1/a.jpg', 'https://res.cloudinary.com/demo/image/upload/s--REDACTED--/v1/a.jpg'],
    ['http://127.0.0.1:8080/media/a.jpg', 'http://127.0.0.1:8080/media/a.jpg'],
  ])('%s', (key, expected) => {
    expect(redactKey(key)).toBe(expected);
  });
});

describe('npm start: one short human line per request', () => {
  test('method, path, status, bytes, time, origin and cache', async () => {
    const records: RequestRecord[] = [];
    const server = createLocalServer(serviceFor(), { onRequest: (record) => records.push(record) });
    const port = await listen(server, 0);
    try {
      for (const path of ['/tr:w-60/products/landscape.jpg', '/demo/image/upload/w_60/sample.jpg', '/nope.jpg']) await (await fetch(`http://127.0.0.1:${port}${path}`)).arrayBuffer();
    } finally {
      server.close();
      server.closeAllConnections();
    }
    const lines = records.map(humanLine);
    expect(lines[0]).toMatch(/^GET \/tr:w-60\/products\/landscape\.jpg 200 [\d.]+ k?B \d+ ms \(samples, originals miss\)$/);
    expect(lines[1]).toMatch(/^GET \/demo\/image\/upload\/w_60\/sample\.jpg 200 [\d.]+ k?B \d+ ms \(cloudinary-backup, resolution miss, originals miss\)$/);
    expect(lines[2]).toMatch(/^GET \/nope\.jpg 404 ENOENT \d+ B \d+ ms$/);
  });
});

describe('output.serverTiming in the configuration', () => {
  test('defaults to on, and must be a boolean', () => {
    expect(parseConfig({ origins: [{ name: 'o', type: 's3', bucket: 'b' }] }).output.serverTiming).toBe(true);
    expect(() => parseConfig({ origins: [{ name: 'o', type: 's3', bucket: 'b' }], output: { serverTiming: 'no' as unknown as boolean } })).toThrow(/output\.serverTiming/);
  });
});
