// `npm start`: the real command, spawned as a user runs it, with and without a configuration file.

import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import sharp from 'sharp';
import { parseConfig } from '../lambda/config';
import { EMBEDDED_KEYS, startEmbeddedS3, type EmbeddedS3 } from '../local/embedded-s3';
import { withLocalCredentials } from '../local/start';
import { decode, s3Origin } from '../tools/harness';

const root = resolve(__dirname, '..');
const tsx = join(root, 'node_modules', '.bin', 'tsx');

/** Starts local/start.ts and resolves with everything it printed once it is serving. */
function start(args: string[], env: Record<string, string> = {}): Promise<{ child: ChildProcess; output: string }> {
  const child = spawn(tsx, [join(root, 'local/start.ts'), ...args], {
    cwd: root,
    env: { ...process.env, PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  return new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => reject(new Error(`start did not print its URLs in time:\n${output}`)), 30_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      // The examples (or the configuration line) come last.
      if (/Try:[\s\S]*\n\s+http[^\n]*\n[\s\S]*\n\s+http[^\n]*\n/.test(output) || /configuration: /.test(output)) {
        setTimeout(() => {
          clearTimeout(timer);
          resolvePromise({ child, output });
        }, 200);
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`start exited with ${code}:\n${output}`));
    });
  });
}

function stop(child: ChildProcess): Promise<void> {
  return new Promise((r) => {
    if (child.exitCode !== null || child.signalCode !== null) return r();
    child.once('exit', () => r());
    child.kill('SIGTERM');
  });
}

describe('npm start with no configuration: embedded S3 with samples', () => {
  let child: ChildProcess;
  let output: string;

  beforeAll(async () => {
    ({ child, output } = await start([]));
  });
  afterAll(() => stop(child));

  it('prints ready-to-open example URLs, at least one with a tr: segment, and they all work', async () => {
    const urls = [...output.matchAll(/^\s+(http:\/\/127\.0\.0\.1:\d+\/\S*)$/gm)].map((m) => m[1]);
    expect(urls.length).toBeGreaterThanOrEqual(4);
    expect(urls.some((u) => /\/tr:/.test(u))).toBe(true);
    for (const url of urls) {
      const res = await fetch(url, { headers: { accept: 'image/webp' } });
      expect({ url, status: res.status }).toEqual({ url, status: 200 });
      expect(res.headers.get('content-type')).toMatch(/^image\//);
    }
  });

  it('resizes a sample', async () => {
    const url = [...output.matchAll(/(http:\/\/127\.0\.0\.1:\d+)\//g)][0][1];
    const res = await fetch(`${url}/tr:w-123/products/landscape.jpg`);
    expect((await decode(Buffer.from(await res.arrayBuffer()))).width).toBe(123);
  });
});

describe('local/start.ts as a module', () => {
  it('starts nothing when imported: the tests read its sampleConfig', async () => {
    const script = "const { sampleConfig } = require('./local/start.ts'); console.log(JSON.stringify(sampleConfig('http://s3.test').endpoints));";
    const printed = await new Promise<string>((resolvePromise, reject) => {
      // A module that served on import would never exit: the timeout ends it and the test fails.
      execFile(process.execPath, ['--import', 'tsx', '-e', script], { cwd: root, env: { ...process.env, PORT: '0' }, timeout: 20_000 }, (error, stdout, stderr) =>
        error ? reject(new Error(`${error.message}\n${stdout}${stderr}`)) : resolvePromise(stdout),
      );
    });
    expect(JSON.parse(printed)).toEqual([
      { prefix: '', origins: ['samples'] },
      { prefix: '/demo', origins: ['cloudinary-backup'], cloudinaryUrls: true },
    ]);
  });
});

describe('npm start -- --config <file>: the user\'s own origins, no embedded S3', () => {
  let s3: EmbeddedS3;
  let child: ChildProcess;
  let output: string;
  let configFile: string;

  beforeAll(async () => {
    s3 = await startEmbeddedS3(['own']);
    await s3.put('own', 'pics/cat.jpg', await sharp({ create: { width: 400, height: 300, channels: 3, background: '#123456' } }).jpeg().toBuffer(), 'image/jpeg');
    configFile = join(mkdtempSync(join(tmpdir(), 'afterimage-config-')), 'config.json');
    writeFileSync(configFile, JSON.stringify({ origins: [s3Origin(s3, { name: 'own', bucket: 'own' })] }));
  });
  afterAll(async () => {
    await s3.close();
  });

  it('serves the configured bucket through the same core', async () => {
    ({ child, output } = await start(['--config', configFile]));
    try {
      expect(output).not.toMatch(/embedded S3/);
      const base = output.match(/serving on (http:\/\/127\.0\.0\.1:\d+)/)![1];
      const res = await fetch(`${base}/tr:w-100/pics/cat.jpg`, { headers: { accept: 'image/webp' } });
      expect(res.status).toBe(200);
      expect(await decode(Buffer.from(await res.arrayBuffer()))).toMatchObject({ width: 100, height: 75, format: 'webp' });
    } finally {
      await stop(child);
    }
  });

  it('reads AFTERIMAGE_CONFIG=<file> too', async () => {
    ({ child, output } = await start([], { AFTERIMAGE_CONFIG: configFile }));
    try {
      expect(output).toMatch(/configuration: /);
    } finally {
      await stop(child);
    }
  });

  it('exits promptly on SIGTERM, even while libvips is drawing a hostile file', async () => {
    // Each tile of this SVG blurs the whole filter region again: about 20 s of drawing.
    const svg = '<svg xmlns="http://www.w3.org/2000/svg" width="3500" height="3500"><filter id="f"><feGaussianBlur stdDeviation="2000"/></filter><rect width="100%" height="100%" fill="red" filter="url(#f)"/></svg>';
    await s3.put('own', 'hostile.svg', Buffer.from(svg), 'image/svg+xml');
    const hostileConfig = join(mkdtempSync(join(tmpdir(), 'afterimage-config-')), 'config.json');
    writeFileSync(hostileConfig, JSON.stringify({ origins: [s3Origin(s3, { name: 'own', bucket: 'own' })], limits: { maxSvgPixels: 3500 * 3500, requestTimeoutMs: 60_000 } }));
    ({ child, output } = await start(['--config', hostileConfig]));
    const base = output.match(/serving on (http:\/\/127\.0\.0\.1:\d+)/)![1];
    const pending = fetch(`${base}/tr:f-png/hostile.svg`).then((r) => r.status, (e: Error) => e.name);
    await new Promise((r) => setTimeout(r, 1000)); // the drawing is under way
    const exited = new Promise<number>((r) => child.once('exit', () => r(Date.now())));
    const signalled = Date.now();
    child.kill('SIGTERM');
    expect((await exited) - signalled).toBeLessThan(4000);
    expect(await pending).toBe('TypeError'); // the connection was closed, not answered
  });

  it('serves an origin that reads its keys from the stack\'s secret with the default chain, and says so', async () => {
    // The README's example sets no credentials: "secret", the default. Locally the default chain
    // stands in; here it finds s3rver's keys in the environment, as it would a user's profile.
    const { credentials: _, ...secretOrigin } = s3Origin(s3, { name: 'own', bucket: 'own' });
    const deployable = join(mkdtempSync(join(tmpdir(), 'afterimage-config-')), 'config.json');
    writeFileSync(deployable, JSON.stringify({ origins: [secretOrigin] }));
    const keys = { AWS_ACCESS_KEY_ID: EMBEDDED_KEYS.accessKeyId, AWS_SECRET_ACCESS_KEY: EMBEDDED_KEYS.secretAccessKey, AWS_PROFILE: '', AWS_CONFIG_FILE: '/nonexistent', AWS_SHARED_CREDENTIALS_FILE: '/nonexistent' };
    ({ child, output } = await start(['--config', deployable], keys));
    try {
      expect(output).toMatch(/origin "own" reads its keys from the stack's secret in AWS; here it uses your own AWS credentials/);
      const base = output.match(/serving on (http:\/\/127\.0\.0\.1:\d+)/)![1];
      const res = await fetch(`${base}/tr:w-100/pics/cat.jpg`);
      expect(res.status).toBe(200);
      expect((await decode(Buffer.from(await res.arrayBuffer()))).width).toBe(100);
    } finally {
      await stop(child);
    }
  });

  it('without credentials anywhere, a request says so (502 naming the origin), promptly', async () => {
    const { credentials: _, ...secretOrigin } = s3Origin(s3, { name: 'own', bucket: 'own' });
    const deployable = join(mkdtempSync(join(tmpdir(), 'afterimage-config-')), 'config.json');
    writeFileSync(deployable, JSON.stringify({ origins: [secretOrigin] }));
    const none = { AWS_ACCESS_KEY_ID: '', AWS_SECRET_ACCESS_KEY: '', AWS_SESSION_TOKEN: '', AWS_PROFILE: '', AWS_CONFIG_FILE: '/nonexistent', AWS_SHARED_CREDENTIALS_FILE: '/nonexistent', AWS_EC2_METADATA_DISABLED: 'true' };
    ({ child, output } = await start(['--config', deployable], none));
    try {
      const base = output.match(/serving on (http:\/\/127\.0\.0\.1:\d+)/)![1];
      const res = await fetch(`${base}/tr:w-100/pics/cat.jpg`);
      expect(res.status).toBe(502);
      expect(res.headers.get('x-afterimage-error')).toMatch(/^EORIGIN - Origin "own" has no AWS credentials \(CredentialsProviderError\)/);
    } finally {
      await stop(child);
    }
  });

  it('keeps the credentials an origin names', () => {
    const config = parseConfig({
      origins: [
        s3Origin(s3, { name: 'static', bucket: 'own' }),
        { ...s3Origin(s3, { name: 'chain', bucket: 'own' }), credentials: { source: 'default-chain' } },
        { name: 'site', type: 'web', baseUrl: 'https://images.example.com' },
        { ...s3Origin(s3, { name: 'backup', bucket: 'own' }), type: 'cloudinary-backup', credentials: { source: 'secret' } },
      ],
    });
    const local = withLocalCredentials(config);
    expect(local.ownCredentials).toEqual(['backup']);
    expect(local.config.origins.map((o) => o.credentials?.source)).toEqual(['static', 'default-chain', undefined, 'default-chain']);
    expect(config.origins[3].credentials?.source).toBe('secret'); // the parsed configuration is not changed
  });

  it('exits with the validation messages for a bad configuration', async () => {
    const bad = join(mkdtempSync(join(tmpdir(), 'afterimage-config-')), 'bad.json');
    writeFileSync(bad, JSON.stringify({ origins: [{ name: 'x', type: 'ftp', bucket: 'b' }] }));
    await expect(start(['--config', bad])).rejects.toThrow(/expected one of s3, cloudinary-backup, web, cloudinary for origins\[0\]\.type but received "ftp"/);
  });
});
