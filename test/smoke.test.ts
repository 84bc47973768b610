// `npm run smoke`, the post-deploy check, run where it can be: against the local server on a
// real s3rver with real images (every check that makes sense without AWS passes, the AWS-only
// ones say why they do not apply), and against broken servers and stand-ins that answer as
// CloudFront and IAM do, so every check is seen to fail and its first failure explained.

import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { ImageService } from '../lambda/service/image-service';
import { createLocalServer, listen } from '../local/server';
import { BUFFERED_RESPONSE_LIMIT, CHECK_NAMES, runSmokeChecks, type CheckResult, type SmokeDependencies, type SmokeTarget } from '../smoke/checks';
import { UsageError, parseSmokeOptions } from '../smoke/options';
import { exitCode, formatReport } from '../smoke/report';
import { s3Origin, startHarness, type Harness } from '../tools/harness';
import { runCli, runCommand } from './helpers/cli';

const PRIVATE_KEY = 'smoke-test-private-key';
const PHOTO = 'photos/red shoe.jpg';
const LARGE = 'big/noise.png';
/** Short waits between cache-hit attempts: the stand-ins answer at once. */
const FAST: SmokeDependencies = { cacheHitRetryDelaysMs: [5, 5, 5], timeoutMs: 20_000 };

let harness: Harness;
let largeBytes: number;
let photoBytes: Buffer;

beforeAll(async () => {
  // A photo-like JPEG and a noisy PNG over 6 MB (noise does not compress), drawn by sharp.
  photoBytes = await sharp({ create: { width: 900, height: 600, channels: 3, background: '#808080', noise: { type: 'gaussian', mean: 120, sigma: 40 } } }).jpeg().toBuffer();
  const large = await sharp({ create: { width: 1600, height: 1400, channels: 3, background: '#808080', noise: { type: 'gaussian', mean: 128, sigma: 80 } } }).png({ compressionLevel: 1 }).toBuffer();
  largeBytes = large.length;
  harness = await startHarness({
    buckets: ['images'],
    config: (s3) => ({
      origins: [s3Origin(s3, { name: 'main', bucket: 'images' })],
      endpoints: [
        { prefix: '', origins: ['main'] },
        { prefix: '/private', origins: ['main'], requireSignedUrls: true },
      ],
    }),
    seed: async (s3) => {
      await s3.put('images', PHOTO, photoBytes, 'image/jpeg');
      await s3.put('images', LARGE, large, 'image/png');
      await s3.put('images', 'brand/logo.svg', Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="40" height="40"><circle cx="20" cy="20" r="18" fill="#7c3aed"/></svg>'), 'image/svg+xml');
      await s3.put('images', 'docs/readme.txt', Buffer.from('not an image\n'), 'text/plain');
    },
    deps: { signingKey: () => PRIVATE_KEY },
  });
});
afterAll(() => harness.close());

/** Everything the smoke test can be given, pointed at `baseUrl` (the local server by default). */
function target(overrides: Partial<SmokeTarget> = {}): SmokeTarget {
  const baseUrl = overrides.baseUrl ?? harness.baseUrl;
  return {
    baseUrl,
    path: PHOTO,
    largePath: LARGE,
    signing: { privateKey: PRIVATE_KEY, keyEnv: 'SMOKE_KEY', endpointUrl: `${baseUrl}/private/`, path: PHOTO },
    ...overrides,
  };
}

const byName = (results: CheckResult[], name: string) => results.find((r) => r.name === name)!;
const outcomes = (results: CheckResult[]) => Object.fromEntries(results.map((r) => [r.name, r.outcome]));
const firstFailure = (results: CheckResult[]) => results.find((r) => r.outcome === 'fail');

// --- small HTTP servers standing in for a broken function, CloudFront and IAM --------------------

interface TestServer {
  url: string;
  /** `METHOD path` of every request, in order. */
  requests: string[];
  close(): Promise<void>;
}

async function serve(handler: (req: IncomingMessage, res: import('node:http').ServerResponse) => void | Promise<void>): Promise<TestServer> {
  const requests: string[] = [];
  const server: Server = createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    void handler(req, res);
  });
  const port = await listen(server, 0);
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((done) => {
        server.close(() => done());
        server.closeAllConnections();
      }),
  };
}

interface Answer {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
  /** Send the headers and half the body, then drop the connection. */
  cut?: boolean;
}

/** A proxy to the local server that lets a test change what goes in and what comes back. */
function proxy(rewrite: {
  request?: (req: IncomingMessage, headers: Record<string, string>) => void;
  response?: (req: IncomingMessage, answer: Answer) => Answer;
}): Promise<TestServer> {
  return serve(async (req, res) => {
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(req.headers)) {
      if (typeof value === 'string' && !['host', 'connection', 'accept-encoding'].includes(name)) headers[name] = value;
    }
    rewrite.request?.(req, headers);
    const upstream = await fetch(harness.baseUrl + req.url, { method: req.method, headers });
    const answer: Answer = { status: upstream.status, headers: {}, body: Buffer.from(await upstream.arrayBuffer()) };
    upstream.headers.forEach((value, name) => {
      if (!['connection', 'keep-alive', 'transfer-encoding', 'date'].includes(name)) answer.headers[name] = value;
    });
    const out = rewrite.response?.(req, answer) ?? answer;
    res.writeHead(out.status, out.headers);
    if (out.cut) {
      res.write(out.body.subarray(0, out.body.length >> 1));
      setTimeout(() => res.destroy(), 20);
    } else {
      res.end(req.method === 'HEAD' ? undefined : out.body);
    }
  });
}

function withoutHeader(answer: Answer, name: string): Answer {
  const headers = { ...answer.headers };
  delete headers[name];
  return { ...answer, headers };
}

const run = (command: string, args: string[], env: Record<string, string> = {}) => runCommand(command, args, env);
const smokeCli = (args: string[], env: Record<string, string> = {}) => runCli(['smoke', ...args], env);

// --- the checks against the local server ------------------------------------------------------

describe('against the local server (npm start): every check that makes sense there passes', () => {
  it('passes the image, caching-header, error, large-file and signing checks; the AWS-only ones are not applicable, with the reason', async () => {
    expect(largeBytes).toBeGreaterThan(BUFFERED_RESPONSE_LIMIT);
    const results = await runSmokeChecks(target(), FAST);
    expect(results.map((r) => r.name)).toEqual(CHECK_NAMES);
    expect(outcomes(results)).toEqual({
      'f-auto, Accept AVIF': 'pass',
      'f-auto, Accept WebP': 'pass',
      'f-auto, plain Accept': 'pass',
      'ETag, then 304': 'pass',
      HEAD: 'pass',
      '404 with reason': 'pass',
      '400 for a bad chain': 'pass',
      'text layer, shipped font': 'pass',
      'CloudFront cache hit': 'n/a',
      'Function URL refused': 'n/a',
      'response over 6 MB': 'pass',
      'signed URL accepted': 'pass',
      'tampered signed URL refused': 'pass',
    });
    expect(byName(results, 'f-auto, Accept AVIF').detail).toMatch(/^200 image\/avif, .*Vary: Accept$/);
    expect(byName(results, 'f-auto, plain Accept').detail).toMatch(/^200 image\/jpeg/);
    expect(byName(results, '404 with reason').detail).toMatch(/^404 ENOENT - /);
    expect(byName(results, '400 for a bad chain').detail).toMatch(/^400 EINVAL - Invalid transformation "w-abc"/);
    expect(byName(results, 'CloudFront cache hit').detail).toBe('no x-cache header: not served through CloudFront');
    expect(byName(results, 'Function URL refused').detail).toBe('no --function-url or --outputs-file');
    expect(byName(results, 'response over 6 MB').detail).toBe(`${(largeBytes / 1e6).toFixed(1)} MB, all of content-length`);
    expect(byName(results, 'tampered signed URL refused').detail).toMatch(/^401 ESIGNATURE - /);
    expect(exitCode(results)).toBe(0);
  });

  it('`npm run smoke` prints one line per check and exits 0', async () => {
    const { code, stdout, stderr } = await run('npm', ['run', '--silent', 'smoke', '--', harness.baseUrl, '--path', PHOTO, '--large', LARGE, '--signed-key-env', 'SMOKE_KEY', '--signed-endpoint', '/private'], { SMOKE_KEY: PRIVATE_KEY });
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    for (const name of CHECK_NAMES) expect(stdout).toMatch(new RegExp(`^${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} +(pass|n/a) +\\S`, 'm'));
    expect(stdout).toMatch(/^CloudFront cache hit +n\/a +no x-cache header/m);
    expect(stdout).toMatch(/^11 passed, 0 failed, 2 not applicable$/m);
    expect(stdout).not.toMatch(/First failure/);
  });

  it('exits 1 and explains the first failure when --path names no file', async () => {
    const { code, stdout } = await smokeCli([harness.baseUrl, '--path', 'photos/no-such-shoe.jpg']);
    expect(code).toBe(1);
    expect(stdout).toMatch(/^f-auto, Accept AVIF +FAIL +404 ENOENT/m);
    expect(stdout).toMatch(/First failure: f-auto, Accept AVIF\n {2}expected: +200 with image\/avif\n {2}received: +404 ENOENT - .*\n {2}likely cause: the key given with --path is in none of the origins/);
  });

  it('exits 2 with one line naming the problem for a bad command line', async () => {
    const { code, stderr } = await smokeCli([harness.baseUrl]);
    expect(code).toBe(2);
    expect(stderr).toMatch(/^afterimage smoke: --path is required.*\(see afterimage smoke --help\)\n$/);
  });
});

// --- the checks fail where they should ------------------------------------------------------

describe('against a broken deployment the smoke test fails, the first failure explained', () => {
  it('a server that answers a bare 200 with no headers (what a missing prelude looks like): exit 1, "no prelude"', async () => {
    const bare = await serve((req, res) => {
      res.writeHead(200);
      res.end(req.method === 'HEAD' ? undefined : photoBytes);
    });
    try {
      const { code, stdout } = await smokeCli([bare.url, '--path', PHOTO]);
      expect(code).toBe(1);
      expect(stdout).toMatch(/^f-auto, Accept AVIF +FAIL +200 \(no content-type\)/m);
      expect(stdout).toMatch(/First failure: f-auto, Accept AVIF\n {2}expected: +200 with image\/avif\n {2}received: +200 \(no content-type\), .*\n {2}likely cause: no prelude: the answer came without the function's status and headers/);
      for (const name of ['HEAD', '404 with reason', '400 for a bad chain']) expect(stdout).toMatch(new RegExp(`^${name} +FAIL`, 'm'));
    } finally {
      await bare.close();
    }
  });

  it.each([
    ['a 502 without the reason header, as CloudFront relays a Function URL answer with no prelude', 502, {}, /^a 5xx without the function's reason header: .*response stream sent the body without the status-and-headers prelude/],
    ['a 403 from CloudFront itself (x-cache: Error from cloudfront)', 403, { 'x-cache': 'Error from cloudfront' }, /^CloudFront could not invoke the function: the Origin Access Control/],
    ['a 502 EACCES from the function', 502, { 'x-afterimage-error': 'EACCES - The Secrets Manager secret holds no accessKeyId/secretAccessKey yet' }, /^the function cannot read the bucket: put the read-only bucket keys into the stack's secret/],
  ])('%s: the cause says what to fix', async (_what, status, headers, cause) => {
    const failing = await serve((_req, res) => {
      res.writeHead(status, { 'content-type': 'text/plain', ...headers });
      res.end('error\n');
    });
    try {
      const results = await runSmokeChecks(target({ baseUrl: failing.url, largePath: undefined, signing: undefined }), FAST);
      expect(firstFailure(results)).toMatchObject({ name: 'f-auto, Accept AVIF', expected: '200 with image/avif', cause: expect.stringMatching(cause) });
    } finally {
      await failing.close();
    }
  });

  it('nothing listening: every check that needs the host fails, the first explained', async () => {
    const gone = await serve(() => undefined);
    await gone.close();
    const results = await runSmokeChecks(target({ baseUrl: gone.url, largePath: undefined, signing: undefined }), { ...FAST, timeoutMs: 60_000 });
    expect(firstFailure(results)).toMatchObject({
      name: 'f-auto, Accept AVIF',
      detail: expect.stringMatching(/^no answer from 127\.0\.0\.1:\d+: ECONNREFUSED$/),
      cause: expect.stringMatching(/^nothing answered: check the URL/),
    });
    expect(outcomes(results)).toMatchObject({ HEAD: 'fail', '404 with reason': 'fail', 'CloudFront cache hit': 'n/a', 'Function URL refused': 'n/a' });
  });

  it('a host that never answers is asked once: the other checks fail at once with the same reason', async () => {
    const silent = await serve(() => undefined); // accepts, never answers
    try {
      const results = await runSmokeChecks(target({ baseUrl: silent.url, largePath: undefined, signing: undefined }), { ...FAST, timeoutMs: 300 });
      expect(firstFailure(results)).toMatchObject({ name: 'f-auto, Accept AVIF', detail: expect.stringMatching(/: timed out$/) });
      expect(results.filter((r) => r.outcome === 'fail').map((r) => r.detail)).toEqual(Array(8).fill(firstFailure(results)!.detail));
      expect(silent.requests).toHaveLength(1);
    } finally {
      await silent.close();
    }
  });

  it('text drawn without a font (every letter the same box): the text layer check fails and says why', async () => {
    // Stands in for a function without its fonts/ folder: the wide line is drawn as the narrow one.
    const noFonts = await proxy({
      request: (req) => {
        req.url = req.url!.replace('i-WWWWWWWWWW', 'i-iiiiiiiiii');
      },
    });
    try {
      const results = await runSmokeChecks(target({ baseUrl: noFonts.url, largePath: undefined, signing: undefined }), FAST);
      expect(byName(results, 'text layer, shipped font')).toMatchObject({ outcome: 'fail', expected: 'a line of ten W at least twice as wide as a line of ten i', cause: expect.stringMatching(/fonts\/ folder is missing from the Lambda asset/) });
      expect(byName(results, 'HEAD').outcome).toBe('pass');
    } finally {
      await noFonts.close();
    }
  });

  it('Vary dropped: the f-auto checks fail on Vary, the rest still pass', async () => {
    const noVary = await proxy({ response: (_req, answer) => withoutHeader(answer, 'vary') });
    try {
      const results = await runSmokeChecks(target({ baseUrl: noVary.url, largePath: undefined, signing: undefined }), FAST);
      expect(firstFailure(results)).toMatchObject({
        name: 'f-auto, Accept AVIF',
        detail: 'no Vary: Accept (vary: absent)',
        expected: 'Vary: Accept on an f-auto answer',
        cause: expect.stringMatching(/^without Vary: Accept, browsers and other caches keep one format/),
      });
      expect(outcomes(results)).toMatchObject({ 'f-auto, Accept WebP': 'fail', 'f-auto, plain Accept': 'fail', 'ETag, then 304': 'pass', HEAD: 'pass', '404 with reason': 'pass' });
    } finally {
      await noVary.close();
    }
  });

  it('Accept not forwarded (cache key without Accept): AVIF is asked for and JPEG comes back', async () => {
    const noAccept = await proxy({ request: (_req, headers) => delete headers.accept });
    try {
      const results = await runSmokeChecks(target({ baseUrl: noAccept.url, largePath: undefined, signing: undefined }), FAST);
      expect(firstFailure(results)).toMatchObject({
        name: 'f-auto, Accept AVIF',
        expected: 'image/avif',
        received: 'image/jpeg',
        cause: expect.stringMatching(/the cache policy must key on Accept/),
      });
      expect(byName(results, 'f-auto, plain Accept').outcome).toBe('pass');
    } finally {
      await noAccept.close();
    }
  });

  it('HEAD and conditional requests answered with an empty 200 and no headers (the symptom of a handler that never writes): 304 and HEAD fail', async () => {
    const emptyAnswers = await proxy({
      response: (req, answer) => (req.method === 'HEAD' || req.headers['if-none-match'] ? { status: 200, headers: {}, body: Buffer.alloc(0) } : answer),
    });
    try {
      const results = await runSmokeChecks(target({ baseUrl: emptyAnswers.url, largePath: undefined, signing: undefined }), FAST);
      expect(firstFailure(results)).toMatchObject({ name: 'ETag, then 304', expected: expect.stringMatching(/^304 Not Modified/), cause: expect.stringMatching(/^no prelude/) });
      expect(byName(results, 'HEAD')).toMatchObject({ outcome: 'fail', cause: expect.stringMatching(/HEAD came back without the function's headers.*first write\(\)/) });
    } finally {
      await emptyAnswers.close();
    }
  });

  it('HEAD whose content-length differs from the GET body', async () => {
    const wrongLength = await proxy({ response: (req, answer) => (req.method === 'HEAD' ? { ...answer, headers: { ...answer.headers, 'content-length': '12' } } : answer) });
    try {
      const results = await runSmokeChecks(target({ baseUrl: wrongLength.url, largePath: undefined, signing: undefined }), FAST);
      expect(firstFailure(results)).toMatchObject({ name: 'HEAD', detail: expect.stringMatching(/^content-length 12, GET gave \d+ bytes$/) });
    } finally {
      await wrongLength.close();
    }
  });

  it('errors without the reason header (replaced by error pages): 404 and 400 fail', async () => {
    const errorPages = await proxy({ response: (_req, answer) => (answer.status >= 400 ? { status: answer.status, headers: { 'content-type': 'text/html' }, body: Buffer.from('<h1>Error</h1>') } : answer) });
    try {
      const results = await runSmokeChecks(target({ baseUrl: errorPages.url, largePath: undefined, signing: undefined }), FAST);
      expect(firstFailure(results)).toMatchObject({ name: '404 with reason', received: '404, x-afterimage-error: (absent)', cause: expect.stringMatching(/^the 404 did not come from the function/) });
      expect(byName(results, '400 for a bad chain').outcome).toBe('fail');
    } finally {
      await errorPages.close();
    }
  });

  it('a large file cut short: fewer bytes than content-length', async () => {
    const cutShort = await proxy({ response: (req, answer) => ({ ...answer, cut: req.url!.includes('orig-true') && req.method === 'GET' }) });
    try {
      const results = await runSmokeChecks(target({ baseUrl: cutShort.url, signing: undefined }), FAST);
      expect(firstFailure(results)).toMatchObject({
        name: 'response over 6 MB',
        received: expect.stringMatching(new RegExp(`^\\d+ bytes, content-length ${largeBytes}$`)),
        cause: expect.stringMatching(/^the file arrived cut short/),
      });
    } finally {
      await cutShort.close();
    }
  });

  it('--large naming a small file fails: it would prove nothing about streaming', async () => {
    const results = await runSmokeChecks(target({ largePath: PHOTO, signing: undefined }), FAST);
    expect(firstFailure(results)).toMatchObject({ name: 'response over 6 MB', detail: expect.stringMatching(/^only \d+\.\d kB$/) });
  });

  it.each([
    ['an SVG (it keeps its format under f-auto)', 'brand/logo.svg', /^SVG files and animations keep their format under f-auto: name a JPEG or PNG photo/],
    ['a text file (422)', 'docs/readme.txt', /^the file named by --path cannot be transformed \(EUNREADABLE - .*\): name a JPEG or PNG photo/],
  ])('--path naming %s: the cause asks for a photo', async (_what, path, cause) => {
    const results = await runSmokeChecks(target({ path, largePath: undefined, signing: undefined }), FAST);
    expect(firstFailure(results)).toMatchObject({ name: 'f-auto, Accept AVIF', cause: expect.stringMatching(cause) });
  });

  it('signing with another key: the signed URL is refused, and the cause names the secret', async () => {
    const results = await runSmokeChecks(target({ signing: { ...target().signing!, privateKey: 'another key' } }), FAST);
    expect(firstFailure(results)).toMatchObject({ name: 'signed URL accepted', cause: expect.stringMatching(/the privateKey in the stack's secret differs/) });
  });

  it('an endpoint that ignores signatures (no key, not required): the tampered URL is served, which fails', async () => {
    const keyless = createLocalServer(new ImageService(harness.service.config));
    const url = `http://127.0.0.1:${await listen(keyless, 0)}`;
    try {
      const results = await runSmokeChecks(target({ baseUrl: url, largePath: undefined, signing: { ...target().signing!, endpointUrl: `${url}/` } }), FAST);
      expect(byName(results, 'signed URL accepted').outcome).toBe('pass');
      expect(firstFailure(results)).toMatchObject({ name: 'tampered signed URL refused', cause: expect.stringMatching(/did not check the signature/) });
    } finally {
      await new Promise<void>((done) => {
        keyless.close(() => done());
        keyless.closeAllConnections();
      });
    }
  });
});

// --- the AWS-only checks, against stand-ins that answer as CloudFront and IAM do ---------------

describe('CloudFront cache hit: applicable once x-cache is seen, retried a bounded number of times', () => {
  it('never a hit: fails after the bounded retries, "x-cache never Hit"', async () => {
    const alwaysMiss = await proxy({ response: (_req, answer) => ({ ...answer, headers: { ...answer.headers, 'x-cache': 'Miss from cloudfront' } }) });
    const slept: number[] = [];
    try {
      const results = await runSmokeChecks(target({ baseUrl: alwaysMiss.url, largePath: undefined, signing: undefined }), {
        ...FAST,
        sleep: async (ms) => void slept.push(ms),
      });
      expect(firstFailure(results)).toMatchObject({
        name: 'CloudFront cache hit',
        detail: 'x-cache never Hit: Miss from cloudfront, Miss from cloudfront, Miss from cloudfront, Miss from cloudfront',
        cause: expect.stringMatching(/^CloudFront does not keep the answers: the cache policy/),
      });
      expect(slept).toEqual([5, 5, 5]);
    } finally {
      await alwaysMiss.close();
    }
  });

  it('a miss, then a hit on the repeated request: passes', async () => {
    const seen = new Set<string>();
    const caching = await proxy({
      response: (req, answer) => {
        const key = `${req.url} ${req.headers.accept}`;
        const hit = seen.has(key);
        seen.add(key);
        return { ...answer, headers: { ...answer.headers, 'x-cache': hit ? 'Hit from cloudfront' : 'Miss from cloudfront' } };
      },
    });
    try {
      const results = await runSmokeChecks(target({ baseUrl: caching.url, largePath: undefined, signing: undefined }), FAST);
      expect(byName(results, 'CloudFront cache hit')).toMatchObject({ outcome: 'pass', detail: 'Hit from cloudfront (repeat 1)' });
      expect(firstFailure(results)).toBeUndefined();
    } finally {
      await caching.close();
    }
  });
});

describe('Function URL refused: an IAM-protected Function URL answers 403', () => {
  let iam: TestServer;
  beforeAll(async () => {
    iam = await serve((_req, res) => {
      res.writeHead(403, { 'content-type': 'application/json', 'x-amzn-errortype': 'AccessDeniedException' });
      res.end('{"Message":"Forbidden"}');
    });
  });
  afterAll(() => iam.close());

  it('403: passes, and the request carried the endpoint prefix and path as CloudFront would forward them', async () => {
    const results = await runSmokeChecks(target({ baseUrl: `${harness.baseUrl}/private`, functionUrl: `${iam.url}/`, largePath: undefined, signing: undefined }), FAST);
    expect(byName(results, 'Function URL refused')).toMatchObject({ outcome: 'pass', detail: '403: IAM refuses an unsigned call' });
    expect(iam.requests).toEqual([expect.stringMatching(/^GET \/private\/tr:w-\d+\/photos\/red%20shoe\.jpg$/)]);
  });

  it('a Function URL that answers 200 fails: "not protected by IAM"', async () => {
    const results = await runSmokeChecks(target({ functionUrl: `${harness.baseUrl}/`, largePath: undefined, signing: undefined }), FAST);
    expect(firstFailure(results)).toMatchObject({
      name: 'Function URL refused',
      detail: 'Function URL answered 200',
      cause: expect.stringMatching(/^Function URL answered 200: it is not protected by IAM/),
    });
  });

  it('read from `cdk deploy --outputs-file`: FunctionUrl of the stack whose distribution is the URL tested', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'afterimage-smoke-')), 'cdk-outputs.json');
    writeFileSync(
      file,
      JSON.stringify({
        Other: { DistributionUrl: 'https://d999.cloudfront.net', FunctionUrl: 'https://zzz.lambda-url.eu-west-1.on.aws/' },
        Afterimage: { DistributionUrl: harness.baseUrl, FunctionUrl: `${iam.url}/`, SecretArn: 'arn:aws:secretsmanager:…' },
      }),
    );
    const parsed = parseSmokeOptions([harness.baseUrl, '--path', PHOTO, '--outputs-file', file], {});
    expect(parsed.functionUrl).toBe(`${iam.url}/`);
    const results = await runSmokeChecks(parsed, FAST);
    expect(byName(results, 'Function URL refused').outcome).toBe('pass');
  });
});

// --- the command line ------------------------------------------------------------------------

describe('command line', () => {
  const outputsFile = (json: unknown) => {
    const file = join(mkdtempSync(join(tmpdir(), 'afterimage-smoke-')), 'outputs.json');
    writeFileSync(file, JSON.stringify(json));
    return file;
  };

  it('takes the distribution URL (with an endpoint prefix) and the key', () => {
    expect(parseSmokeOptions(['https://d111.cloudfront.net/images/', '--path', '/products/shoe.jpg'], {})).toEqual({
      baseUrl: 'https://d111.cloudfront.net/images',
      path: '/products/shoe.jpg',
    });
  });

  it('requires --path, and names what is wrong', () => {
    expect(() => parseSmokeOptions(['https://d111.cloudfront.net'], {})).toThrow(UsageError);
    expect(() => parseSmokeOptions(['https://d111.cloudfront.net'], {})).toThrow(/--path is required/);
    expect(() => parseSmokeOptions(['ftp://x', '--path', 'a.jpg'], {})).toThrow(/must be an http\(s\) URL/);
    expect(() => parseSmokeOptions(['https://x', '--path', 'a.jpg', '--bogus', '1'], {})).toThrow(/Unknown option --bogus/);
    expect(() => parseSmokeOptions(['https://x', '--path'], {})).toThrow(/--path needs a value/);
  });

  it('--signed-key-env reads the key from that variable; --signed-endpoint takes a prefix or a URL', () => {
    expect(parseSmokeOptions(['https://x.net', '--path', 'a.jpg', '--signed-key-env', 'K', '--signed-endpoint', '/private'], { K: 'secret' }).signing).toEqual({
      privateKey: 'secret',
      keyEnv: 'K',
      endpointUrl: 'https://x.net/private/',
      path: 'a.jpg',
    });
    expect(parseSmokeOptions(['https://x.net/img', '--path', 'a.jpg', '--signed-key-env=K', '--signed-path', 'b.jpg'], { K: 'secret' }).signing).toMatchObject({ endpointUrl: 'https://x.net/img/', path: 'b.jpg' });
    expect(() => parseSmokeOptions(['https://x.net', '--path', 'a.jpg', '--signed-key-env', 'K'], {})).toThrow(/the environment variable K is empty or not set/);
    expect(() => parseSmokeOptions(['https://x.net', '--path', 'a.jpg', '--signed-endpoint', '/p'], {})).toThrow(/need --signed-key-env/);
  });

  it('--outputs-file alone gives the distribution URL too; without a FunctionUrl output the check is not applicable, and says why', () => {
    const one = outputsFile({ Afterimage: { DistributionUrl: 'https://d111.cloudfront.net', SecretArn: 'arn' } });
    const parsed = parseSmokeOptions(['--outputs-file', one, '--path', 'a.jpg'], {});
    expect(parsed.baseUrl).toBe('https://d111.cloudfront.net');
    expect(parsed.functionUrl).toBeUndefined();
    expect(parsed.functionUrlAbsent).toBe(`${one} has no FunctionUrl output for Afterimage: pass --function-url`);
  });

  it('finds a Function URL under another output name by its value; several stacks need the distribution URL to choose', () => {
    const renamed = outputsFile({ Images: { DistributionDomainName: 'd222.cloudfront.net', ImagesFnUrlA1B2: 'https://abc123.lambda-url.us-east-1.on.aws/' } });
    expect(parseSmokeOptions(['--outputs-file', renamed, '--path', 'a.jpg'], {})).toMatchObject({ baseUrl: 'https://d222.cloudfront.net', functionUrl: 'https://abc123.lambda-url.us-east-1.on.aws/' });
    const two = outputsFile({ A: { DistributionUrl: 'https://a.net' }, B: { DistributionUrl: 'https://b.net', FunctionUrl: 'https://b.lambda-url.us-east-1.on.aws/' } });
    expect(parseSmokeOptions(['https://b.net', '--outputs-file', two, '--path', 'a.jpg'], {}).functionUrl).toBe('https://b.lambda-url.us-east-1.on.aws/');
    expect(() => parseSmokeOptions(['--outputs-file', two, '--path', 'a.jpg'], {})).toThrow(/holds several stacks \(A, B\)/);
    expect(() => parseSmokeOptions(['--outputs-file', outputsFile([1]), '--path', 'a.jpg'], {})).toThrow(/is not a cdk outputs file/);
  });
});

describe('the printout', () => {
  it('one line per check, the counts, and only the first failure explained', () => {
    const text = formatReport(
      [
        { name: 'f-auto, Accept AVIF', outcome: 'pass', detail: '200 image/avif, 3.5 kB, Vary: Accept' },
        { name: 'HEAD', outcome: 'fail', detail: '200 (no content-type)', expected: 'e1', received: 'r1', cause: 'c1' },
        { name: 'CloudFront cache hit', outcome: 'n/a', detail: 'no x-cache header: not served through CloudFront' },
        { name: '404 with reason', outcome: 'fail', detail: 'd2', expected: 'e2', received: 'r2', cause: 'c2' },
      ],
      'afterimage smoke test of http://x',
    );
    expect(text).toBe(
      [
        'afterimage smoke test of http://x',
        '',
        'check                 result  detail',
        'f-auto, Accept AVIF   pass    200 image/avif, 3.5 kB, Vary: Accept',
        'HEAD                  FAIL    200 (no content-type)',
        'CloudFront cache hit  n/a     no x-cache header: not served through CloudFront',
        '404 with reason       FAIL    d2',
        '',
        '1 passed, 2 failed, 1 not applicable',
        '',
        'First failure: HEAD',
        '  expected:     e1',
        '  received:     r1',
        '  likely cause: c1',
        '',
      ].join('\n'),
    );
  });
});
