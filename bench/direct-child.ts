// The in-process contenders, in a process of their own so their CPU time and peak memory are
// theirs alone (the S3 server runs in the bench's process):
// - limit+S3: the SDK's GetObject from the same S3 server, then sharp with afterimage's
//   operations and encoder settings: the fair limit for a bucket-backed service;
// - sharp alone: the same sharp calls on bytes already in memory;
// - afterimage, no HTTP: afterimage's ImageService called in-process (the cache of originals off,
//   as the fair afterimage runs), in a process of its own: afterimage without the HTTP server and
//   the hop, to show what they cost at concurrency 1.
// Driven by the bench over IPC; each `run` is one measured cell, timed here.

import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import sharp from 'sharp';
import { parseConfig } from '../lambda/config';
import { ImageService } from '../lambda/service/image-service';
import { EMBEDDED_KEYS } from '../local/embedded-s3';
import { ownStats, resetPeak } from './process-stats';
import { afterimageConfig, BUCKET, renderDirect, WORKLOADS, type BenchRequest } from './workloads';

// As lambda/image/pipeline.ts sets them for afterimage.
sharp.cache(false);
sharp.concurrency(0);

export type DirectMode = 'limit' | 'sharp' | 'service';

export type DirectMessage =
  | { id: number; type: 'init'; endpoint: string; service?: boolean }
  | { id: number; type: 'run'; mode: DirectMode; workload: string; concurrency: number; units: number }
  | { id: number; type: 'render'; mode: DirectMode; workload: string };

export interface CellResult {
  /** ms per unit (one image, or one burst). */
  latencies: number[];
  elapsedMs: number;
  cpuMs: number;
  peakKiB: number;
  /** Bytes of one unit's responses. */
  bytes: number;
  /**
   * Where one image's time went, summed over the cell (limit+S3 and afterimage without HTTP):
   * reading the original (the GET and its body; for afterimage, its lookup too), the sharp work
   * (for afterimage, the header inspection, the wait for a render slot and the render), and the
   * whole image from call to answer; the rest is afterimage's own steps around them.
   */
  stages?: Stages;
}

export interface Stages {
  images: number;
  fetchMs: number;
  renderMs: number;
  totalMs: number;
}

export const noStages = (): Stages => ({ images: 0, fetchMs: 0, renderMs: 0, totalMs: 0 });

/** Two tallies of stages as one. */
export const addStages = (a: Stages, b: Stages): Stages => ({ images: a.images + b.images, fetchMs: a.fetchMs + b.fetchMs, renderMs: a.renderMs + b.renderMs, totalMs: a.totalMs + b.totalMs });
/** The running cell's stages. */
let stages = noStages();

let client: S3Client;
const inMemory = new Map<string, Buffer>();
let service: ImageService | undefined;

async function getObject(key: string): Promise<Buffer> {
  const output = await client.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
  const bytes = await output.Body!.transformToByteArray();
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

async function renderOne(mode: DirectMode, request: BenchRequest): Promise<Buffer> {
  const started = performance.now();
  if (mode === 'service') {
    const [rawPath, rawQuery = ''] = request.afterimage.split('?');
    const { response, record } = await service!.serve({ method: 'GET', rawPath, rawQuery, headers: { accept: request.accept } });
    if (response.status !== 200) throw new Error(`${request.afterimage}: ${response.status} ${response.headers['x-afterimage-error'] ?? ''}`);
    const t = record.timings;
    tally((t.lookup ?? 0) + (t.fetch ?? 0), (t.queue ?? 0) + (t.transform ?? 0) + (t.encode ?? 0), performance.now() - started);
    return response.body;
  }
  const bytes = mode === 'limit' ? await getObject(request.key) : inMemory.get(request.key)!;
  const fetched = performance.now();
  const body = await renderDirect(bytes, request.render);
  if (mode === 'limit') tally(fetched - started, performance.now() - fetched, performance.now() - started);
  return body;
}

function tally(fetchMs: number, renderMs: number, totalMs: number): void {
  stages = addStages(stages, { images: 1, fetchMs, renderMs, totalMs });
}

async function unit(mode: DirectMode, requests: BenchRequest[]): Promise<number> {
  let bytes = 0;
  for (const request of requests) bytes += (await renderOne(mode, request)).length;
  return bytes;
}

/** `units` units, `concurrency` at a time; the latency of each unit and the cell's CPU and peak. */
export async function runCell(run: (index: number) => Promise<number>, concurrency: number, units: number, stats: () => Promise<{ cpuMs: number; peakKiB: number }>, reset: () => Promise<void>): Promise<CellResult> {
  await reset();
  const before = await stats();
  const latencies: number[] = [];
  let bytes = 0;
  let next = 0;
  const started = performance.now();
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < units) {
      const index = next++;
      const start = performance.now();
      bytes = await run(index);
      latencies.push(performance.now() - start);
    }
  }));
  const elapsedMs = performance.now() - started;
  const after = await stats();
  return { latencies, elapsedMs, cpuMs: after.cpuMs - before.cpuMs, peakKiB: after.peakKiB, bytes };
}

async function answer(message: DirectMessage): Promise<unknown> {
  switch (message.type) {
    case 'init': {
      client = new S3Client({
        region: 'us-east-1',
        endpoint: message.endpoint,
        forcePathStyle: true,
        credentials: { ...EMBEDDED_KEYS },
        requestChecksumCalculation: 'WHEN_REQUIRED',
        responseChecksumValidation: 'WHEN_REQUIRED',
      });
      if (message.service) service = new ImageService(parseConfig(afterimageConfig(message.endpoint, { originalCacheMB: 0 })));
      else for (const workload of WORKLOADS) for (const request of workload.requests) if (!inMemory.has(request.key)) inMemory.set(request.key, await getObject(request.key));
      return { ready: true };
    }
    case 'render': {
      const workload = WORKLOADS.find((w) => w.id === message.workload)!;
      return { bodies: await Promise.all(workload.requests.map(async (r) => (await renderOne(message.mode, r)).toString('base64'))) };
    }
    case 'run': {
      const workload = WORKLOADS.find((w) => w.id === message.workload)!;
      stages = noStages();
      const result = await runCell(() => unit(message.mode, workload.requests), message.concurrency, message.units, async () => ownStats(), async () => {
        // As for the afterimage server (server-probe.ts): the previous cell's garbage is not this cell's.
        (globalThis as { gc?: () => void }).gc?.();
        resetPeak('self');
      });
      return stages.images > 0 ? { ...result, stages } : result;
    }
  }
}

if (process.send) {
  process.on('message', (message: DirectMessage) => {
    answer(message).then(
      (result) => process.send!({ id: message.id, result }),
      (error) => process.send!({ id: message.id, error: String((error as Error)?.stack ?? error) }),
    );
  });
}
