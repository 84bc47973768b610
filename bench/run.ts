// `npm run bench`: side-by-side measurements in one run (these machines are noisy: compare
// ratios, not absolute numbers). Real s3rver, real HTTP, real sharp.
//
// 1. Service overhead: the full path (HTTP → plan → S3 GET → sharp → response) against bare
//    sharp doing the same resize on bytes already in memory.
// 2. Output formats: the same resize encoded as JPEG, WebP and AVIF.
// 3. Throughput under concurrency, and the process's peak RSS.
// 4. Cloudinary backup origin: a request whose version resolution is cached against one that
//    lists the asset's versions every time (the cache turned off).
// 5. Peak memory (VmHWM, each in a child process) of the worst requests the default limits
//    allow, against limits.memoryBudgetMB: the cases and, per format, the largest
//    input the cost model lets a heavy chain run on.

import { GetObjectCommand } from '@aws-sdk/client-s3';
import sharp from 'sharp';
import { inspectInput, renderImage } from '../lambda/image/pipeline';
import { landscapeSvg } from '../local/samples';
import { DEFAULT_LIMITS } from '../lambda/config';
import { s3Origin, startHarness } from '../tools/harness';
import { largestAllowedInput, measurePeakRss, noiseImage, type PeakRssJob, type WorstCase } from '../tools/peak-rss';

const ITERATIONS = Number(process.env.BENCH_ITERATIONS ?? 30);

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function time(fn: () => Promise<unknown>, n = ITERATIONS): Promise<number[]> {
  for (let i = 0; i < 3; i++) await fn(); // warm-up
  const samples: number[] = [];
  for (let i = 0; i < n; i++) {
    const start = process.hrtime.bigint();
    await fn();
    samples.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  return samples;
}

function row(name: string, samples: number[], baseline?: number[]): string {
  const p50 = percentile(samples, 50);
  const ratio = baseline ? `  ×${(p50 / percentile(baseline, 50)).toFixed(2)}` : '';
  return `${name.padEnd(50)} p50 ${p50.toFixed(1).padStart(7)} ms   p95 ${percentile(samples, 95).toFixed(1).padStart(7)} ms${ratio}`;
}

async function main(): Promise<void> {
  // A drawn scene with film-grain noise, so the JPEG weighs what a photo weighs.
  const grain = await sharp({ create: { width: 2400, height: 1600, channels: 3, background: '#808080', noise: { type: 'gaussian', mean: 128, sigma: 24 } } }).png().toBuffer();
  const photo = await sharp(Buffer.from(landscapeSvg(2400, 1600)))
    .composite([{ input: grain, blend: 'soft-light' }])
    .jpeg({ quality: 85 })
    .toBuffer();
  const h = await startHarness({
    buckets: ['bench'],
    // Every request pays its S3 GET, as the rows say (the cache of originals has its own bench: bench:srcset).
    config: (s3) => ({ origins: [s3Origin(s3, { name: 'bench', bucket: 'bench' })], limits: { originalCacheMB: 0 } }),
    seed: (s3) => s3.put('bench', 'photo.jpg', photo, 'image/jpeg'),
  });
  let peakRss = process.memoryUsage().rss;
  const rssTimer = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 20);
  try {
    console.log(`input: 2400x1600 JPEG, ${photo.length} bytes; ${ITERATIONS} iterations each, sequential\n`);

    const bare = await time(() => sharp(photo).autoOrient().resize(400).jpeg({ quality: 80 }).toBuffer());
    const { limits } = h.service.config;
    const inProcess = await time(async () => {
      const input = (await inspectInput(photo, limits))!;
      return renderImage(photo, input, { steps: [{ width: { px: 400 } }], output: {}, format: 'jpeg', defaultQuality: 80, limits });
    });
    const full = await time(() => h.get('/tr:w-400/photo.jpg', { accept: '*/*' }));
    const s3Only = await time(async () => {
      const object = await h.s3.client.send(new GetObjectCommand({ Bucket: 'bench', Key: 'photo.jpg' }));
      await object.Body!.transformToByteArray();
    });
    const original = await time(() => h.get('/tr:orig-true/photo.jpg'));
    console.log('1. service overhead (w-400, JPEG out)');
    console.log(row('bare sharp resize, bytes in memory', bare));
    console.log(row('afterimage pipeline in-process (inspect + render)', inProcess, bare));
    console.log(row('S3 GET alone (s3rver on loopback)', s3Only, bare));
    console.log(row('afterimage orig-true (HTTP + S3 GET, no sharp)', original, bare));
    console.log(row('afterimage over HTTP, S3 GET included', full, bare));

    console.log('\n2. output formats (w-400)');
    const jpeg = await time(() => h.get('/tr:w-400,f-jpg/photo.jpg'));
    const webp = await time(() => h.get('/tr:w-400,f-webp/photo.jpg'));
    const avif = await time(() => h.get('/tr:w-400,f-avif/photo.jpg'));
    console.log(row('JPEG', jpeg));
    console.log(row('WebP', webp, jpeg));
    console.log(row('AVIF', avif, jpeg));
    const sizes = await Promise.all(['jpg', 'webp', 'avif'].map(async (f) => (await h.get(`/tr:w-400,f-${f}/photo.jpg`)).body.length));
    console.log(`bytes: JPEG ${sizes[0]}, WebP ${sizes[1]} (×${(sizes[1] / sizes[0]).toFixed(2)}), AVIF ${sizes[2]} (×${(sizes[2] / sizes[0]).toFixed(2)})`);

    console.log('\n3. concurrency (w-400, WebP out)');
    for (const concurrency of [1, 4, 16]) {
      const total = ITERATIONS * 2;
      const start = process.hrtime.bigint();
      let next = 0;
      await Promise.all(Array.from({ length: concurrency }, async () => {
        while (next++ < total) await h.get(`/tr:w-400/photo.jpg`, { accept: 'image/webp' });
      }));
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      console.log(`  concurrency ${String(concurrency).padStart(2)}: ${(total / seconds).toFixed(1)} requests/s`);
    }
    console.log('\n4. Cloudinary backup origin, 40 stored versions (w-400, JPEG out)');
    const backup = async (resolutionTtlSeconds: number) =>
      startHarness({
        buckets: ['backup'],
        config: (s3) => ({
          origins: [s3Origin(s3, { name: 'backup', bucket: 'backup', type: 'cloudinary-backup', folder: '/res/demo/' })],
          cache: { resolutionTtlSeconds },
          limits: { originalCacheMB: 0 },
        }),
        seed: async (s3) => {
          for (let v = 0; v < 40; v++) await s3.put('backup', `res/demo/image/upload/shoe/${1700000000 + v}.jpg`, photo, 'image/jpeg');
        },
      });
    const cachedHarness = await backup(60);
    const uncachedHarness = await backup(0);
    try {
      const cached = await time(() => cachedHarness.get('/image/upload/v1/shoe.jpg?tr=w-400', { accept: '*/*' }));
      const uncached = await time(() => uncachedHarness.get('/image/upload/v1/shoe.jpg?tr=w-400', { accept: '*/*' }));
      console.log(row('resolution cached (GET only)', cached));
      console.log(row('resolution listed every time (LIST + GET)', uncached, cached));
    } finally {
      await cachedHarness.close();
      await uncachedHarness.close();
    }

    console.log(`\npeak RSS of this process (server + s3rver + client): ${(peakRss / 2 ** 20).toFixed(0)} MiB`);
    if (process.env.BENCH_WORST_CASES !== '0') await worstCases();
  } finally {
    clearInterval(rssTimer);
    await h.close();
  }
}

const BROWSER = 'image/avif,image/webp,image/apng,*/*;q=0.8';

/** Section 5: every request measured alone, in a fresh process, at the default limits. */
export async function worstCases(): Promise<void> {
  const budget = DEFAULT_LIMITS.memoryBudgetMB;
  console.log(`\n5. peak memory of the worst allowed requests (default limits: memoryBudgetMB ${budget}, maxEncodeSeconds ${DEFAULT_LIMITS.maxEncodeSeconds}, maxAvifPixels ${DEFAULT_LIMITS.maxAvifPixels})`);
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
  console.log(`worst case measured: ${worst.peak.toFixed(0)} MiB of the ${budget} MiB budget (${worst.label})`);
}

if (require.main === module) {
  main().catch((error) => {
    console.error(error);
    process.exit(1);
  });
}
