// The code that ships is the code tested: (a) the real CDK asset holds the bundle and sharp's
// linux-arm64 binaries, nothing for x64; (b) the same esbuild settings, built for this machine,
// serve a real image from a local S3 server through a stand-in of the Lambda runtime.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { App } from 'aws-cdk-lib';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import * as esbuild from 'esbuild';
import sharp from 'sharp';
import type { AfterimageConfigInput } from '../lambda/config';
import { esbuildBuildOptions } from '../lib/lambda-bundling';
import { ImageDeliveryStack } from '../lib/stack';
import { functionUrlEvent, installLambdaShim, invokeStreaming, type StreamingHandler } from './helpers/lambda-shim';

const ROOT = path.join(__dirname, '..');
const TMP = path.join(__dirname, '.tmp');
const CDK_CONTEXT: Record<string, unknown> = JSON.parse(fs.readFileSync(path.join(ROOT, 'cdk.json'), 'utf8')).context;
const EXAMPLE_CONFIG: AfterimageConfigInput = JSON.parse(fs.readFileSync(path.join(ROOT, 'afterimage.config.example.json'), 'utf8'));

/** ELF e_machine values (offset 18, little endian). */
const EM_AARCH64 = 183;
const EM_X86_64 = 62;

function elfMachine(file: string): number {
  const header = Buffer.alloc(20);
  const fd = fs.openSync(file, 'r');
  try {
    fs.readSync(fd, header, 0, 20, 0);
  } finally {
    fs.closeSync(fd);
  }
  expect(header.subarray(0, 4).toString('latin1')).toBe('\x7fELF');
  return header.readUInt16LE(18);
}

function filesUnder(dir: string): string[] {
  return (fs.readdirSync(dir, { recursive: true, withFileTypes: true }) as fs.Dirent[])
    .filter((entry) => entry.isFile())
    .map((entry) => path.relative(dir, path.join(entry.parentPath, entry.name)));
}

describe('the CDK asset (real bundling)', () => {
  let assetDir: string;

  beforeAll(() => {
    const outdir = path.join(TMP, 'cdk.out-bundle');
    fs.rmSync(outdir, { recursive: true, force: true });
    process.env.npm_config_prefer_offline = 'true';
    process.env.CDK_DEFAULT_ACCOUNT ??= '111111111111';
    process.env.CDK_DEFAULT_REGION ??= 'us-east-1';
    const app = new App({ outdir, context: { ...CDK_CONTEXT } });
    const stack = new ImageDeliveryStack(app, 'Afterimage', {
      env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
      delivery: { config: EXAMPLE_CONFIG },
    });
    const assembly = app.synth();
    const template = assembly.getStackByName(stack.stackName).template;
    const fn = Object.values(template.Resources as Record<string, { Type: string; Properties: { Code: { S3Key: string } } }>).find(
      (r) => r.Type === 'AWS::Lambda::Function',
    )!;
    assetDir = path.join(outdir, `asset.${fn.Properties.Code.S3Key.replace(/\.zip$/, '')}`);
  }, 120_000);

  test('holds the bundle, with the AWS SDK inside it and only sharp outside', () => {
    const code = fs.readFileSync(path.join(assetDir, 'index.js'), 'utf8');
    // The SDK is inside (its error messages quote "[require(...)]", hence the look-behind).
    expect(code).toContain('GetObjectCommand');
    expect(code).not.toMatch(/(?<!\[)require\(["']@(aws-sdk|smithy)\//);
    expect(code).toMatch(/require\(["']sharp["']\)/);
    expect(fs.readdirSync(path.join(assetDir, 'node_modules')).filter((d) => /aws|smithy/.test(d))).toEqual([]);
    expect(fs.existsSync(path.join(assetDir, 'index.js.map'))).toBe(true);
    expect(fs.existsSync(path.join(assetDir, '.npmrc'))).toBe(false);
  });

  test("holds sharp's linux-arm64 glibc binaries", () => {
    const sharpDir = path.join(assetDir, 'node_modules/@img/sharp-linux-arm64/lib');
    const addons = fs.readdirSync(sharpDir).filter((f) => /^sharp-linux-arm64.*\.node$/.test(f));
    expect(addons).toHaveLength(1);
    expect(elfMachine(path.join(sharpDir, addons[0]!))).toBe(EM_AARCH64);

    const vipsDir = path.join(assetDir, 'node_modules/@img/sharp-libvips-linux-arm64/lib');
    const libvips = fs.readdirSync(vipsDir).filter((f) => /^libvips-cpp\.so/.test(f));
    expect(libvips).toHaveLength(1);
    expect(elfMachine(path.join(vipsDir, libvips[0]!))).toBe(EM_AARCH64);
  });

  test('holds no binary for another platform', () => {
    const files = filesUnder(path.join(assetDir, 'node_modules'));
    expect(files.filter((f) => /x64|musl|darwin|win32|wasm/.test(f))).toEqual([]);
    const binaries = files.filter((f) => /\.node$|\.so(\.|$)/.test(f));
    expect(binaries.length).toBeGreaterThan(0);
    for (const binary of binaries) expect(elfMachine(path.join(assetDir, 'node_modules', binary))).not.toBe(EM_X86_64);
  });
});

// s3rver has no type declarations; this is the part of its API used here.
interface S3rverInstance {
  run(): Promise<{ port: number }>;
  close(): Promise<void>;
}
type S3rverConstructor = new (options: Record<string, unknown>) => S3rverInstance;

describe('the bundle, built for this machine, invoked like Lambda', () => {
  const BUCKET = 'bucket';
  const savedEnv = { ...process.env };
  let s3rver: S3rverInstance;
  let handler: StreamingHandler;

  beforeAll(async () => {
    const outfile = path.join(TMP, 'bundle-x64', 'index.js');
    fs.rmSync(path.dirname(outfile), { recursive: true, force: true });
    await esbuild.build(esbuildBuildOptions(outfile));

    const directory = path.join(TMP, `s3rver-${process.pid}`);
    fs.rmSync(directory, { recursive: true, force: true });
    const S3rver: S3rverConstructor = require('s3rver');
    s3rver = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory, configureBuckets: [{ name: BUCKET }] });
    const { port } = await s3rver.run();
    const endpoint = `http://127.0.0.1:${port}`;

    const s3 = new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } });
    const photo = await sharp({ create: { width: 400, height: 300, channels: 3, background: { r: 200, g: 120, b: 40 } } }).jpeg().toBuffer();
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'photo.jpg', Body: photo, ContentType: 'image/jpeg' }));
    s3.destroy();

    // The handler reads its configuration when it is loaded, as in Lambda.
    const config: AfterimageConfigInput = {
      origins: [
        {
          name: 'local',
          type: 's3',
          bucket: BUCKET,
          region: 'us-east-1',
          endpoint,
          forcePathStyle: true,
          credentials: { source: 'static', accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
        },
      ],
    };
    process.env.AFTERIMAGE_CONFIG = JSON.stringify(config);
    delete process.env.AFTERIMAGE_SECRET_ARN;
    installLambdaShim();
    handler = require(outfile).handler;
  }, 60_000);

  afterAll(async () => {
    process.env = savedEnv;
    await s3rver?.close();
  });

  test('GET /tr:w-100/photo.jpg with Accept image/webp: a 100 px wide WebP', async () => {
    const response = await invokeStreaming(handler, functionUrlEvent('GET', '/tr:w-100/photo.jpg', { accept: 'image/webp' }));
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toBe('image/webp');
    const metadata = await sharp(response.body).metadata();
    expect(metadata.format).toBe('webp');
    expect(metadata.width).toBe(100);
    expect(metadata.height).toBe(75);
  });

  test("the edge function's AVIF bucket gets AVIF", async () => {
    const response = await invokeStreaming(handler, functionUrlEvent('GET', '/photo.jpg?tr=w-50', { accept: 'image/avif,image/webp' }));
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toBe('image/avif');
    expect((await sharp(response.body).metadata()).width).toBe(50);
  });

  test('a missing file is a 404', async () => {
    const response = await invokeStreaming(handler, functionUrlEvent('GET', '/tr:w-100/missing.jpg', { accept: 'image/webp' }));
    expect(response.statusCode).toBe(404);
  });
});
