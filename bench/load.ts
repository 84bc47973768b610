// `npm run load [-- --duration <s>] [--connections <n>]`: load on the local server (the real
// `npm start` process, its own RSS measured), with a mix of valid, invalid and missing URLs and
// hostile files generated at run time. Loopback only, bounded in time. Prints throughput,
// latency percentiles, status counts and the server's RSS before and after, then one `RESULT {…}`
// JSON line for scripts.
//
// The embedded S3 server runs in this process, so the server's RSS is afterimage's alone.

import { NODE_FLAGS } from '../lambda/node-flags';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import sharp from 'sharp';
import type { AfterimageConfigInput } from '../lambda/config';
import { EMBEDDED_KEYS, startEmbeddedS3, type EmbeddedS3 } from '../local/embedded-s3';
import { SAMPLE_BACKUP_FOLDER, SAMPLE_BUCKET, SAMPLE_CLOUD, seedCloudinaryBackup, seedSamples } from '../local/samples';

// autocannon ships no types; this is the part of its API used here.
interface AutocannonResult {
  latency: { p50: number; p99: number; average: number; max: number };
  requests: { average: number; total: number };
  throughput: { average: number };
  statusCodeStats: Record<string, { count: number }>;
  errors: number;
  timeouts: number;
  duration: number;
}
const autocannon = require('autocannon') as (options: Record<string, unknown>) => Promise<AutocannonResult>;

const USAGE = `Usage: npm run load [-- --duration <seconds>] [--connections <n>] [--no-hostile]
  --duration     how long the load lasts (default 60)
  --connections  concurrent connections (default 16)
  --no-hostile   leave the hostile files out of the mix (to see what they cost)`;

/** Status codes a run may produce without anything being wrong: 503 is a render refused or cut short (deadline, busy). */
export const EXPECTED_5XX = [503];

/** Per-request timeout of the load client, in seconds. */
const CLIENT_TIMEOUT_S = 10;

export function parseLoadArgs(argv: string[]): { durationS: number; connections: number; hostile: boolean } {
  const options = { durationS: 60, connections: 16, hostile: true };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--no-hostile') {
      options.hostile = false;
      continue;
    }
    const [flag, inline] = argv[i].split('=', 2);
    const value = inline ?? argv[++i];
    const n = Number(value);
    if (flag === '--duration' && Number.isInteger(n) && n >= 1 && n <= 600) options.durationS = n;
    else if (flag === '--connections' && Number.isInteger(n) && n >= 1 && n <= 256) options.connections = n;
    else throw new Error(`Unexpected argument ${flag}${value === undefined ? '' : ` ${value}`} (--duration: 1 to 600 seconds, --connections: 1 to 256)\n${USAGE}`);
  }
  return options;
}

// --- hostile files, generated at run time (none is committed) ---------------------------------

/** An SVG whose filters cost far more than its 300 bytes suggest (scaled to fit a shared machine). */
const FILTER_SVG = `<svg xmlns="http://www.w3.org/2000/svg" width="2000" height="2000">
<filter id="f"><feTurbulence baseFrequency="0.05" numOctaves="4"/><feGaussianBlur stdDeviation="100"/></filter>
<rect width="100%" height="100%" filter="url(#f)"/></svg>`;

async function seedHostileFiles(s3: EmbeddedS3): Promise<void> {
  // A decompression bomb: 10000 × 10000 grey pixels (100 Mpx, over limits.maxInputPixels) in a few hundred KB.
  const bomb = await sharp(Buffer.alloc(10_000 * 10_000), { raw: { width: 10_000, height: 10_000, channels: 1 } }).png({ compressionLevel: 9 }).toBuffer();
  // A JPEG whose header declares 3000 × 2000 but whose data stops after 600 bytes.
  const whole = await sharp({ create: { width: 3000, height: 2000, channels: 3, background: '#808080' } }).jpeg().toBuffer();
  const files: [string, Buffer, string][] = [
    ['hostile/filters.svg', Buffer.from(FILTER_SVG), 'image/svg+xml'],
    ['hostile/bomb.png', bomb, 'image/png'],
    ['hostile/truncated.jpg', whole.subarray(0, 600), 'image/jpeg'],
    // HTML with script, stored with an image type: must never run on the delivery domain.
    ['hostile/page.png', Buffer.from('<!doctype html><script>document.title="owned"</script>'), 'image/png'],
    ['hostile/script.svg', Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'), 'image/svg+xml'],
  ];
  for (const [key, body, type] of files) await s3.put(SAMPLE_BUCKET, key, body, type);
}

function loadConfig(s3Endpoint: string): AfterimageConfigInput {
  const credentials = { source: 'static' as const, ...EMBEDDED_KEYS };
  return {
    origins: [
      { name: 'samples', type: 's3', bucket: SAMPLE_BUCKET, folder: '/', endpoint: s3Endpoint, credentials },
      { name: 'cloudinary-backup', type: 'cloudinary-backup', bucket: SAMPLE_BUCKET, folder: `/${SAMPLE_BACKUP_FOLDER}`, endpoint: s3Endpoint, credentials },
    ],
    endpoints: [
      { prefix: '', origins: ['samples'] },
      { prefix: `/${SAMPLE_CLOUD}`, origins: ['cloudinary-backup'], cloudinaryUrls: true },
      { prefix: '/thumbs', origins: ['samples'], transformations: 'named-only' },
      { prefix: '/sized', origins: ['samples'], widths: [320, 640, 960, 1280, 1920] },
    ],
    namedTransformations: { thumb: 'w-200,h-200' },
  };
}

// --- the URL mix ------------------------------------------------------------------------------

export type UrlKind = 'valid' | 'invalid' | 'missing' | 'hostile';

/** One cycle of the mix; each connection walks it in order, so the shares hold at any duration. */
export function urlMix(hostileFiles = true): [kind: UrlKind, path: string][] {
  const valid: string[] = [
    ...[200, 320, 480, 640, 800].map((w) => `/tr:w-${w}/products/landscape.jpg`),
    '/products/portrait.jpg?tr=w-300,h-300',
    '/tr:w-200,h-200,f-png/brand/badge.png',
    '/products/landscape.jpg',
    '/tr:orig-true/products/landscape.jpg',
    `/${SAMPLE_CLOUD}/image/upload/c_fill,g_auto,h_300,w_400/e_grayscale/v1700000000/products/sneaker.jpg`,
    `/${SAMPLE_CLOUD}/image/upload/w_300/v1/products/sneaker.webp`,
    '/brand/logo.svg',
    '/thumbs/tr:n-thumb/products/portrait.jpg',
    '/sized/tr:w-333/products/landscape.jpg',
  ];
  const invalid = [
    '/tr:w-abc/products/landscape.jpg',
    '/tr:zz-1/products/landscape.jpg',
    '/tr:w-99999/products/landscape.jpg',
    '/thumbs/tr:w-300/products/portrait.jpg',
    '/sized/tr:w-5000/products/landscape.jpg',
    '/tr:w-100/..%2f..%2fetc/passwd',
  ];
  const missing = ['/missing/a.jpg', '/tr:w-300/products/nope.jpg', `/${SAMPLE_CLOUD}/image/upload/v1/nope.jpg`, '/tr:w-100,di-missing@@too.jpg/products/nope.jpg'];
  const hostile = [
    '/tr:w-1000,f-png/hostile/filters.svg',
    '/tr:w-100/hostile/bomb.png',
    '/tr:w-100/hostile/truncated.jpg',
    '/hostile/page.png',
    '/tr:w-100/hostile/page.png',
    '/hostile/script.svg',
  ];
  return [
    ...valid.map((p) => ['valid', p] as [UrlKind, string]),
    ...invalid.map((p) => ['invalid', p] as [UrlKind, string]),
    ...missing.map((p) => ['missing', p] as [UrlKind, string]),
    ...(hostileFiles ? hostile : []).map((p) => ['hostile', p] as [UrlKind, string]),
  ];
}

// --- the server process -----------------------------------------------------------------------

/** VmRSS and VmHWM (peak) of a process, in MiB; undefined where /proc is not available. */
function memoryOf(pid: number): { rssMiB?: number; peakMiB?: number } {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const field = (name: string) => {
      const kb = new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1];
      return kb === undefined ? undefined : Math.round(Number(kb) / 1024);
    };
    return { rssMiB: field('VmRSS'), peakMiB: field('VmHWM') };
  } catch {
    return {};
  }
}

/** The server process while it runs, so that a watchdog or Ctrl-C never leaves it behind. */
let liveServer: ChildProcess | undefined;

async function startServer(configFile: string): Promise<{ child: ChildProcess; baseUrl: string; stderr: string[] }> {
  const root = resolve(__dirname, '..');
  // As `npm start` runs it (package.json, lambda/node-flags.ts).
  const child = spawn(process.execPath, [...NODE_FLAGS, '--import', 'tsx', join(root, 'local/start.ts'), '--config', configFile], {
    cwd: root,
    env: { ...process.env, PORT: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  liveServer = child;
  child.once('exit', () => {
    if (liveServer === child) liveServer = undefined;
  });
  const stderr: string[] = [];
  child.stderr!.setEncoding('utf8').on('data', (text: string) => stderr.push(...text.split('\n').filter(Boolean)));
  const baseUrl = await new Promise<string>((resolveUrl, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`The server did not start within 60 s:\n${out}\n${stderr.join('\n')}`)), 60_000);
    child.stdout!.setEncoding('utf8').on('data', (text: string) => {
      out += text;
      const match = /serving on (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (match) {
        clearTimeout(timer);
        resolveUrl(match[1]);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`The server exited (${code}) before it was ready:\n${stderr.join('\n')}`));
    });
  });
  return { child, baseUrl, stderr };
}

/** A process ended by a signal has no exit code, only its signal. */
function hasExited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

/** SIGTERM, then SIGKILL if the process has not exited within 5 s (a render may hold it). */
async function stopServer(child: ChildProcess): Promise<string> {
  if (hasExited(child)) return `had exited (${child.exitCode ?? child.signalCode})`;
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  child.kill('SIGTERM');
  const inTime = await Promise.race([exited.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 5000).unref())]);
  if (inTime) return 'exited on SIGTERM';
  child.kill('SIGKILL');
  await exited;
  return 'needed SIGKILL (SIGTERM did not stop it within 5 s)';
}

async function timedGet(url: string, headers: Record<string, string>): Promise<{ status: number; ms: number }> {
  const start = performance.now();
  try {
    const response = await fetch(url, { headers, signal: AbortSignal.timeout(CLIENT_TIMEOUT_S * 1000) });
    await response.arrayBuffer();
    return { status: response.status, ms: Math.round(performance.now() - start) };
  } catch {
    return { status: 0, ms: Math.round(performance.now() - start) };
  }
}

// --- the run ----------------------------------------------------------------------------------

const BROWSER_ACCEPT = 'image/avif,image/webp,image/apng,image/*,*/*;q=0.8';

export interface LoadResult {
  durationS: number;
  connections: number;
  requests: number;
  requestsPerSecond: number;
  latencyMs: { p50: number; p99: number; max: number };
  statusCounts: Record<string, number>;
  timeouts: number;
  errors: number;
  unexpected5xx: number;
  probe: { kind: UrlKind; path: string; status: number; ms: number }[];
  rssMiB: { before?: number; after?: number; peak?: number };
  afterLoad: { status: number; ms: number };
  shutdown: string;
  serverErrorLines: number;
  /** The machine: its CPUs, and the 1-minute load average before and after (other work on it shows here). */
  machine: { cpus: number; loadBefore: number; loadAfter: number };
}

export async function runLoad(durationS: number, connections: number, hostileFiles: boolean, log: (line: string) => void): Promise<LoadResult> {
  const dir = mkdtempSync(join(tmpdir(), 'afterimage-load-'));
  let s3: EmbeddedS3 | undefined;
  let server: Awaited<ReturnType<typeof startServer>> | undefined;
  try {
    s3 = await startEmbeddedS3([SAMPLE_BUCKET]);
    await seedSamples(s3);
    await seedCloudinaryBackup(s3);
    await seedHostileFiles(s3);
    const configFile = join(dir, 'load.config.json');
    writeFileSync(configFile, JSON.stringify(loadConfig(s3.endpoint)));
    server = await startServer(configFile);
    const { child, baseUrl } = server;
    const mix = urlMix(hostileFiles);

    // One sequential pass: what each URL answers alone, and how long it takes (also the warm-up).
    const probe: LoadResult['probe'] = [];
    for (const [kind, path] of mix) probe.push({ kind, path, ...(await timedGet(baseUrl + path, { accept: BROWSER_ACCEPT })) });
    log('One request each, alone (status, time):');
    for (const p of probe) log(`  ${p.kind.padEnd(8)} ${String(p.status).padStart(3)} ${String(p.ms).padStart(6)} ms  ${p.path}`);

    const before = memoryOf(child.pid!);
    const loadBefore = loadavg()[0];
    log(`\nLoad: ${connections} connections for ${durationS} s on ${baseUrl} (${mix.length} URLs in the cycle: ${(['valid', 'invalid', 'missing', 'hostile'] as const).map((k) => `${mix.filter(([kind]) => kind === k).length} ${k}`).join(', ')})`);
    const result = await autocannon({
      url: baseUrl,
      connections,
      duration: durationS,
      timeout: CLIENT_TIMEOUT_S,
      headers: { accept: BROWSER_ACCEPT },
      requests: mix.map(([, path]) => ({ method: 'GET', path })),
    });
    const after = memoryOf(child.pid!);
    const loadAfter = loadavg()[0];
    // Does the server answer promptly once the load stops?
    const afterLoad = await timedGet(`${baseUrl}/tr:w-100/products/portrait.jpg`, { accept: 'image/webp' });
    const shutdown = await stopServer(child);

    const statusCounts = Object.fromEntries(Object.entries(result.statusCodeStats).map(([code, { count }]) => [code, count]));
    const unexpected5xx = Object.entries(statusCounts)
      .filter(([code]) => Number(code) >= 500 && !EXPECTED_5XX.includes(Number(code)))
      .reduce((sum, [, count]) => sum + count, 0);
    const total = Object.values(statusCounts).reduce((a, b) => a + b, 0);
    return {
      durationS: result.duration,
      connections,
      requests: total,
      requestsPerSecond: Math.round((total / result.duration) * 10) / 10,
      latencyMs: { p50: result.latency.p50, p99: result.latency.p99, max: result.latency.max },
      statusCounts,
      timeouts: result.timeouts,
      errors: result.errors,
      unexpected5xx,
      probe,
      rssMiB: { before: before.rssMiB, after: after.rssMiB, peak: after.peakMiB },
      afterLoad,
      shutdown,
      machine: { cpus: cpus().length, loadBefore: Math.round(loadBefore * 100) / 100, loadAfter: Math.round(loadAfter * 100) / 100 },
      serverErrorLines: server.stderr.filter((line) => !/NodeVersionSupportWarning|node >=22|a\.co\/|upgrade to node|trace-warnings|^\s*$|versions published|will require|To continue receiving|More information/.test(line)).length,
    };
  } finally {
    if (server && !hasExited(server.child)) await stopServer(server.child);
    await s3?.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

function report(r: LoadResult, log: (line: string) => void): void {
  const mib = (n?: number) => (n === undefined ? 'n/a' : `${n} MiB`);
  log('');
  log(`throughput      ${r.requestsPerSecond} requests/s (${r.requests} responses in ${r.durationS} s, ${r.connections} connections)`);
  log(`latency         p50 ${r.latencyMs.p50} ms, p99 ${r.latencyMs.p99} ms, max ${r.latencyMs.max} ms`);
  log(`status counts   ${Object.entries(r.statusCounts).map(([code, count]) => `${code}: ${count}`).join(', ')}; client timeouts (${CLIENT_TIMEOUT_S} s): ${r.timeouts}; errors: ${r.errors}`);
  log(`unexpected 5xx  ${r.unexpected5xx} (expected: ${EXPECTED_5XX.join(', ')})`);
  log(`server RSS      before ${mib(r.rssMiB.before)}, after ${mib(r.rssMiB.after)}, peak ${mib(r.rssMiB.peak)}`);
  log(`after the load  a small resize answered ${r.afterLoad.status} in ${r.afterLoad.ms} ms; the server ${r.shutdown}`);
  // The client and the server account for about 2 of the load average during a run.
  const busy = Math.max(r.machine.loadBefore, r.machine.loadAfter - 2) > r.machine.cpus ? ' (above the CPU count: other work was running)' : '';
  log(`machine         ${r.machine.cpus} CPUs; 1-minute load average ${r.machine.loadBefore} before, ${r.machine.loadAfter} after${busy}`);
  if (r.serverErrorLines > 0) log(`server stderr   ${r.serverErrorLines} lines`);
}

if (require.main === module) {
  let options: ReturnType<typeof parseLoadArgs>;
  try {
    options = parseLoadArgs(process.argv.slice(2));
  } catch (error) {
    console.error((error as Error).message);
    process.exit(2);
  }
  // Bounded in time whatever happens: the load, the probe and the slowest hostile render.
  const giveUp = (why: string) => {
    console.error(`npm run load: ${why}`);
    liveServer?.kill('SIGKILL');
    process.exit(1);
  };
  setTimeout(() => giveUp('did not finish in time; giving up'), (options.durationS + 180) * 1000).unref();
  process.once('SIGINT', () => giveUp('interrupted'));
  process.once('SIGTERM', () => giveUp('terminated'));
  runLoad(options.durationS, options.connections, options.hostile, (line) => console.log(line)).then(
    (result) => {
      report(result, (line) => console.log(line));
      console.log(`RESULT ${JSON.stringify({ ...result, date: new Date().toISOString() })}`);
      process.exit(result.unexpected5xx > 0 ? 1 : 0);
    },
    (error) => {
      console.error(error);
      process.exit(1);
    },
  );
}
