// `afterimage doctor` against a real S3-protocol server (s3rver 3.7.1). s3rver knows one key id
// (S3RVER) and answers any other with S3's 403 InvalidAccessKeyId, but it does not check SigV4
// signatures and has no IAM: the fault proxy in front of it stands in for IAM. It knows two more
// users, forwards their requests as S3RVER, and answers what their policy lacks (s3:ListBucket or
// s3:GetObject) with a 403 AccessDenied in S3's error XML, as S3 does. A missing bucket is
// s3rver's own 404 NoSuchBucket; an unreachable endpoint is a closed loopback port.

import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createServer as createHttpServer } from 'node:http';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import sharp from 'sharp';
import { doctor } from '../cli/commands/doctor';
import { EMBEDDED_KEYS, startEmbeddedS3, type EmbeddedS3 } from '../local/embedded-s3';
import { startFaultProxy, type FaultProxy } from './helpers/fault-proxy';

const root = resolve(__dirname, '..');
const dir = mkdtempSync(join(tmpdir(), 'afterimage-doctor-'));
let s3: EmbeddedS3;
let iam: FaultProxy;

/** The key ids the stand-in for IAM knows, and what each may do. */
const KEYS: Record<string, { list: boolean; get: boolean }> = {
  [EMBEDDED_KEYS.accessKeyId]: { list: true, get: true },
  'READER-NO-LIST': { list: false, get: true },
  'LISTER-NO-READ': { list: true, get: false },
};

beforeAll(async () => {
  s3 = await startEmbeddedS3(['media', 'backup']);
  const jpeg = await sharp({ create: { width: 64, height: 48, channels: 3, background: '#336699' } }).jpeg().toBuffer();
  await s3.put('media', 'photos/products/shoe.jpg', jpeg, 'image/jpeg');
  await s3.put('backup', 'res/demo/image/upload/products/hat/1700000000.jpg', jpeg, 'image/jpeg');
  iam = await startFaultProxy(s3.endpoint, { 'READER-NO-LIST': 'S3RVER', 'LISTER-NO-READ': 'S3RVER' });
  iam.setRules([
    // An unknown key id is forwarded: s3rver itself answers InvalidAccessKeyId.
    { fault: 'denied', when: (r) => r.list && KEYS[r.accessKeyId!]?.list === false },
    { fault: 'denied', when: (r) => !r.list && KEYS[r.accessKeyId!]?.get === false },
  ]);
});
afterAll(async () => {
  await iam.close();
  await s3.close();
});

const keys = { source: 'static', ...EMBEDDED_KEYS };

function writeConfig(name: string, config: unknown): string {
  const file = join(dir, `${name}.json`);
  writeFileSync(file, JSON.stringify(config));
  return file;
}

function mediaConfig(endpoint: string, overrides: Record<string, unknown> = {}) {
  return {
    origins: [
      { name: 'media', type: 's3', bucket: 'media', folder: '/photos/', endpoint, credentials: keys, ...overrides },
      { name: 'backup', type: 'cloudinary-backup', bucket: 'backup', folder: '/res/demo/image/upload/', endpoint, credentials: keys },
    ],
    endpoints: [
      { prefix: '', origins: ['media', 'backup'] },
      { prefix: '/demo', origins: ['backup'], cloudinaryUrls: true },
    ],
  };
}

async function run(argv: string[], io: Parameters<typeof doctor.run>[1] = {}): Promise<{ code: number; out: string }> {
  const lines: string[] = [];
  const code = await doctor.run(argv, { env: {}, ...io, print: (line) => lines.push(line) });
  return { code, out: lines.join('\n') };
}

describe('doctor with good keys', () => {
  it('lists and reads every origin, resolves the samples through every origin of every endpoint, exits 0', async () => {
    const file = writeConfig('good', mediaConfig(iam.endpoint));
    const { code, out } = await run([file, '--sample', 'products/shoe.jpg', '--sample', '/products/hat.jpg']);
    expect(out).toContain(`✓ configuration ${file} is valid: 2 origin(s), 2 endpoint(s)`);
    expect(out).toContain('✓ origin "media": s3://media/photos/ can be listed, first key photos/products/shoe.jpg');
    expect(out).toContain('✓ origin "media": photos/products/shoe.jpg can be read');
    expect(out).toContain('✓ origin "backup": res/demo/image/upload/products/hat/1700000000.jpg can be read');
    expect(out).toMatch(/✓ endpoint \/ origin "media": products\/shoe\.jpg resolves to key photos\/products\/shoe\.jpg, \d+ bytes, image\/jpeg/);
    // The backup's layout is resolved as a request would: listing the versions of products/hat.
    expect(out).toContain('· endpoint / origin "media": products/hat.jpg is not there');
    expect(out).toMatch(/✓ endpoint \/demo\/ origin "backup": products\/hat\.jpg resolves to key res\/demo\/image\/upload\/products\/hat\/1700000000\.jpg/);
    expect(out).toContain('! endpoint /demo/: products/shoe.jpg is in none of its origins (backup): a request gets 404');
    expect(out).not.toContain('✗');
    expect(code).toBe(0);
  });

  it('fails a sample that no endpoint resolves', async () => {
    const file = writeConfig('good2', mediaConfig(iam.endpoint));
    const { code, out } = await run([file, '--sample', 'products/nope.jpg']);
    expect(out).toContain('✗ products/nope.jpg resolves through no endpoint');
    expect(code).toBe(1);
  });
});

describe('doctor with bad keys (IAM played by the proxy)', () => {
  it('names a key id S3 does not know', async () => {
    const file = writeConfig('k1', mediaConfig(iam.endpoint));
    const { code, out } = await run([file, '--access-key-id', 'AKIANOBODY'], { env: { AFTERIMAGE_SECRET_ACCESS_KEY: 'x' } });
    expect(out).toContain('✗ origin "media": listing s3://media/photos/ failed: the access key id is not known to');
    expect(out).toContain('(InvalidAccessKeyId 403)');
    expect(code).toBe(1);
  });

  it('prints the missing s3:ListBucket statement for the bucket ARN (no s3:prefix condition: it would bring back 403 for a missing file)', async () => {
    const file = writeConfig('k2', mediaConfig(iam.endpoint));
    const { code, out } = await run([file, '--access-key-id', 'READER-NO-LIST'], { env: { AFTERIMAGE_SECRET_ACCESS_KEY: 'x' } });
    expect(out).toContain('✗ origin "media": listing s3://media/photos/ failed: access denied (AccessDenied 403)');
    expect(out).toContain('{"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::media"})');
    expect(code).toBe(1);
  });

  it('prints the missing s3:GetObject statement for the folder, and fails the sample resolution', async () => {
    const file = writeConfig('k3', mediaConfig(iam.endpoint));
    const { code, out } = await run([file, '--access-key-id', 'LISTER-NO-READ', '--sample', 'products/shoe.jpg'], { env: { AFTERIMAGE_SECRET_ACCESS_KEY: 'x' } });
    expect(out).toContain('✓ origin "media": s3://media/photos/ can be listed');
    expect(out).toContain('✗ origin "media": reading photos/products/shoe.jpg failed: access denied (AccessDenied 403)');
    expect(out).toContain('{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::media/photos/*"}');
    expect(out).toContain('✗ endpoint / origin "media": resolving products/shoe.jpg failed: Origin "media" refused the request (AccessDenied 403)');
    expect(code).toBe(1);
  });

  it('checks with the keys held in the stack\'s secret, read by the SDK\'s Secrets Manager client from a stubbed endpoint', async () => {
    const config = mediaConfig(iam.endpoint);
    for (const o of config.origins) (o as Record<string, unknown>).credentials = { source: 'secret' };
    const file = writeConfig('secret', config);
    const stub = await startSecretsManagerStub();
    try {
      const client = new SecretsManagerClient({ endpoint: stub.endpoint, region: 'us-east-1', credentials: { accessKeyId: 'DEV', secretAccessKey: 'dev' } });
      stub.answer = () => [200, { Name: 'afterimage-keys', SecretString: JSON.stringify(EMBEDDED_KEYS) }];
      const good = await run([file, '--lambda', '--secret', 'afterimage-keys'], { secretsClient: client });
      expect(stub.asked).toEqual([{ target: 'secretsmanager.GetSecretValue', secretId: 'afterimage-keys' }]);
      expect(good.out).toContain(`✓ keys: secret afterimage-keys holds access key ${EMBEDDED_KEYS.accessKeyId}`);
      expect(good.code).toBe(0);

      stub.answer = () => [200, { Name: 'afterimage-keys', SecretString: JSON.stringify({ accessKeyId: 'READER-NO-LIST', secretAccessKey: 'x' }) }];
      const denied = await run([file, '--secret', 'afterimage-keys'], { secretsClient: client });
      expect(denied.out).toContain('✗ origin "media": listing s3://media/photos/ failed: access denied');
      expect(denied.code).toBe(1);

      // An endpoint that requires signed URLs finds its key in the secret, or is reported.
      const signedConfig = { ...config, endpoints: [...config.endpoints, { prefix: '/private', origins: ['media'], requireSignedUrls: true, signingKeyName: 'vault' }] };
      const signedFile = writeConfig('secret-signed', signedConfig);
      stub.answer = () => [200, { SecretString: JSON.stringify({ ...EMBEDDED_KEYS, privateKeys: { vault: ['vault-key-new-4711', 'vault-key-old-0815'] } }) }];
      const withKey = await run([signedFile, '--secret', 'afterimage-keys'], { secretsClient: client });
      expect(withKey.out).toContain("✓ endpoint /private/: signed URLs verify with the secret's privateKeys.vault (2 keys, a rotation)");
      expect(withKey.out).not.toMatch(/vault-key-/);
      expect(withKey.code).toBe(0);
      stub.answer = () => [200, { SecretString: JSON.stringify({ ...EMBEDDED_KEYS, privateKey: 'not this one' }) }];
      const withoutKey = await run([signedFile, '--secret', 'afterimage-keys'], { secretsClient: client });
      expect(withoutKey.out).toContain('✗ endpoint /private/ requires signed URLs, but the secret afterimage-keys has no privateKeys.vault: every request there is a 500');
      expect(withoutKey.out).toContain('fix: add "privateKeys": {"vault": "…"} to the secret\'s JSON');
      expect(withoutKey.out).not.toContain('not this one');
      expect(withoutKey.code).toBe(1);

      stub.answer = () => [200, { Name: 'afterimage-keys', SecretString: '{"accessKeyId":"","secretAccessKey":""}' }];
      const empty = await run([file, '--secret', 'afterimage-keys'], { secretsClient: client });
      expect(empty.out).toContain('✗ secret afterimage-keys holds no accessKeyId/secretAccessKey yet');
      expect(empty.code).toBe(1);

      // Secrets Manager's JSON error answers (HTTP 400 with __type), as its API reference lists them.
      const arn = 'arn:aws:secretsmanager:us-east-1:111111111111:secret:afterimage-keys-AbCdEf';
      stub.answer = () => [400, { __type: 'AccessDeniedException', Message: 'User: arn:aws:iam::111111111111:user/dev is not authorized to perform: secretsmanager:GetSecretValue' }];
      const noRead = await run([file, '--secret', arn], { secretsClient: client });
      expect(noRead.out).toContain(`✗ secret ${arn} could not be read (AccessDeniedException)`);
      expect(noRead.out).toContain(`{"Effect":"Allow","Action":"secretsmanager:GetSecretValue","Resource":"${arn}"}`);
      expect(noRead.code).toBe(1);

      stub.answer = () => [400, { __type: 'ResourceNotFoundException', Message: "Secrets Manager can't find the specified secret." }];
      const missing = await run([file, '--secret', 'afterimage-kyes'], { secretsClient: client });
      expect(missing.out).toContain('✗ secret afterimage-kyes could not be read (ResourceNotFoundException)');
      expect(missing.out).toContain('check the name or ARN');
      expect(missing.code).toBe(1);
      client.destroy();
    } finally {
      await stub.close();
    }
  });
});

/** A stand-in for the Secrets Manager endpoint (JSON 1.1 protocol: POST /, X-Amz-Target names the action). */
async function startSecretsManagerStub() {
  const asked: { target: string; secretId: string }[] = [];
  const stub = {
    endpoint: '',
    asked,
    answer: (): [number, object] => [500, {}],
    close: () => new Promise<void>((done) => server.close(() => done())),
  };
  const server = createHttpServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      asked.push({ target: String(req.headers['x-amz-target']), secretId: JSON.parse(body).SecretId });
      const [status, json] = stub.answer();
      res.writeHead(status, { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-requestid': 'stub' });
      res.end(JSON.stringify(json));
    });
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', () => done()));
  stub.endpoint = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  return stub;
}

describe('doctor with a broken origin', () => {
  it('says the bucket is missing (s3rver\'s own NoSuchBucket)', async () => {
    const file = writeConfig('nobucket', mediaConfig(s3.endpoint, { bucket: 'no-such-bucket' }));
    const { code, out } = await run([file]);
    expect(out).toContain('✗ origin "media": listing s3://no-such-bucket/photos/ failed: the bucket "no-such-bucket" does not exist (NoSuchBucket 404)');
    expect(out).toContain('fix: check "bucket" of origins "media"');
    expect(code).toBe(1);
  });

  it('names the region S3 says the bucket is in (301 PermanentRedirect with x-amz-bucket-region, played by the proxy)', async () => {
    const proxy = await startFaultProxy(s3.endpoint);
    try {
      proxy.setRules([{ fault: 'wrong-region' }]);
      const file = writeConfig('region', mediaConfig(proxy.endpoint));
      const { code, out } = await run([file]);
      expect(out).toContain('✗ origin "media": listing s3://media/photos/ failed: the bucket "media" is in another region (eu-west-1) (PermanentRedirect 301)');
      expect(out).toContain('fix: set "region": "eu-west-1" in origins "media"');
      expect(code).toBe(1);
    } finally {
      await proxy.close();
    }
  });

  it('says so when no AWS credentials can be found for an origin that uses the default chain', async () => {
    const config = mediaConfig(s3.endpoint);
    config.origins[0].credentials = { source: 'default-chain' } as never;
    const file = writeConfig('nochain', config);
    const saved = { ...process.env };
    for (const name of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_PROFILE', 'AWS_CONTAINER_CREDENTIALS_FULL_URI', 'AWS_CONTAINER_CREDENTIALS_RELATIVE_URI', 'AWS_WEB_IDENTITY_TOKEN_FILE']) delete process.env[name];
    // No profile files, and no instance metadata service: the chain finds nothing.
    process.env.AWS_SHARED_CREDENTIALS_FILE = join(dir, 'no-credentials');
    process.env.AWS_CONFIG_FILE = join(dir, 'no-config');
    process.env.AWS_EC2_METADATA_DISABLED = 'true';
    try {
      const { code, out } = await run([file]);
      expect(out).toContain('✗ origin "media": listing s3://media/photos/ failed: no AWS credentials were found');
      expect(code).toBe(1);
    } finally {
      process.env = saved;
    }
  });

  it('says the endpoint cannot be reached', async () => {
    const closed = await new Promise<number>((done) => {
      const server = createServer();
      server.listen(0, '127.0.0.1', () => {
        const { port } = server.address() as { port: number };
        server.close(() => done(port));
      });
    });
    const endpoint = `http://127.0.0.1:${closed}`;
    const file = writeConfig('unreachable', mediaConfig(endpoint));
    const { code, out } = await run([file]);
    expect(out).toContain(`✗ origin "media": listing s3://media/photos/ failed: ${endpoint} refused the connection (ECONNREFUSED)`);
    expect(out).toContain(`fix: check "endpoint" of origins "media" (${endpoint})`);
    expect(code).toBe(1);
  });
});

describe('doctor on the configuration file', () => {
  it('prints each problem of an invalid file and exits 1', async () => {
    const file = writeConfig('invalid', { origins: [{ name: 'media', type: 'ftp', bucket: '' }], endpoints: [{ prefix: '', origins: ['elsewhere'] }] });
    const { code, out } = await run([file]);
    const failures = out.split('\n').filter((l) => l.startsWith('✗ configuration'));
    expect(failures.length).toBeGreaterThanOrEqual(2);
    expect(out).toMatch(/✗ configuration .*origins\[0\]\.type/);
    expect(code).toBe(1);
  });

  it('refuses keys written in the file with --lambda, as the construct does', async () => {
    const file = writeConfig('lambda', mediaConfig(iam.endpoint));
    const { code, out } = await run([file, '--lambda']);
    expect(out).toMatch(/✗ configuration .*credentials/);
    expect(code).toBe(1);
  });

  it('answers --help and usage errors without checking anything', async () => {
    const help = await run(['--help']);
    expect(help.out).toContain('Usage: afterimage doctor <config.json>');
    expect(help.code).toBe(0);
    expect((await run([])).code).toBe(2);
    const secretOnCommandLine = await run(['x.json', '--secret-access-key', 'abc']);
    expect(secretOnCommandLine.out).toContain('is not taken on the command line');
    expect(secretOnCommandLine.code).toBe(2);
  });

  it('runs as `afterimage doctor` (the package bin)', async () => {
    const file = writeConfig('spawned', mediaConfig(s3.endpoint, { bucket: 'no-such-bucket' }));
    const result = await new Promise<{ code: number; stdout: string }>((done) => {
      execFile(process.execPath, [join(root, 'bin/afterimage.js'), 'doctor', file], { cwd: root }, (error, stdout) =>
        done({ code: error ? (error as { code?: number }).code ?? -1 : 0, stdout }),
      );
    });
    expect(result.stdout).toContain('NoSuchBucket 404');
    expect(result.code).toBe(1);
  });
});
