// `npm run bench`: measurements in one run, printed as markdown for BENCHMARKS.md (these machines
// are noisy: compare ratios, not absolute numbers). Real s3rver, real HTTP, real sharp.
//
// 1. Side by side (bench/side-by-side.ts): afterimage over HTTP against limit+S3 (the SDK's
//    GetObject + the same sharp calls), sharp alone on bytes in memory, and IPX, on the issue's
//    workloads, in interleaved rounds; PASS/FAIL for each target.
// 2. Peak memory (VmHWM, each in a child process) of the worst requests the default limits
//    allow, against limits.memoryBudgetMB: the known worst cases and, per format, the largest
//    input the cost model lets a heavy chain run on.
//
// Knobs: BENCH_ROUNDS (default 3), BENCH_SCALE (units per cell, default 1), BENCH_WORKLOADS
// (ids, comma-separated), BENCH_SIDE_BY_SIDE=0 or BENCH_WORST_CASES=0 to skip a part.

import { DEFAULT_LIMITS } from '../lambda/config';
import { largestAllowedInput, measurePeakRss, noiseImage, type PeakRssJob, type WorstCase } from '../tools/peak-rss';
import { sideBySide } from './side-by-side';

async function main(): Promise<void> {
  if (process.env.BENCH_SIDE_BY_SIDE !== '0') await sideBySide();
  if (process.env.BENCH_WORST_CASES !== '0') await worstCases();
}

const BROWSER = 'image/avif,image/webp,image/apng,*/*;q=0.8';

/** Part 2: every request measured alone, in a fresh process, at the default limits. */
export async function worstCases(): Promise<void> {
  const budget = DEFAULT_LIMITS.memoryBudgetMB;
  console.log(`\n## Peak memory of the worst allowed requests\n\nDefault limits: memoryBudgetMB ${budget}, maxEncodeSeconds ${DEFAULT_LIMITS.maxEncodeSeconds}, maxAvifPixels ${DEFAULT_LIMITS.maxAvifPixels}.\n\n\`\`\`text`);
  const fixed: Array<{ label: string; job: () => Promise<PeakRssJob> }> = [
    { label: '600x400 JPEG, w-8192,h-8192, browser Accept', job: async () => ({ inputFile: await noiseImage('jpeg', 600, 400), chain: 'w-8192,h-8192', accept: BROWSER }) },
    { label: '7000x7000 JPEG, no transformation, browser Accept', job: async () => ({ inputFile: await noiseImage('jpeg', 7000, 7000), chain: 'q-80', accept: BROWSER }) },
    { label: '7000x7000 JPEG, t-true, browser Accept', job: async () => ({ inputFile: await noiseImage('jpeg', 7000, 7000), chain: 't-true', accept: BROWSER }) },
    { label: '7000x7000 JPEG, ten bl-100 steps, browser Accept', job: async () => ({ inputFile: await noiseImage('jpeg', 7000, 7000), chain: Array(10).fill('bl-100').join(':'), accept: BROWSER }) },
  ];
  const searched: WorstCase[] = [
    { kind: 'jpeg-progressive', chain: 'rt-45:bl-20:e-contrast,f-jpg', limits: {} },
    { kind: 'png-interlaced', chain: 'bl-20:fl-v,f-png,pr-true', limits: {} },
    { kind: 'png', chain: 'e-contrast:r-40,f-webp', limits: {} },
    { kind: 'png', chain: 'bl-20:e-contrast,f-avif', limits: {} },
    { kind: 'jpeg', chain: 'f-avif', limits: {} },
    { kind: 'gif-animated', chain: 'w-0.9,f-gif', limits: {} },
  ];
  let worst = { label: '', peak: 0 };
  const report = (label: string, result: Awaited<ReturnType<typeof measurePeakRss>>) => {
    const outcome = result.status === 200 ? `${result.format} ${result.width}x${result.height}` : `${result.status} ${result.error}`;
    console.log(`  ${label.padEnd(62)} → ${outcome.padEnd(18)} peak ${result.peakMiB.toFixed(0).padStart(5)} MiB (model ${result.estimateMiB?.toFixed(0) ?? '-'}), ${(result.ms / 1000).toFixed(1)} s`);
    if (result.peakMiB > worst.peak) worst = { label, peak: result.peakMiB };
  };
  for (const { label, job } of fixed) report(label, await measurePeakRss(await job()));
  for (const worstCase of searched) {
    const { side, file } = await largestAllowedInput(worstCase);
    const frames = worstCase.kind.endsWith('-animated') ? ' (20 frames)' : '';
    report(`largest allowed: ${side}x${side} ${worstCase.kind}${frames}, ${worstCase.chain}`, await measurePeakRss({ inputFile: file, chain: worstCase.chain }));
  }
  console.log(`worst case measured: ${worst.peak.toFixed(0)} MiB of the ${budget} MiB budget (${worst.label})\n\`\`\`\n`);
}

if (require.main === module) {
  main().catch((error) => {
    console.error(error);
    process.exit(1);
  });
}
