// `npm run bench:cold-start`: what `NODE_OPTIONS=--enable-source-maps` would cost a cold start.
// The Lambda bundle is built twice: with the construct's esbuild settings (no source map), and
// the same plus a linked source map. Each is loaded in fresh Node processes, interleaved, the
// second with --enable-source-maps; each process reports how long loading the bundle took
// (module evaluation: the SDK, sharp, the configuration) and how long formatting one error's
// stack trace took.

import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as esbuild from 'esbuild';
import { CONFIG_FILE_NAME, parseConfig } from '../lambda/config';
import { esbuildBuildOptions } from '../lib/lambda-bundling';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 15);
const DIR = path.join(__dirname, '.tmp', 'cold-start');

const PROBE = `
const start = process.hrtime.bigint();
globalThis.awslambda = { streamifyResponse: (h) => h, HttpResponseStream: { from: (s) => s } };
require(process.argv[1]);
const loaded = process.hrtime.bigint();
const stack = new Error('probe').stack;
const traced = process.hrtime.bigint();
process.stdout.write(JSON.stringify({ loadMs: Number(loaded - start) / 1e6, firstTraceMs: Number(traced - loaded) / 1e6, stackLength: stack.length }));
`;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

async function main(): Promise<void> {
  fs.rmSync(DIR, { recursive: true, force: true });
  const config = JSON.stringify(parseConfig({ origins: [{ name: 'o', type: 's3', bucket: 'b', credentials: { source: 'default-chain' } }] }));
  const bundles = { without: path.join(DIR, 'shipped', 'index.js'), with: path.join(DIR, 'mapped', 'index.js') };
  await esbuild.build(esbuildBuildOptions(bundles.without));
  await esbuild.build({ ...esbuildBuildOptions(bundles.with), sourcemap: true, sourcesContent: false });
  for (const bundle of Object.values(bundles)) fs.writeFileSync(path.join(path.dirname(bundle), CONFIG_FILE_NAME), config);

  const results: Record<'without' | 'with', { loadMs: number; firstTraceMs: number; totalMs: number }[]> = { without: [], with: [] };
  for (let round = 0; round < ROUNDS; round++) {
    for (const mode of ['without', 'with'] as const) {
      const started = process.hrtime.bigint();
      const run = spawnSync(process.execPath, [...(mode === 'with' ? ['--enable-source-maps'] : []), '-e', PROBE, bundles[mode]], { encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' } });
      const totalMs = Number(process.hrtime.bigint() - started) / 1e6;
      if (run.status !== 0) throw new Error(`probe failed: ${run.stderr}`);
      results[mode].push({ ...JSON.parse(run.stdout), totalMs });
    }
  }
  const summary = (mode: 'without' | 'with') => ({
    load: median(results[mode].map((r) => r.loadMs)),
    trace: median(results[mode].map((r) => r.firstTraceMs)),
    total: median(results[mode].map((r) => r.totalMs)),
  });
  const a = summary('without');
  const b = summary('with');
  console.log(`Lambda bundle cold start, ${ROUNDS} interleaved rounds, medians (bundle ${(fs.statSync(bundles.without).size / 1024).toFixed(0)} KiB, source map ${(fs.statSync(`${bundles.with}.map`).size / 1024).toFixed(0)} KiB)`);
  console.log(`${''.padEnd(28)}${'load bundle'.padStart(14)}${'first stack trace'.padStart(20)}${'whole process'.padStart(16)}`);
  for (const [name, s] of [['as shipped (no map)', a], ['map + --enable-source-maps', b]] as const) {
    console.log(`${name.padEnd(28)}${`${s.load.toFixed(1)} ms`.padStart(14)}${`${s.trace.toFixed(2)} ms`.padStart(20)}${`${s.total.toFixed(1)} ms`.padStart(16)}`);
  }
  console.log(`ratio (with / without): load ×${(b.load / a.load).toFixed(2)}, whole process ×${(b.total / a.total).toFixed(2)}`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
