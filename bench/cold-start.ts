// `npm run bench:cold-start`: the cold start of the Lambda bundle as it ships: a fresh Node
// process loads the bundle (the SDK, our code, the configuration file, sharp) and answers its
// first request, a 300×300 WebP of a 12-megapixel JPEG read from a local S3 server. Target
// (issue 10): load + first request ≤ 250 ms here.
//
// Where the time goes, from the same fresh processes, interleaved and as medians:
// - Node's own start (before the first line of the probe runs);
// - loading sharp alone (its native binding and libvips), in a process of its own;
// - loading the bundle (module evaluation: the SDK, our code, the configuration, sharp);
// - the first request, against a second one in the same process: the difference is what the
//   first request pays once (SDK clients' lazy parts, the connection to S3, libvips' start);
// - the same bundle with a linked source map and --enable-source-maps, the setting left off.
// Also the bundle's size, and its bytes by package (esbuild's metafile).

import { NODE_FLAGS } from '../lambda/node-flags';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import { loadavg } from 'node:os';
import * as path from 'node:path';
import * as esbuild from 'esbuild';
import { CONFIG_FILE_NAME, parseConfig } from '../lambda/config';
import { esbuildBuildOptions } from '../lib/lambda-bundling';
import { cameraJpeg } from './images';
import { startCountedS3 } from './s3-server';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 11);
const TARGET_MS = 250;
const DIR = path.join(__dirname, '.tmp', 'cold-start');
const BUCKET = 'cold';
const KEY = 'photos/camera.jpg';
// The 300×300 of the side-by-side benchmark's first workload.
const URL_PATH = `/tr:w-300,h-300,f-webp/${KEY}`;

/**
 * Marks the probe's result line: the handler writes its own lines on stdout too (the metrics,
 * in CloudWatch's embedded metric format, as Lambda's stdout carries them).
 */
const RESULT = 'cold-start-probe:';

/** Runs in a fresh process: argv = bundle, mode ('request' | 'sharp'), path, sharp's location. */
const PROBE = `
const result = (fields) => process.stdout.write('\\n${RESULT}' + JSON.stringify(fields) + '\\n');
const started = performance.now();
const [bundle, mode, rawPath, sharpPath] = process.argv.slice(1);
if (mode === 'sharp') {
  const cpu = process.cpuUsage();
  require(sharpPath);
  const { user, system } = process.cpuUsage(cpu);
  result({ bootMs: started, sharpMs: performance.now() - started, sharpCpuMs: (user + system) / 1000 });
} else {
globalThis.awslambda = { streamifyResponse: (h) => h, HttpResponseStream: { from: (s, prelude) => { if (prelude.statusCode !== 200) throw new Error(JSON.stringify(prelude)); return s; } } };
const { Writable } = require('node:stream');
const cpuAt = (since) => { const { user, system } = process.cpuUsage(since); return (user + system) / 1000; };
const cpu0 = process.cpuUsage();
const handler = require(bundle).handler;
const loaded = performance.now();
const loadCpuMs = cpuAt(cpu0);
const event = () => ({
  version: '2.0', rawPath, rawQueryString: '', isBase64Encoded: false,
  headers: { host: 'abc.lambda-url.us-east-1.on.aws', accept: 'image/avif,image/webp,*/*' },
  requestContext: { http: { method: 'GET', path: rawPath } },
});
const context = { getRemainingTimeInMillis: () => 30000 };
const invoke = async () => {
  let bytes = 0;
  const stream = new Writable({ write(chunk, _e, done) { bytes += chunk.length; done(); } });
  await handler(event(), stream, context);
  return bytes;
};
(async () => {
  const bytes = await invoke();
  const first = performance.now();
  const firstCpuMs = cpuAt(cpu0) - loadCpuMs;
  await invoke();
  const second = performance.now();
  const secondCpuMs = cpuAt(cpu0) - loadCpuMs - firstCpuMs;
  result({ bootMs: started, loadMs: loaded - started, firstMs: first - loaded, secondMs: second - first, loadCpuMs, firstCpuMs, secondCpuMs, bytes });
})().catch((error) => { console.error(error); process.exit(1); });
}
`;

interface Probe {
  bootMs: number;
  loadMs: number;
  firstMs: number;
  secondMs: number;
  sharpMs: number;
  loadCpuMs: number;
  firstCpuMs: number;
  secondCpuMs: number;
  sharpCpuMs: number;
  bytes: number;
  wallMs: number;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

/** A probe in a fresh process (asynchronously: the S3 server it reads from runs in this one). */
function run(args: string[], env: NodeJS.ProcessEnv): Promise<Probe> {
  const started = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    execFile(process.execPath, args, { encoding: 'utf8', env }, (error, stdout, stderr) => {
      const wallMs = Number(process.hrtime.bigint() - started) / 1e6;
      if (error) return reject(new Error(`probe failed: ${stderr}`));
      const line = stdout.split('\n').find((l) => l.startsWith(RESULT));
      if (!line) return reject(new Error(`probe wrote no result:\n${stdout}\n${stderr}`));
      resolve({ ...JSON.parse(line.slice(RESULT.length)), wallMs });
    });
  });
}

/** Bytes of the bundle by package (node_modules/<name>), ours as `afterimage`. */
function bytesByPackage(metafile: esbuild.Metafile, outfile: string): Array<[string, number]> {
  const output = Object.entries(metafile.outputs).find(([file]) => path.resolve(file) === path.resolve(outfile))![1];
  const totals = new Map<string, number>();
  for (const [input, { bytesInOutput }] of Object.entries(output.inputs)) {
    const match = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(input);
    const name = match ? (match[1].startsWith('@aws-sdk/') ? '@aws-sdk/*' : match[1].startsWith('@smithy/') ? '@smithy/*' : match[1]) : input.endsWith('.json') ? 'package.json' : 'afterimage';
    totals.set(name, (totals.get(name) ?? 0) + bytesInOutput);
  }
  return [...totals.entries()].sort((a, b) => b[1] - a[1]);
}

async function main(): Promise<void> {
  fs.rmSync(DIR, { recursive: true, force: true });
  const s3 = await startCountedS3([BUCKET]);
  try {
    await s3.put(BUCKET, KEY, await cameraJpeg(), 'image/jpeg');
    const config = JSON.stringify(parseConfig({ origins: [{ name: 'o', type: 's3', bucket: BUCKET, endpoint: s3.endpoint, forcePathStyle: true, credentials: { source: 'default-chain' } }] }));
    const bundles = { shipped: path.join(DIR, 'shipped', 'index.js'), mapped: path.join(DIR, 'mapped', 'index.js') };
    const built = await esbuild.build({ ...esbuildBuildOptions(bundles.shipped), metafile: true });
    await esbuild.build({ ...esbuildBuildOptions(bundles.mapped), sourcemap: true, sourcesContent: false });
    for (const bundle of Object.values(bundles)) fs.writeFileSync(path.join(path.dirname(bundle), CONFIG_FILE_NAME), config);

    // The function's credentials, as Lambda gives them (s3rver does not check them).
    const env = { ...process.env, NODE_OPTIONS: '', AWS_REGION: 'us-east-1', AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_SESSION_TOKEN: '', AFTERIMAGE_SECRET_ARN: '' };
    const sharpPath = require.resolve('sharp');
    const results: Record<'shipped' | 'mapped' | 'sharp', Probe[]> = { shipped: [], mapped: [], sharp: [] };
    for (let round = 0; round < ROUNDS; round++) {
      // With the flags Lambda starts Node with (lambda/node-flags.ts, through the asset's wrapper script).
      results.shipped.push(await run([...NODE_FLAGS, '-e', PROBE, bundles.shipped, 'request', URL_PATH], env));
      results.sharp.push(await run([...NODE_FLAGS, '-e', PROBE, '', 'sharp', '', sharpPath], env));
      results.mapped.push(await run([...NODE_FLAGS, '--enable-source-maps', '-e', PROBE, bundles.mapped, 'request', URL_PATH], env));
    }
    const m = (mode: keyof typeof results, field: keyof Probe) => median(results[mode].map((r) => r[field]));
    const coldMs = median(results.shipped.map((r) => r.loadMs + r.firstMs));
    const size = fs.statSync(bundles.shipped).size;
    const ms = (value: number) => `${value.toFixed(0)} ms`;

    console.log(`Cold start of the Lambda bundle: ${ROUNDS} fresh processes per row, interleaved, medians. Node ${process.versions.node} on ${process.arch}.`);
    console.log(`First request: GET ${URL_PATH} (a 4000×3000 JPEG) with a browser's Accept, from a local S3 server.\n`);
    const cpuCold = median(results.shipped.map((r) => r.loadCpuMs + r.firstCpuMs));
    console.log('CPU time (user + system, this process) is what a busy machine disturbs least; the wall time is what a viewer waits.\n');
    console.log('| phase | wall, median | CPU, median |');
    console.log('| --- | ---: | ---: |');
    console.log(`| Node's own start (before the bundle) | ${ms(m('shipped', 'bootMs'))} | |`);
    console.log(`| load the bundle (SDK, our code, configuration, sharp) | ${ms(m('shipped', 'loadMs'))} | ${ms(m('shipped', 'loadCpuMs'))} |`);
    console.log(`| … of which sharp alone (native binding, libvips), separate process | ${ms(m('sharp', 'sharpMs'))} | ${ms(m('sharp', 'sharpCpuMs'))} |`);
    console.log(`| first request | ${ms(m('shipped', 'firstMs'))} | ${ms(m('shipped', 'firstCpuMs'))} |`);
    console.log(`| … a second request in the same process (what every request costs) | ${ms(m('shipped', 'secondMs'))} | ${ms(m('shipped', 'secondCpuMs'))} |`);
    console.log(`| **load + first request** | **${ms(coldMs)}** | ${ms(cpuCold)} |`);
    console.log(`| whole process (spawn to exit, two requests) | ${ms(m('shipped', 'wallMs'))} | |`);
    console.log(`| load + first request with a source map and --enable-source-maps | ${ms(median(results.mapped.map((r) => r.loadMs + r.firstMs)))} | ${ms(median(results.mapped.map((r) => r.loadCpuMs + r.firstCpuMs)))} |`);
    console.log(`\nBundle: ${(size / 1024).toFixed(0)} KiB minified (source map ${(fs.statSync(`${bundles.mapped}.map`).size / 1024).toFixed(0)} KiB, not shipped); sharp and its libvips binaries are installed beside it. By package:`);
    console.log(bytesByPackage(built.metafile, bundles.shipped).slice(0, 8).map(([name, bytes]) => `${name} ${(bytes / 1024).toFixed(0)} KiB`).join(', '));
    console.log(`\n- **${coldMs <= TARGET_MS ? 'PASS' : 'FAIL'}** cold start (load + first 300×300 request) ${ms(coldMs)} ≤ ${TARGET_MS} ms (CPU ${ms(cpuCold)}; 1-minute load average ${loadavg()[0].toFixed(1)})`);
  } finally {
    await s3.close();
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
