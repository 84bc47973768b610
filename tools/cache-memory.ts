// The memory argument of the cache of originals, measured: a fresh process fills its cache to
// limits.originalCacheMB and then serves the worst request the cost model allows it, and its
// peak resident memory (VmHWM) is read. The cache comes out of limits.memoryBudgetMB, so the
// peak should stay within the budget (README "Memory and time: the cost model").

import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { LimitsConfig } from '../lambda/config';
import { ENTRY_FRACTION } from '../lambda/origin/original-cache';
import type { EmbeddedS3 } from '../local/embedded-s3';
import { largestAllowedInput, type WorstCase } from './peak-rss';

export interface CacheMemoryJob {
  endpoint: string;
  bucket: string;
  /** Keys read first, to fill the cache. */
  fillKeys: string[];
  /** The request measured: `/tr:<chain>/<key>`. */
  key: string;
  chain: string;
  accept?: string;
  limits: Partial<LimitsConfig>;
}

export interface CacheMemoryResult {
  status: number;
  error?: string;
  contentType?: string;
  /** Bytes the cache held when the measured request started, and after it. */
  cachedBytes: number;
  cachedBytesAfter: number;
  /** Resident memory before the cache was filled. */
  baselineMiB: number;
  /** The process's peak resident memory (VmHWM), everything included. */
  peakMiB: number;
  ms: number;
}

const ROOT = join(__dirname, '..');
const CHILD = join(__dirname, 'cache-memory-child.ts');

export function measureCacheMemory(job: CacheMemoryJob): Promise<CacheMemoryResult> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['--import', 'tsx', CHILD, JSON.stringify(job)], { cwd: ROOT, maxBuffer: 1 << 20, env: { ...process.env, NODE_OPTIONS: '' } }, (error, stdout, stderr) => {
      if (error) return reject(new Error(`cache-memory child failed: ${error.message}\n${stderr}`));
      resolve(JSON.parse(stdout.trim().split('\n').pop()!) as CacheMemoryResult);
    });
  });
}

/**
 * Puts what fills a cache of `originalCacheMB` (distinct random files, each just under the
 * per-entry cap, stored as octet-stream so they are served as stored) and the largest input the
 * cost model allows `worst` (with the cache's share taken out of the budget) into `bucket`.
 */
export async function seedCacheMemoryJob(s3: EmbeddedS3, bucket: string, worst: WorstCase & { limits: { originalCacheMB: number } }): Promise<CacheMemoryJob> {
  const cacheBytes = worst.limits.originalCacheMB * 2 ** 20;
  const entryBytes = Math.floor(cacheBytes / ENTRY_FRACTION) - 4096;
  const fillKeys = Array.from({ length: Math.floor(cacheBytes / (entryBytes + 4096)) }, (_, i) => `fill/${i}.bin`);
  for (const key of fillKeys) await s3.put(bucket, key, randomBytes(entryBytes), 'application/octet-stream');
  const { file } = await largestAllowedInput(worst);
  await s3.put(bucket, 'worst', readFileSync(file));
  return { endpoint: s3.endpoint, bucket, fillKeys, key: 'worst', chain: worst.chain, accept: worst.accept, limits: worst.limits };
}
