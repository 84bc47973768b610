// Peak memory of a whole process serving with a full cache of originals: fills the cache from a
// real S3 server (distinct files, each just under the per-entry cap), then serves one request,
// and reports the process's peak resident memory (VmHWM). Started by cache-memory.ts; the job is
// JSON in argv[2], the answer one JSON line on stdout. Linux only (/proc/self).

import { readFileSync, writeFileSync } from 'node:fs';
import { parseConfig } from '../lambda/config';
import { ImageService } from '../lambda/service/image-service';
import { EMBEDDED_KEYS } from '../local/embedded-s3';
import type { CacheMemoryJob, CacheMemoryResult } from './cache-memory';

function statusKiB(field: 'VmHWM' | 'VmRSS'): number {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync('/proc/self/status', 'utf8'));
  return Number(match![1]);
}

async function main(): Promise<void> {
  const job = JSON.parse(process.argv[2]) as CacheMemoryJob;
  const config = parseConfig({
    origins: [{ name: 'o', type: 's3', bucket: job.bucket, endpoint: job.endpoint, credentials: { source: 'static', ...EMBEDDED_KEYS } }],
    limits: job.limits,
  });
  const service = new ImageService(config);
  const get = (path: string) => service.handle({ method: 'GET', rawPath: path, rawQuery: '', headers: { accept: job.accept ?? 'image/jpeg' } });
  // Peak memory from here on; the baseline is Node, sharp and the service, as in Lambda.
  writeFileSync('/proc/self/clear_refs', '5');
  const baselineKiB = statusKiB('VmRSS');
  for (const key of job.fillKeys) {
    const answer = await get(`/${key}`);
    if (answer.status !== 200) throw new Error(`filling the cache: /${key} answered ${answer.status} ${answer.headers['x-afterimage-error'] ?? ''}`);
  }
  const cachedBytes = service.originals.bytes;
  const start = performance.now();
  const answer = await get(`/tr:${job.chain}/${job.key}`);
  const result: CacheMemoryResult = {
    status: answer.status,
    error: answer.headers['x-afterimage-error'],
    contentType: answer.headers['content-type'],
    cachedBytes,
    cachedBytesAfter: service.originals.bytes,
    baselineMiB: baselineKiB / 1024,
    peakMiB: statusKiB('VmHWM') / 1024,
    ms: performance.now() - start,
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
