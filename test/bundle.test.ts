// The code that ships is the code tested: (a) the real CDK asset, synthesised with a large
// configuration (1,000 named transformations, 50 origins), holds only what the function loads:
// the bundle, the configuration file, sharp and its linux-arm64 binaries; (b) that asset's own
// bundle and configuration file, run on this machine by a double of the Lambda runtime
// (aws-lambda-ric 3.3.0, see helpers/lambda-runtime.ts), serve real images from a local S3
// server; (c) the same esbuild settings built for this machine do too.

import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { App } from 'aws-cdk-lib';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import * as esbuild from 'esbuild';
import sharp from 'sharp';
import { CONFIG_FILE_NAME, parseConfig, type AfterimageConfigInput } from '../lambda/config';
import { BUILT_IN_FONT_FILES } from '../lambda/image/fonts';
import { NODE_FLAGS, PACKAGE_ROOT, RUNTIME_WRAPPER_FILE_NAME, RUNTIME_WRAPPER_PATH, esbuildBuildOptions, fontCommands } from '../lib/lambda-bundling';
import { ImageDeliveryStack } from '../lib/stack';
import { CDK_CONTEXT } from './helpers/cdk-app';
import { LambdaRuntime, functionUrlEvent, installLambdaRuntime, type StreamingHandler } from './helpers/lambda-runtime';

const TMP = path.join(__dirname, '.tmp');

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
    .map((entry) => path.relative(dir, path.join(entry.parentPath, entry.name)))
    .sort();
}

// s3rver has no type declarations; this is the part of its API used here.
interface S3rverInstance {
  run(): Promise<{ port: number }>;
  close(): Promise<void>;
}
type S3rverConstructor = new (options: Record<string, unknown>) => S3rverInstance;

const BUCKET = 'bucket';
const LAST_NAME = 't999';
const savedEnv = { ...process.env };
let s3rver: S3rverInstance;
let endpoint: string;
let runtime: LambdaRuntime;

/** A configuration far over Lambda's 4 KB environment: 50 origins, 1,000 named transformations, the last one w-37. */
function largeConfig(): AfterimageConfigInput {
  const origins: AfterimageConfigInput['origins'] = [
    // The function's own credentials (here: dummy keys in the environment; s3rver does not check them).
    { name: 'local', type: 's3', bucket: BUCKET, region: 'us-east-1', endpoint, forcePathStyle: true, credentials: { source: 'default-chain' } },
  ];
  for (let i = 1; i < 50; i++) origins.push({ name: `origin-${i}`, type: 's3', bucket: `bucket-${i}`, region: 'eu-west-1', folder: `/tenant-${i}/` });
  const namedTransformations: Record<string, string> = {};
  for (let i = 0; i < 999; i++) namedTransformations[`t${i}`] = `w-${100 + (i % 500)},h-${100 + (i % 300)},c-at_max,q-${1 + (i % 100)}`;
  namedTransformations[LAST_NAME] = 'w-37';
  return { origins, endpoints: [{ prefix: '', origins: ['local'] }], namedTransformations };
}

beforeAll(async () => {
  const directory = path.join(TMP, `s3rver-${process.pid}`);
  fs.rmSync(directory, { recursive: true, force: true });
  const S3rver: S3rverConstructor = require('s3rver');
  s3rver = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory, configureBuckets: [{ name: BUCKET }] });
  const { port } = await s3rver.run();
  endpoint = `http://127.0.0.1:${port}`;
  process.env.AWS_ACCESS_KEY_ID = 'S3RVER';
  process.env.AWS_SECRET_ACCESS_KEY = 'S3RVER';
  delete process.env.AWS_SESSION_TOKEN;
  delete process.env.AWS_PROFILE;
  delete process.env.AFTERIMAGE_SECRET_ARN;

  const s3 = new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } });
  const photo = await sharp({ create: { width: 400, height: 300, channels: 3, background: { r: 200, g: 120, b: 40 } } }).jpeg().toBuffer();
  await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'photo.jpg', Body: photo, ContentType: 'image/jpeg' }));
  s3.destroy();

  installLambdaRuntime();
  runtime = await new LambdaRuntime().start();
}, 60_000);

afterAll(async () => {
  process.env = savedEnv;
  await runtime?.stop();
  await s3rver?.close();
});

describe('the CDK asset (real bundling, a configuration of 1,000 named transformations and 50 origins)', () => {
  let assetDir: string;
  let config: AfterimageConfigInput;

  beforeAll(() => {
    const outdir = path.join(TMP, 'cdk.out-bundle');
    fs.rmSync(outdir, { recursive: true, force: true });
    process.env.npm_config_prefer_offline = 'true';
    process.env.CDK_DEFAULT_ACCOUNT ??= '111111111111';
    process.env.CDK_DEFAULT_REGION ??= 'us-east-1';
    config = largeConfig();
    expect(Buffer.byteLength(JSON.stringify(config))).toBeGreaterThan(8 * 4096);
    const app = new App({ outdir, context: { ...CDK_CONTEXT } });
    const stack = new ImageDeliveryStack(app, 'Afterimage', {
      env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
      delivery: { config },
    });
    const assembly = app.synth();
    const template = assembly.getStackByName(stack.stackName).template;
    const fn = Object.values(template.Resources as Record<string, { Type: string; Properties: { Code: { S3Key: string }; Environment: { Variables: Record<string, unknown> } } }>).find(
      (r) => r.Type === 'AWS::Lambda::Function',
    )!;
    expect(Object.keys(fn.Properties.Environment.Variables).sort()).toEqual(['AFTERIMAGE_SECRET_ARN', 'AWS_LAMBDA_EXEC_WRAPPER', 'POWERTOOLS_METRICS_NAMESPACE', 'POWERTOOLS_SERVICE_NAME']);
    expect(fn.Properties.Environment.Variables.AWS_LAMBDA_EXEC_WRAPPER).toBe(RUNTIME_WRAPPER_PATH);
    assetDir = path.join(outdir, `asset.${fn.Properties.Code.S3Key.replace(/\.zip$/, '')}`);
  }, 180_000);

  test('holds the validated configuration beside the bundle', () => {
    const shipped = JSON.parse(fs.readFileSync(path.join(assetDir, CONFIG_FILE_NAME), 'utf8'));
    expect(shipped).toEqual(JSON.parse(JSON.stringify(parseConfig(config, { target: 'lambda' }))));
    expect(Object.keys(shipped.namedTransformations)).toHaveLength(1000);
    expect(shipped.origins).toHaveLength(50);
  });

  test('holds only what the function loads: the bundle, the configuration, sharp and its dependencies', () => {
    const files = filesUnder(assetDir);
    // Every file is one of these; every pattern matches at least one file.
    const allowed: RegExp[] = [
      /^index\.js$/,
      new RegExp(`^${CONFIG_FILE_NAME.replace('.', '\\.')}$`),
      new RegExp(`^${RUNTIME_WRAPPER_FILE_NAME}$`),
      /^fonts\/(DejaVu(Sans|Serif)(-Bold|-Oblique|-Italic|-BoldOblique|-BoldItalic)?\.ttf|LICENSE)$/,
      /^node_modules\/sharp\/(package\.json|LICENSE|dist\/[a-z]+\.cjs)$/,
      /^node_modules\/@img\/colour\/(package\.json|LICENSE\.md|(index|color)\.cjs)$/,
      /^node_modules\/@img\/sharp-linux-arm64\/(package\.json|LICENSE|index\.cjs|lib\/sharp-linux-arm64-[\d.]+\.node)$/,
      /^node_modules\/@img\/sharp-libvips-linux-arm64\/(package\.json|versions\.json|lib\/index\.js|lib\/libvips-cpp\.so\.[\d.]+)$/,
      /^node_modules\/detect-libc\/(package\.json|LICENSE|lib\/[a-z-]+\.js)$/,
      /^node_modules\/semver\/(package\.json|LICENSE|range\.bnf|preload\.js|index\.js|bin\/semver\.js|(classes|functions|internal|ranges)\/[a-z-]+\.js)$/,
    ];
    expect(files.filter((file) => !allowed.some((pattern) => pattern.test(file)))).toEqual([]);
    expect(allowed.filter((pattern) => !files.some((file) => pattern.test(file)))).toEqual([]);
    // Not the project's lock file, nor sharp's sources.
    expect(files).not.toContain('package-lock.json');
    expect(files.some((file) => file.startsWith('node_modules/sharp/src/'))).toBe(false);
  });

  test('has the AWS SDK and Powertools inside the bundle and only sharp outside', () => {
    const code = fs.readFileSync(path.join(assetDir, 'index.js'), 'utf8');
    // The SDK is inside (its error messages quote "[require(...)]", hence the look-behind).
    expect(code).toContain('GetObjectCommand');
    expect(code).not.toMatch(/(?<!\[)require\(["']@(aws-sdk|smithy|aws-lambda-powertools)\//);
    expect(code).toContain('POWERTOOLS_METRICS_NAMESPACE');
    expect(code).toMatch(/require\(["']sharp["']\)/);
  });

  test("keeps only the SDK commands the function sends, and compiles import() to require()", () => {
    const code = fs.readFileSync(path.join(assetDir, 'index.js'), 'utf8');
    // The SDK's ES modules let esbuild leave out the commands the function never sends (its
    // CommonJS build is one module per client, every command included): a faster cold start.
    expect(code).toContain('ListObjectsV2Command');
    expect(code).not.toContain('DeleteBucketCommand');
    expect(code).not.toContain('PutBucketPolicyCommand');
    // The SDK's ES modules import some of Node's modules on first use; in a CommonJS bundle that is require().
    expect(code).not.toMatch(/\bimport\(/);
  });

  test('Lambda starts Node through the asset\'s wrapper script, with NODE_FLAGS before the runtime\'s own arguments', () => {
    // Lambda runs the file AWS_LAMBDA_EXEC_WRAPPER names (in /var/task, where the asset is
    // unpacked) with the interpreter's path and every argument of the standard startup after it
    // (Lambda Developer Guide, "Modifying the runtime environment": wrapper scripts). It must be
    // an executable file with a shebang line Linux can run (no CR). The CLI's zip keeps each
    // file's mode (aws-cdk 2.1148.1, `writeZipFile`: yazl `addBuffer` with `mode: stat.mode`).
    const wrapper = path.join(assetDir, RUNTIME_WRAPPER_FILE_NAME);
    expect(RUNTIME_WRAPPER_PATH).toBe(`/var/task/${RUNTIME_WRAPPER_FILE_NAME}`);
    expect(fs.statSync(wrapper).mode & 0o777).toBe(0o755);
    const text = fs.readFileSync(wrapper, 'utf8');
    expect(text.startsWith('#!/bin/bash\n')).toBe(true);
    expect(text).not.toContain('\r');
    // Started the way Lambda starts it: the interpreter, the runtime's flags, its entry script last.
    const entry = path.join(TMP, 'wrapper-entry.js');
    fs.writeFileSync(entry, 'process.stdout.write(JSON.stringify({ execArgv: process.execArgv, argv: process.argv.slice(1) }))');
    const run = spawnSync(wrapper, [process.execPath, '--expose-gc', '--max-http-header-size', '81920', entry, 'extra'], { encoding: 'utf8' });
    expect(run.status).toBe(0);
    expect(JSON.parse(run.stdout)).toEqual({ execArgv: [...NODE_FLAGS, '--expose-gc', '--max-http-header-size', '81920'], argv: [entry, 'extra'] });
  });

  test('npm start runs the local server with the same Node flags as Lambda', () => {
    const scripts = (JSON.parse(fs.readFileSync(path.join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
    expect(scripts.start).toBe(`node ${NODE_FLAGS.join(' ')} --import tsx local/start.ts`);
    expect(fs.readFileSync(path.join(PACKAGE_ROOT, 'lambda', 'runtime-wrapper.sh'), 'utf8')).toContain(`exec "$node" ${NODE_FLAGS.join(' ')} "$@"`);
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

  test("the asset's own bundle and configuration, run like Lambda, serve n-<the last named transformation>", async () => {
    // The asset's index.js and configuration, without its arm64 sharp: here sharp resolves to
    // this machine's copy in the project's node_modules.
    const runDir = path.join(TMP, 'asset-run');
    fs.rmSync(runDir, { recursive: true, force: true });
    fs.mkdirSync(runDir, { recursive: true });
    for (const file of ['index.js', CONFIG_FILE_NAME]) fs.copyFileSync(path.join(assetDir, file), path.join(runDir, file));
    // As in the stack: the secret's ARN in the environment (origin-1..49 read keys from it; never called here).
    process.env.AFTERIMAGE_SECRET_ARN = 'arn:aws:secretsmanager:us-east-1:111111111111:secret:afterimage-AbCdEf';
    const handler: StreamingHandler = require(path.join(runDir, 'index.js')).handler;
    delete process.env.AFTERIMAGE_SECRET_ARN;
    const response = await runtime.invoke(handler, functionUrlEvent('GET', `/tr:n-${LAST_NAME}/photo.jpg`, { accept: 'image/webp' }));
    expect(response.failure).toBeUndefined();
    expect([response.statusCode, response.headers['x-afterimage-error']]).toEqual([200, undefined]);
    expect(response.headers['content-type']).toBe('image/webp');
    const metadata = await sharp(response.body).metadata();
    expect(metadata.width).toBe(37);
  });
});

describe('the fonts step of the bundling', () => {
  test('copies the fonts from inside the package root, which a bundling container mounts (the font package may be hoisted outside it)', () => {
    const [mkdir, cp] = fontCommands('/asset-input', '/asset-output');
    expect(mkdir).toBe("mkdir -p '/asset-output/fonts'");
    const sources = cp.split(' ').slice(1, -1).map((s) => s.replace(/^'|'$/g, ''));
    expect(sources).toHaveLength(BUILT_IN_FONT_FILES.length + 1);
    for (const source of sources) expect(source.startsWith('/asset-input/.afterimage/cdk/fonts/')).toBe(true);
    for (const source of sources) expect(fs.existsSync(path.join(PACKAGE_ROOT, path.relative('/asset-input', source)))).toBe(true);
  });
});

describe('the bundle, built for this machine, run like Lambda', () => {
  let handler: StreamingHandler;

  beforeAll(async () => {
    const outfile = path.join(TMP, 'bundle-x64', 'index.js');
    fs.rmSync(path.dirname(outfile), { recursive: true, force: true });
    await esbuild.build(esbuildBuildOptions(outfile));
    // What the construct does: the validated configuration beside the bundle.
    const config: AfterimageConfigInput = {
      origins: [{ name: 'local', type: 's3', bucket: BUCKET, region: 'us-east-1', endpoint, forcePathStyle: true, credentials: { source: 'default-chain' } }],
    };
    fs.writeFileSync(path.join(path.dirname(outfile), CONFIG_FILE_NAME), JSON.stringify(parseConfig(config)));
    handler = require(outfile).handler;
  }, 60_000);

  test('GET /tr:w-100/photo.jpg with Accept image/webp: a 100 px wide WebP', async () => {
    const response = await runtime.invoke(handler, functionUrlEvent('GET', '/tr:w-100/photo.jpg', { accept: 'image/webp' }));
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toBe('image/webp');
    const metadata = await sharp(response.body).metadata();
    expect(metadata.format).toBe('webp');
    expect(metadata.width).toBe(100);
    expect(metadata.height).toBe(75);
  });

  test("the edge function's AVIF bucket gets AVIF", async () => {
    const response = await runtime.invoke(handler, functionUrlEvent('GET', '/photo.jpg?tr=w-50', { accept: 'image/avif,image/webp' }));
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toBe('image/avif');
    expect((await sharp(response.body).metadata()).width).toBe(50);
  });

  test('a missing file is a 404', async () => {
    const response = await runtime.invoke(handler, functionUrlEvent('GET', '/tr:w-100/missing.jpg', { accept: 'image/webp' }));
    expect(response.statusCode).toBe(404);
  });

  test('each invocation writes its JSON log line and its EMF metrics to stdout (Powertools, bundled)', async () => {
    const written: string[] = [];
    const write = process.stdout.write;
    process.stdout.write = ((chunk: string | Uint8Array) => written.push(String(chunk)) > 0) as typeof process.stdout.write;
    try {
      expect((await runtime.invoke(handler, functionUrlEvent('GET', '/tr:w-60/photo.jpg'))).statusCode).toBe(200);
    } finally {
      process.stdout.write = write;
    }
    const lines = written.join('').split('\n').filter((line) => line.startsWith('{')).map((line) => JSON.parse(line));
    expect(lines.filter((line) => line.message === 'request')).toEqual([expect.objectContaining({ status: 200, url: '/tr:w-60/photo.jpg', origin: 'local', key: 'photo.jpg' })]);
    const metrics = lines.filter((line) => line._aws).flatMap((line) => line._aws.CloudWatchMetrics[0].Metrics.map((m: { Name: string }) => m.Name));
    expect(metrics).toEqual(expect.arrayContaining(['Requests', 'BytesOut', 'OriginLatency', 'TransformTime']));
  });
});
