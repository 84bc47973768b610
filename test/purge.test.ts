// README "Fixing a stale image": `afterimage purge` sends one CreateInvalidation with the AWS SDK's
// real CloudFront client, spawned as a user runs it, to a local stand-in for the CloudFront API
// (node:http) that answers as the API reference describes CreateInvalidation (2020-05-31):
// POST /2020-05-31/distribution/<Id>/invalidation with an <InvalidationBatch> body, answered
// 201 with a Location header and an <Invalidation> body; errors as <ErrorResponse>.

import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { distributionIdFrom, invalidationPathFor, MAX_WILDCARD_PATHS } from '../cli/commands/purge';
import { parseConfig } from '../lambda/config';
import { runCli } from './helpers/cli';

const CONFIG_INPUT = {
  origins: [{ name: 'media', type: 's3', bucket: 'media' }, { name: 'cld', type: 'cloudinary-backup', bucket: 'backup', folder: '/res/demo/' }],
  endpoints: [
    { prefix: '', origins: ['media'] },
    { prefix: 'demo', origins: ['cld'], cloudinaryUrls: true },
  ],
};
const config = parseConfig(CONFIG_INPUT);
const dir = mkdtempSync(join(tmpdir(), 'afterimage-purge-'));
const configFile = join(dir, 'afterimage.config.json');
const outputsFile = join(dir, 'cdk-outputs.json');
writeFileSync(configFile, JSON.stringify(CONFIG_INPUT));
writeFileSync(outputsFile, JSON.stringify({ AfterimageStack: { DistributionUrl: 'https://d111.cloudfront.net', DistributionId: 'E2EXAMPLE123', FunctionUrl: 'https://x.lambda-url.us-east-1.on.aws/' } }));

interface Received {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

const received: Received[] = [];
let answer: (request: Received) => { status: number; headers: Record<string, string>; body: string };
let api: Server;
let endpoint: string;

const invalidationXml = (id: string, callerReference: string, paths: string[]) =>
  '<?xml version="1.0" encoding="UTF-8"?>\n' +
  '<Invalidation xmlns="http://cloudfront.amazonaws.com/doc/2020-05-31/">' +
  `<Id>${id}</Id><Status>InProgress</Status><CreateTime>2026-11-29T13:00:00.000Z</CreateTime>` +
  `<InvalidationBatch><Paths><Quantity>${paths.length}</Quantity><Items>${paths.map((p) => `<Path>${p}</Path>`).join('')}</Items></Paths>` +
  `<CallerReference>${callerReference}</CallerReference></InvalidationBatch></Invalidation>`;

const created = (request: Received) => {
  const id = 'I2J0I21PCUYOIK';
  const paths = [...request.body.matchAll(/<Path>([^<]*)<\/Path>/g)].map((m) => m[1]);
  const callerReference = /<CallerReference>([^<]*)<\/CallerReference>/.exec(request.body)?.[1] ?? '';
  const distribution = /^\/2020-05-31\/distribution\/([^/]+)\/invalidation$/.exec(request.url)?.[1];
  return {
    status: 201,
    headers: { 'content-type': 'text/xml', location: `https://cloudfront.amazonaws.com/2020-05-31/distribution/${distribution}/invalidation/${id}`, 'x-amzn-requestid': 'req-1' },
    body: invalidationXml(id, callerReference, paths),
  };
};

beforeAll(async () => {
  api = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      const request = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body };
      received.push(request);
      const reply = answer(request);
      res.writeHead(reply.status, reply.headers);
      res.end(reply.body);
    });
  });
  await new Promise<void>((resolve) => api.listen(0, '127.0.0.1', resolve));
  endpoint = `http://127.0.0.1:${(api.address() as AddressInfo).port}`;
});

afterAll(() => new Promise<void>((resolve) => api.close(() => resolve())));

beforeEach(() => {
  received.length = 0;
  answer = created;
});

/** The CLI with keys for the stand-in only: no profile, no config file of this machine is read. */
const purgeCli = (args: string[]) =>
  runCli(['purge', ...args], {
    AWS_ENDPOINT_URL_CLOUDFRONT: endpoint,
    AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE',
    AWS_SECRET_ACCESS_KEY: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
    AWS_SESSION_TOKEN: '',
    AWS_PROFILE: '',
    AWS_REGION: '',
    AWS_DEFAULT_REGION: '',
    AWS_CONFIG_FILE: join(dir, 'no-aws-config'),
    AWS_SHARED_CREDENTIALS_FILE: join(dir, 'no-aws-credentials'),
  });

describe('afterimage purge, against a stand-in CloudFront API', () => {
  test('sends one CreateInvalidation: the image paths, a fresh CallerReference, signed with SigV4 for cloudfront', async () => {
    const { code, stdout, stderr } = await purgeCli([
      '/tr:w-300/products/shoe.jpg',
      'https://d111.cloudfront.net/products/shoe.jpg?tr=w-100',
      '/demo/image/upload/c_fill,w_200/v1700000000/products/sneaker.jpg',
      '/products/archive/',
      '--config',
      configFile,
      '--outputs-file',
      outputsFile,
    ]);
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    expect(received).toHaveLength(1);
    const [request] = received;
    expect(request.method).toBe('POST');
    expect(request.url).toBe('/2020-05-31/distribution/E2EXAMPLE123/invalidation');
    expect(request.body).toMatch(/^<\?xml version="1\.0" encoding="UTF-8"\?><InvalidationBatch xmlns="http:\/\/cloudfront\.amazonaws\.com\/doc\/2020-05-31\/">/);
    // The two URLs of shoe.jpg are one path: each counts once against the free 1,000.
    expect([...request.body.matchAll(/<Path>([^<]*)<\/Path>/g)].map((m) => m[1])).toEqual([
      '/products/shoe.jpg/!*',
      '/demo/image/upload/products/sneaker.jpg/!*',
      '/products/archive/*',
    ]);
    expect(request.body).toMatch(/<Quantity>3<\/Quantity>/);
    expect(request.body).toMatch(/<CallerReference>afterimage-purge-\d{4}-\d\d-\d\dT[\d:.]+Z-[0-9a-f]{8}<\/CallerReference>/);
    expect(request.headers.authorization).toMatch(/^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\/\d{8}\/us-east-1\/cloudfront\/aws4_request, SignedHeaders=[^,]*host[^,]*, Signature=[0-9a-f]{64}$/);
    expect(request.headers['x-amz-date']).toMatch(/^\d{8}T\d{6}Z$/);
    expect(stdout).toContain('/tr:w-300/products/shoe.jpg -> /products/shoe.jpg/!*\n');
    expect(stdout).toContain('Invalidation I2J0I21PCUYOIK (InProgress) on distribution E2EXAMPLE123: 3 paths.');
  });

  test('--wait asks GetInvalidation until CloudFront says Completed', async () => {
    const statuses = ['InProgress', 'Completed'];
    answer = (request) => {
      if (request.method === 'POST') return created(request);
      const status = statuses.shift() ?? 'Completed';
      return { status: 200, headers: { 'content-type': 'text/xml' }, body: invalidationXml('I2J0I21PCUYOIK', 'ref', ['/a.jpg/!*']).replace('InProgress', status) };
    };
    const { code, stdout, stderr } = await purgeCli(['/a.jpg', '--wait', '--config', configFile, '--outputs-file', outputsFile]);
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    expect(received.map((r) => `${r.method} ${r.url}`)).toEqual([
      'POST /2020-05-31/distribution/E2EXAMPLE123/invalidation',
      'GET /2020-05-31/distribution/E2EXAMPLE123/invalidation/I2J0I21PCUYOIK',
      'GET /2020-05-31/distribution/E2EXAMPLE123/invalidation/I2J0I21PCUYOIK',
    ]);
    expect(stdout).toMatch(/Completed: CloudFront serves fresh copies now/);
  }, 30_000);

  test('every run is a new CallerReference (CloudFront refuses a reused one with other paths)', async () => {
    await purgeCli(['/a.jpg', '--config', configFile, '--distribution-id', 'EDIRECT']);
    await purgeCli(['/a.jpg', '--config', configFile, '--distribution-id', 'EDIRECT']);
    expect(received.map((r) => r.url)).toEqual(['/2020-05-31/distribution/EDIRECT/invalidation', '/2020-05-31/distribution/EDIRECT/invalidation']);
    const references = received.map((r) => /<CallerReference>([^<]*)</.exec(r.body)?.[1]);
    expect(references[0]).not.toBe(references[1]);
  });

  test('an API error is one line with CloudFront\'s message, exit code 1', async () => {
    answer = () => ({
      status: 400,
      headers: { 'content-type': 'text/xml', 'x-amzn-requestid': 'req-2' },
      body:
        '<?xml version="1.0"?><ErrorResponse xmlns="http://cloudfront.amazonaws.com/doc/2020-05-31/"><Error><Type>Sender</Type>' +
        '<Code>TooManyInvalidationsInProgress</Code><Message>Processing your request will cause you to exceed the maximum number of in-progress wildcard invalidations.</Message></Error><RequestId>req-2</RequestId></ErrorResponse>',
    });
    const { code, stdout, stderr } = await purgeCli(['/a.jpg', '--config', configFile, '--outputs-file', outputsFile]);
    expect(code).toBe(1);
    expect(stdout).toBe('/a.jpg -> /a.jpg/!*\n');
    expect(stderr).toBe('afterimage purge: Processing your request will cause you to exceed the maximum number of in-progress wildcard invalidations.\n');
  });

  test('--dry-run prints the paths and sends nothing', async () => {
    const { code, stdout } = await purgeCli(['/tr:w-1/x.jpg', '/demo/image/upload/w_10/x.jpg', '--dry-run', '--config', configFile]);
    expect(code).toBe(0);
    expect(stdout).toBe('/tr:w-1/x.jpg -> /x.jpg/!*\n/demo/image/upload/w_10/x.jpg -> /demo/image/upload/x.jpg/!*\n');
    expect(received).toHaveLength(0);
  });

  test(`more than ${MAX_WILDCARD_PATHS} paths (CloudFront's wildcard limit in progress) is refused before anything is sent`, async () => {
    const paths = Array.from({ length: MAX_WILDCARD_PATHS + 1 }, (_, i) => `/p/${i}.jpg`);
    const { code, stderr } = await purgeCli([...paths, '--config', configFile, '--outputs-file', outputsFile]);
    expect(code).toBe(2);
    expect(stderr).toMatch(/16 invalidation paths: CloudFront allows 15 wildcard paths in progress at a time/);
    expect(received).toHaveLength(0);
  });

  test('a path that is no image on any endpoint, or no distribution to purge, is exit code 2 before anything is sent', async () => {
    const noImage = await purgeCli(['/bad%ZZ.jpg', '--config', configFile, '--outputs-file', outputsFile]);
    expect(noImage.code).toBe(2);
    expect(noImage.stderr).toMatch(/\/bad%ZZ\.jpg is not an image path on any endpoint/);
    // A transformation with no image is not a folder: it would be `/*`, everything.
    const everything = await purgeCli(['/tr:w-300/', '--config', configFile, '--outputs-file', outputsFile]);
    expect(everything).toMatchObject({ code: 2, stderr: expect.stringMatching(/\/tr:w-300\/: a folder is written without transformations/) });
    const twoStacks = join(dir, 'two.json');
    writeFileSync(twoStacks, JSON.stringify({ A: { DistributionId: 'E1' }, B: { DistributionId: 'E2' } }));
    const ambiguous = await purgeCli(['/a.jpg', '--config', configFile, '--outputs-file', twoStacks]);
    expect(ambiguous).toMatchObject({ code: 2, stderr: expect.stringMatching(/holds several stacks \(A, B\): pass --distribution-id/) });
    expect(received).toHaveLength(0);
  });
});

describe('invalidation paths', () => {
  it.each([
    ['/products/shoe.jpg', '/products/shoe.jpg/!*'],
    ['products/shoe.jpg', '/products/shoe.jpg/!*'],
    ['https://cdn.example.com/tr:w-300,h-300/products/shoe.jpg?tr=bl-1&ik-s=x', '/products/shoe.jpg/!*'],
    ['/products/caf%C3%A9%402x.jpg', '/products/caf%C3%A9@2x.jpg/!*'],
    ['/demo/image/upload/v1600000000/products/sneaker.jpg', '/demo/image/upload/products/sneaker.jpg/!*'],
    ['/demo/image/upload/products/', '/demo/image/upload/products/*'],
    ['/', '/*'],
  ])('%s -> %s', (input, path) => {
    expect(invalidationPathFor(config, input)).toBe(path);
  });

  test('the DistributionId output is read from the cdk outputs file', () => {
    expect(distributionIdFrom(outputsFile)).toBe('E2EXAMPLE123');
  });
});
