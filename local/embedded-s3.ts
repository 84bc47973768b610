// An S3-protocol server on a free loopback port (s3rver), for `npm start` and the tests.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';

// s3rver ships no types; this is the part of its API we use.
interface S3rverInstance {
  run(): Promise<{ port: number; address: string }>;
  close(): Promise<void>;
}
const S3rver = require('s3rver') as new (options: Record<string, unknown>) => S3rverInstance;

/** s3rver accepts any key pair; these are what its documentation uses. */
export const EMBEDDED_KEYS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

export interface EmbeddedS3 {
  endpoint: string;
  port: number;
  /** A client for seeding (Buffer bodies: s3rver stores streamed uploads corrupted). */
  client: S3Client;
  put(bucket: string, key: string, body: Buffer, contentType?: string): Promise<void>;
  close(): Promise<void>;
}

export async function startEmbeddedS3(buckets: string[]): Promise<EmbeddedS3> {
  const directory = mkdtempSync(join(tmpdir(), 'afterimage-s3-'));
  const server = new S3rver({
    port: 0,
    address: '127.0.0.1',
    silent: true,
    directory,
    configureBuckets: buckets.map((name) => ({ name })),
  });
  const { port } = await server.run();
  return embeddedS3Handle(port, async () => {
    await server.close();
    rmSync(directory, { recursive: true, force: true });
  });
}

/** A seeding client for an S3 server on a loopback port; `shutdown` stops the server. */
export function embeddedS3Handle(port: number, shutdown: () => Promise<void>): EmbeddedS3 {
  const endpoint = `http://127.0.0.1:${port}`;
  const client = new S3Client({
    region: 'us-east-1',
    endpoint,
    forcePathStyle: true,
    credentials: { ...EMBEDDED_KEYS },
    requestChecksumCalculation: 'WHEN_REQUIRED',
  });
  return {
    endpoint,
    port,
    client,
    async put(bucket, key, body, contentType) {
      await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentType: contentType }));
    },
    async close() {
      client.destroy();
      await shutdown();
    },
  };
}
