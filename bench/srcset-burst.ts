// `npm run bench:srcset`: the srcset burst (BENCHMARKS.md "srcset burst"). One 12 MP JPEG asked
// for at 320/640/960/1280/1920 wide, one after another (as a Lambda sandbox serves them) and all
// at once (the local server), by two services in one run: the cache of originals off (as before
// it existed) and on (the defaults). Real s3rver, real HTTP; a counting proxy in front of the S3
// server counts the GETs that reach it, and can hold each request back (BENCH_S3_LATENCY_MS,
// default 50, a run at 0 too) to stand for S3's first-byte latency, which loopback does not
// have. Each burst asks for a key not read before: a cold burst.

import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import { parseConfig } from '../lambda/config';
import { ImageService } from '../lambda/service/image-service';
import { startEmbeddedS3, type EmbeddedS3 } from '../local/embedded-s3';
import { createLocalServer, listen } from '../local/server';
import { s3Origin } from '../tools/harness';
import { measureCacheMemory, seedCacheMemoryJob } from '../tools/cache-memory';
import { largestAllowedInput, noiseImage, type WorstCase } from '../tools/peak-rss';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const LATENCIES = [0, Number(process.env.BENCH_S3_LATENCY_MS ?? 50)];
const WIDTHS = [320, 640, 960, 1280, 1920];
const ACCEPT = 'image/webp,image/*,*/*;q=0.8';

/** A proxy in front of the S3 server that counts the object GETs reaching it. */
async function countingProxy(target: string): Promise<{ endpoint: string; gets: () => number; setLatency: (ms: number) => void; close: () => void }> {
  let gets = 0;
  let latencyMs = 0;
  const upstream = new URL(target);
  const server = createServer((req, res) => {
    if (req.method === 'GET' && !req.url?.includes('list-type')) gets++;
    setTimeout(() => forwardTo(req, res), latencyMs);
  });
  const forwardTo = (req: IncomingMessage, res: ServerResponse) => {
    const forward = httpRequest({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    forward.on('error', () => res.destroy());
    req.pipe(forward);
  };
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    gets: () => gets,
    setLatency: (ms) => { latencyMs = ms; },
    close: () => server.close(),
  };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

async function main(): Promise<void> {
  const photo = readFileSync(await noiseImage('jpeg', 4000, 3000));
  const s3 = await startEmbeddedS3(['bench']);
  const proxy = await countingProxy(s3.endpoint);
  const services: Record<string, { base: string; close: () => void }> = {};
  for (const [name, originalCacheMB] of [['off', 0], ['on', undefined]] as const) {
    const config = parseConfig({ origins: [s3Origin(proxy, { name: 'bench', bucket: 'bench' })], limits: originalCacheMB === undefined ? {} : { originalCacheMB } });
    const server = createLocalServer(new ImageService(config));
    const port = await listen(server, 0);
    services[name] = { base: `http://127.0.0.1:${port}`, close: () => { server.close(); server.closeAllConnections?.(); } };
  }
  const keys = (ROUNDS * 2 * 2 + 2) * LATENCIES.length;
  for (let i = 0; i < keys; i++) await s3.put('bench', `photo-${i}.jpg`, photo, 'image/jpeg');
  let next = 0;

  const one = async (base: string, key: string, w: number) => {
    const response = await fetch(`${base}/tr:w-${w}/${key}`, { headers: { accept: ACCEPT } });
    await response.arrayBuffer();
    if (response.status !== 200) throw new Error(`w-${w}: ${response.status} ${response.headers.get('x-afterimage-error')}`);
  };
  const burst = async (name: string, concurrently: boolean) => {
    const { base } = services[name];
    const key = `photo-${next++}.jpg`;
    const before = proxy.gets();
    const start = performance.now();
    if (concurrently) await Promise.all(WIDTHS.map((w) => one(base, key, w)));
    else for (const w of WIDTHS) await one(base, key, w);
    return { ms: performance.now() - start, gets: proxy.gets() - before };
  };

  console.log(`srcset burst: ${(photo.length / 2 ** 20).toFixed(1)} MiB 12 MP JPEG (4000x3000) at w ${WIDTHS.join('/')}, Accept: WebP, ${ROUNDS} interleaved rounds, medians\n`);
  console.log('| S3 latency added | burst | cache of originals | S3 GETs per burst | total ms (median) | ratio |');
  console.log('| --- | --- | --- | --- | --- | --- |');
  for (const latency of ROUNDS > 0 ? LATENCIES : []) {
    proxy.setLatency(latency);
    // Warm-up: one burst each (sharp, the SDK, the connections).
    await burst('off', false);
    await burst('on', false);
    const results: Record<string, { ms: number[]; gets: number[] }> = {};
    for (let round = 0; round < ROUNDS; round++) {
      // Interleaved, and the order flipped every round.
      const order = round % 2 === 0 ? ['off', 'on'] : ['on', 'off'];
      for (const concurrently of [false, true]) {
        for (const name of order) {
          const id = `${name} ${concurrently ? 'at once' : 'one by one'}`;
          const { ms, gets } = await burst(name, concurrently);
          results[id] ??= { ms: [], gets: [] };
          results[id].ms.push(ms);
          results[id].gets.push(gets);
        }
      }
    }
    for (const mode of ['one by one', 'at once']) {
      const off = results[`off ${mode}`];
      const on = results[`on ${mode}`];
      for (const [name, r] of [['off (before)', off], ['on (256 MB)', on]] as const) {
        console.log(`| ${latency} ms | ${mode} | ${name} | ${median(r.gets)} | ${median(r.ms).toFixed(0)} | ×${(median(r.ms) / median(off.ms)).toFixed(2)} |`);
      }
    }
  }
  if (process.env.BENCH_MEMORY !== '0') await memory(s3);
  for (const service of Object.values(services)) service.close();
  proxy.close();
  await s3.close();
}

/**
 * The cache's memory at the default limits (1536 MB function, 1228 MB budget, 256 MB cache): a
 * fresh process fills the cache, then serves the worst request allowed, with the cache taken out
 * of the budget (as shipped) and, for comparison, with the render budget left at 1228 MB and the
 * cache on top (budget 1484 MB, cache 256 MB: what not accounting for the cache would allow).
 */
async function memory(s3: EmbeddedS3): Promise<void> {
  const worst: WorstCase & { limits: { originalCacheMB: number } } = { kind: 'jpeg-progressive', chain: 'rt-45:bl-20:e-contrast,f-jpg', limits: { originalCacheMB: 256 } };
  const job = await seedCacheMemoryJob(s3, 'bench', worst);
  const unreserved = await largestAllowedInput({ ...worst, limits: { memoryBudgetMB: 1228 + 256, originalCacheMB: 256 } });
  await s3.put('bench', 'worst-unreserved', readFileSync(unreserved.file));
  const reserved = await largestAllowedInput(worst);
  console.log(`\nmemory: 256 MB of originals cached, then ${worst.chain} on the largest progressive JPEG allowed (VmHWM of a fresh process)\n`);
  console.log('| render budget | input | status | cached MiB | peak MiB | of the 1228 MiB budget | of the 1536 MB function |');
  console.log('| --- | --- | --- | --- | --- | --- | --- |');
  const runs = [
    { name: '972 MB (1228 less the cache, as shipped)', side: reserved.side, job: { ...job, limits: { ...job.limits, requestTimeoutMs: 600_000 } } },
    { name: '1228 MB (the cache not counted)', side: unreserved.side, job: { ...job, key: 'worst-unreserved', limits: { memoryBudgetMB: 1228 + 256, originalCacheMB: 256, requestTimeoutMs: 600_000 } } },
  ];
  for (const run of runs) {
    const r = await measureCacheMemory(run.job);
    console.log(`| ${run.name} | ${run.side}² | ${r.status} | ${(r.cachedBytes / 2 ** 20).toFixed(0)} | ${r.peakMiB.toFixed(0)} | ${((r.peakMiB / 1228) * 100).toFixed(0)} % | ${((r.peakMiB / 1536) * 100).toFixed(0)} % |`);
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
