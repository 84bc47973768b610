// `npm run bench:refusal`: what a request for an original over limits.maxInputPixels costs
// (README "Bounded cost of a request"). A 6000×4000 JPEG of noise (about 17 MB, generated at run
// time) in a local S3 server, a limit of 20,000,000 pixels, the cache of originals off; in one
// process, alternating request by request:
//   - afterimage: the service answering `/tr:w-300/over.jpg`, which cuts the read once the
//     header that arrived first is over the limit;
//   - whole read first: the same S3 client reading the whole object, then the same header read
//     and check (what afterimage did before it judged the header while the file arrived).
// Both must give the same 422. Prints the median and 90th percentile wall time of each, and their
// ratio. BENCH_REFUSALS (default 40) requests each.

import sharp from 'sharp';
import { parseConfig } from '../lambda/config';
import { inspectInput } from '../lambda/image/pipeline';
import { createS3Client, getObject } from '../lambda/origin/s3';
import { ImageService } from '../lambda/service/image-service';
import { startEmbeddedS3 } from '../local/embedded-s3';
import { afterimageConfig, BUCKET } from './workloads';

const REQUESTS = Number(process.env.BENCH_REFUSALS ?? 40);
const KEY = 'over.jpg';
const MAX_INPUT_PIXELS = 20_000_000;

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];

async function main(): Promise<void> {
  const s3 = await startEmbeddedS3([BUCKET]);
  try {
    const file = await sharp({ create: { width: 6000, height: 4000, channels: 3, background: '#888', noise: { type: 'gaussian', mean: 128, sigma: 50 } } })
      .jpeg({ quality: 90 })
      .toBuffer();
    await s3.put(BUCKET, KEY, file, 'image/jpeg');
    const config = parseConfig(afterimageConfig(s3.endpoint, { originalCacheMB: 0, maxInputPixels: MAX_INPUT_PIXELS }));
    const service = new ImageService(config);
    const origin = config.origins.find((o) => o.name === 'bench')!;
    const client = createS3Client(origin, { limits: config.limits });

    const contenders: Record<string, () => Promise<string>> = {
      afterimage: async () => {
        const { response } = await service.serve({ method: 'GET', rawPath: `/tr:w-300/${KEY}`, rawQuery: '', headers: { accept: 'image/webp' } });
        return `${response.status} ${response.headers['x-afterimage-error']}`;
      },
      'whole read first': async () => {
        const stored = await getObject(client, origin, KEY, config.limits);
        try {
          await inspectInput(stored!.body, config.limits);
          return '200';
        } catch (error) {
          const e = error as { status: number; code: string; message: string };
          return `${e.status} ${e.code} - ${e.message}`;
        }
      },
    };
    const names = Object.keys(contenders);
    const answers = await Promise.all(names.map((name) => contenders[name]()));
    if (!answers[0].startsWith('422 ELIMIT') || answers.some((a) => a !== answers[0])) throw new Error(`the answers differ: ${answers.join(' | ')}`);
    for (let i = 0; i < 3; i++) for (const name of names) await contenders[name]();

    const times: Record<string, number[]> = Object.fromEntries(names.map((name) => [name, []]));
    for (let i = 0; i < REQUESTS; i++) {
      for (const name of i % 2 ? names : [...names].reverse()) {
        const started = performance.now();
        await contenders[name]();
        times[name].push(performance.now() - started);
      }
    }

    console.log(`${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC; Node ${process.versions.node}, sharp ${sharp.versions.sharp}`);
    console.log(`An original over the pixel limit: ${KEY}, 6000x4000 JPEG, ${(file.length / 1e6).toFixed(1)} MB; limits.maxInputPixels ${MAX_INPUT_PIXELS}; ${REQUESTS} requests each, alternating.`);
    console.log(`Both answer: ${answers[0]}\n`);
    console.log('| | p50 ms | p90 ms |\n| --- | ---: | ---: |');
    const p50: Record<string, number> = {};
    for (const name of names) {
      const sorted = [...times[name]].sort((a, b) => a - b);
      p50[name] = percentile(sorted, 0.5);
      console.log(`| ${name} | ${p50[name].toFixed(1)} | ${percentile(sorted, 0.9).toFixed(1)} |`);
    }
    console.log(`\nafterimage refuses in ${(p50.afterimage / p50['whole read first']).toFixed(2)}x the time of a whole read first (medians).`);
  } finally {
    await s3.close();
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
