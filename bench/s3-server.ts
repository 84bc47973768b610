// The benchmark's S3 server: s3rver on a loopback port, as in `npm start` and the tests, with
// every request it receives counted by kind (object GET, HEAD, LIST), so the bench can report
// what each contender asks of the bucket.

import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { embeddedS3Handle, type EmbeddedS3 } from '../local/embedded-s3';

interface S3rverInstance {
  run(): Promise<{ port: number }>;
  close(): Promise<void>;
  httpServer?: Server;
}
const S3rver = require('s3rver') as new (options: Record<string, unknown>) => S3rverInstance;

export interface S3Requests {
  get: number;
  head: number;
  list: number;
  other: number;
}

export interface CountedS3 extends EmbeddedS3 {
  /** Requests received since the server started. */
  readonly requests: Readonly<S3Requests>;
  /**
   * From now on, every request is answered `ms` later than s3rver would (0: at once): the
   * first-byte latency of a real bucket, which loopback does not have.
   */
  setLatency(ms: number): void;
}

export async function startCountedS3(buckets: string[]): Promise<CountedS3> {
  const directory = mkdtempSync(join(tmpdir(), 'afterimage-bench-s3-'));
  const server = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory, configureBuckets: buckets.map((name) => ({ name })) });
  const { port } = await server.run();
  const requests: S3Requests = { get: 0, head: 0, list: 0, other: 0 };
  // s3rver's own listener is put behind a delay (none until setLatency); the counting listener below is not.
  const http = server.httpServer!;
  const answer = http.listeners('request') as ((req: IncomingMessage, res: ServerResponse) => void)[];
  http.removeAllListeners('request');
  let latencyMs = 0;
  http.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const run = () => {
      for (const listener of answer) listener.call(http, req, res);
    };
    if (latencyMs > 0) setTimeout(run, latencyMs);
    else run();
  });
  // A second listener on the server's `request` event sees every request; s3rver's own answers it.
  http.on('request', (req: { method?: string; url?: string }) => {
    const [path, query = ''] = (req.url ?? '/').split('?');
    const objectPath = path.split('/').filter(Boolean).length >= 2; // path-style: /bucket/key
    if (req.method === 'GET' && objectPath) requests.get++;
    else if (req.method === 'HEAD' && objectPath) requests.head++;
    else if (req.method === 'GET' && (query.includes('list-type') || query.includes('prefix'))) requests.list++;
    else requests.other++;
  });
  const handle = embeddedS3Handle(port, async () => {
    await server.close();
    rmSync(directory, { recursive: true, force: true });
  });
  return Object.assign(handle, {
    requests,
    setLatency: (ms: number) => {
      latencyMs = Math.max(0, ms);
    },
  });
}

export function countsSince(now: Readonly<S3Requests>, before: S3Requests): S3Requests {
  return { get: now.get - before.get, head: now.head - before.head, list: now.list - before.list, other: now.other - before.other };
}
