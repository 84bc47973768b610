// Integration harness for the tests and the benchmarks: a real s3rver on a random loopback
// port, the real ImageService behind the real local HTTP server, and a small client.

import type { Server } from 'node:http';
import sharp from 'sharp';
import { parseConfig, type AfterimageConfigInput, type OriginConfig } from '../lambda/config';
import { ImageService, type ServiceDependencies } from '../lambda/service/image-service';
import { EMBEDDED_KEYS, startEmbeddedS3, type EmbeddedS3 } from '../local/embedded-s3';
import { createLocalServer, listen } from '../local/server';

export interface HttpResult {
  status: number;
  headers: Headers;
  body: Buffer;
}

export interface Harness {
  s3: EmbeddedS3;
  service: ImageService;
  baseUrl: string;
  get(path: string, headers?: Record<string, string>, method?: string): Promise<HttpResult>;
  close(): Promise<void>;
}

/** An origin on the embedded S3 server, with its keys. */
export function s3Origin(s3: { endpoint: string }, origin: Partial<OriginConfig> & { name: string; bucket: string }): OriginConfig {
  return {
    type: 's3',
    folder: '/',
    endpoint: s3.endpoint,
    credentials: { source: 'static', ...EMBEDDED_KEYS },
    ...origin,
  } as OriginConfig;
}

export async function startHarness(options: {
  buckets: string[];
  config: (s3: EmbeddedS3) => AfterimageConfigInput;
  seed?: (s3: EmbeddedS3) => Promise<void>;
  deps?: ServiceDependencies;
}): Promise<Harness> {
  const s3 = await startEmbeddedS3(options.buckets);
  await options.seed?.(s3);
  const service = new ImageService(parseConfig(options.config(s3)), options.deps);
  const server: Server = createLocalServer(service);
  const port = await listen(server, 0);
  const baseUrl = `http://127.0.0.1:${port}`;
  return {
    s3,
    service,
    baseUrl,
    async get(path, headers = {}, method = 'GET') {
      const response = await fetch(baseUrl + path, { method, headers });
      return { status: response.status, headers: response.headers, body: Buffer.from(await response.arrayBuffer()) };
    },
    async close() {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections?.();
      await s3.close();
    },
  };
}

/** A solid-colour image (real pixels, real encoder). */
export function solidImage(width: number, height: number, colour: { r: number; g: number; b: number; alpha?: number }, format: 'jpeg' | 'png' | 'webp' = 'jpeg'): Promise<Buffer> {
  return sharp({ create: { width, height, channels: colour.alpha === undefined ? 3 : 4, background: colour } })[format]().toBuffer();
}

/** Decodes a response body with sharp. */
export async function decode(body: Buffer): Promise<{ width: number; height: number; format: string; hasAlpha: boolean }> {
  const meta = await sharp(body).metadata();
  return { width: meta.width!, height: meta.height!, format: meta.format!, hasAlpha: meta.hasAlpha ?? false };
}

/** The RGB(A) of one pixel. */
export async function pixel(body: Buffer, x: number, y: number): Promise<number[]> {
  const { data, info } = await sharp(body).raw().toBuffer({ resolveWithObject: true });
  const i = (y * info.width + x) * info.channels;
  return [...data.subarray(i, i + info.channels)];
}
