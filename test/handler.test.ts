// The Lambda adapter (lambda/function-url.ts) run by a double of the real Lambda runtime:
// aws-lambda-ric 3.3.0 (see helpers/lambda-runtime.ts for what was taken from which file).
// The first block pins the double's own behaviour to the client's, including the pattern the
// handler used before (HttpResponseStream.from, then end(body, cb)), which the real runtime
// never answers.

import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { RESPONSE_MARGIN_MS, createStreamingHandler, loadService, type ResponseStream } from '../lambda/function-url';
import type { ImageService } from '../lambda/service/image-service';
import { decode, s3Origin, solidImage, startHarness, type Harness } from '../tools/harness';
import {
  LambdaRuntime,
  RUNTIME_CLIENT_VERSION,
  awslambdaDouble,
  functionUrlEvent,
  installLambdaRuntime,
  type RuntimeResponseStream,
  type StreamingHandler,
} from './helpers/lambda-runtime';

installLambdaRuntime();

const BUCKET = 'handler';
let runtime: LambdaRuntime;
let h: Harness;
let large: Buffer;

beforeAll(async () => {
  runtime = await new LambdaRuntime().start();
  large = randomBytes(40 * 1024 * 1024);
  h = await startHarness({
    buckets: [BUCKET],
    // The hostile SVG may be drawn (it takes many seconds), so only a deadline stops it.
    config: (s3) => ({ origins: [s3Origin(s3, { name: 'main', bucket: BUCKET })], limits: { maxSvgPixels: 3500 ** 2 } }),
    seed: async (s3) => {
      const blur = '<filter id="f"><feGaussianBlur stdDeviation="2000"/></filter><rect width="100%" height="100%" fill="red" filter="url(#f)"/>';
      await s3.put(BUCKET, 'hostile.svg', Buffer.from(`<svg xmlns="http://www.w3.org/2000/svg" width="3500" height="3500">${blur}</svg>`), 'image/svg+xml');
      await s3.put(BUCKET, 'photo.jpg', await solidImage(400, 300, { r: 200, g: 120, b: 40 }), 'image/jpeg');
      await s3.put(BUCKET, 'big.bin', large, 'application/octet-stream');
      await s3.put(BUCKET, 'medium.bin', large.subarray(0, 16_000_000), 'application/octet-stream');
    },
  });
}, 60_000);

afterAll(async () => {
  await runtime?.stop();
  await h?.close();
});

const streaming = (fn: (event: never, stream: RuntimeResponseStream) => Promise<void>) =>
  awslambdaDouble.streamifyResponse(fn as unknown as StreamingHandler);

describe(`the runtime double behaves like ${RUNTIME_CLIENT_VERSION}`, () => {
  test('the handler pattern used before (from, then end(body, cb)) sends no prelude and never settles', async () => {
    const old = streaming(async (_event, responseStream) => {
      const stream = awslambda.HttpResponseStream.from(responseStream as never, { statusCode: 200, headers: { 'content-type': 'image/webp' } });
      await new Promise<void>((resolve) => (stream as unknown as { end(b: Buffer, cb: () => void): void }).end(Buffer.from('RIFF....WEBP'), () => resolve()));
    });
    const result = await runtime.invoke(old, functionUrlEvent('GET', '/photo.jpg'), { timeoutMs: 1000 });
    expect(result.failure).toBe('timeout');
    // The body reached the Runtime API raw: no JSON prelude, no delimiter.
    expect(result.record?.headers['content-type']).toBe('application/vnd.awslambda.http-integration-response');
    expect(result.record?.body.toString('latin1')).toBe('RIFF....WEBP');
  });

  test('a body that never reaches write() leaves the Function URL without a status: 502', async () => {
    const endOnly = streaming(async (_event, responseStream) => {
      const stream = awslambda.HttpResponseStream.from(responseStream as never, { statusCode: 304, headers: {} }) as unknown as ResponseStream;
      await new Promise<void>((resolve) => {
        stream.on('finish', () => resolve());
        stream.end();
      });
    });
    const result = await runtime.invoke(endOnly, functionUrlEvent('HEAD', '/photo.jpg'));
    expect(result.failure).toBe('no-prelude');
    expect(result.statusCode).toBe(502);
  });

  test('the prelude goes out on the first write, then 8 NUL bytes, over a chunked streaming POST', async () => {
    const writer = streaming(async (_event, responseStream) => {
      const stream = awslambda.HttpResponseStream.from(responseStream as never, { statusCode: 201, headers: { 'x-a': 'b' } }) as unknown as ResponseStream;
      stream.write('hello ');
      stream.write('world');
      await new Promise<void>((resolve) => stream.end(() => resolve()));
    });
    const result = await runtime.invoke(writer, functionUrlEvent('GET', '/'));
    expect(result.failure).toBeUndefined();
    expect(result.statusCode).toBe(201);
    expect(result.headers).toEqual({ 'x-a': 'b' });
    expect(result.body.toString()).toBe('hello world');
    const record = result.record!;
    expect(record.headers['lambda-runtime-function-response-mode']).toBe('streaming');
    expect(record.headers['transfer-encoding']).toBe('chunked');
    expect(record.headers.trailer).toMatch(/Lambda-Runtime-Function-Error-Type/i);
    expect(record.body.indexOf(Buffer.alloc(8))).toBe(Buffer.byteLength('{"statusCode":201,"headers":{"x-a":"b"}}'));
  });

  test('setContentType after the first write throws, as in the client', async () => {
    let thrown: unknown;
    const late = streaming(async (_event, responseStream) => {
      responseStream.write('x');
      try {
        responseStream.setContentType('text/plain');
      } catch (error) {
        thrown = error;
      }
      await new Promise<void>((resolve) => responseStream.end(() => resolve()));
    });
    await runtime.invoke(late, functionUrlEvent('GET', '/'));
    expect(String(thrown)).toMatch(/too late/);
  });

  test('a handler that rejects fails the invocation through the error trailers: the Function URL answers 502', async () => {
    const failing = streaming(async () => {
      throw new TypeError('boom');
    });
    const result = await runtime.invoke(failing, functionUrlEvent('GET', '/'));
    expect(result.failure).toBe('invoke-error');
    expect(result.errorType).toBe('TypeError');
    expect(result.statusCode).toBe(502);
  });

  test('a failure after the prelude cannot change the status: the viewer gets it, and a body cut short', async () => {
    const failsLate = streaming(async (_event, responseStream) => {
      const stream = awslambda.HttpResponseStream.from(responseStream as never, { statusCode: 200, headers: { 'content-length': '1000' } }) as unknown as ResponseStream;
      stream.write(Buffer.alloc(100, 1));
      throw new Error('late');
    });
    const result = await runtime.invoke(failsLate, functionUrlEvent('GET', '/'));
    expect([result.statusCode, result.truncated, result.failure]).toEqual([200, true, 'invoke-error']);
    expect(result.body.length).toBe(100);
  });

  test('past the first 6 MB, the Runtime API reads at most 2 MB/s', async () => {
    const ten = Buffer.alloc(10_000_000, 7);
    const writer = streaming(async (_event, responseStream) => {
      const stream = awslambda.HttpResponseStream.from(responseStream as never, { statusCode: 200, headers: {} }) as unknown as ResponseStream;
      stream.write(ten);
      await new Promise<void>((resolve) => stream.end(() => resolve()));
    });
    const started = Date.now();
    const result = await runtime.invoke(writer, functionUrlEvent('GET', '/'));
    expect(result.body.length).toBe(ten.length);
    // (10 MB - 6 MB) at 2 MB/s: no less than 2 s, whatever the machine.
    expect(Date.now() - started).toBeGreaterThanOrEqual(1900);
  });

  test('a handler that returns before ending the stream hangs the invocation until its timeout', async () => {
    // The client awaits the Runtime API's answer, which only comes once the request has ended.
    const unfinished = streaming(async (_event, responseStream) => {
      responseStream.write('partial');
    });
    const result = await runtime.invoke(unfinished, functionUrlEvent('GET', '/'), { timeoutMs: 500 });
    expect(result.failure).toBe('timeout');
  });
});

describe('the Lambda handler under the runtime double', () => {
  const handler = () => awslambdaDouble.streamifyResponse(createStreamingHandler({ service: h.service }) as unknown as StreamingHandler);

  test('GET: the status and headers reach the viewer, then the image', async () => {
    const result = await runtime.invoke(handler(), functionUrlEvent('GET', '/tr:w-100/photo.jpg', { accept: 'image/webp' }));
    expect(result.failure).toBeUndefined();
    expect(result.statusCode).toBe(200);
    expect(result.headers['content-type']).toBe('image/webp');
    expect(result.headers['content-length']).toBe(String(result.body.length));
    expect(result.headers.etag).toMatch(/^"/);
    expect(await decode(result.body)).toMatchObject({ format: 'webp', width: 100, height: 75 });
  });

  test('HEAD: status and headers with an empty body, sent through an explicit empty write', async () => {
    const get = await runtime.invoke(handler(), functionUrlEvent('GET', '/tr:w-100/photo.jpg', { accept: 'image/webp' }));
    const head = await runtime.invoke(handler(), functionUrlEvent('HEAD', '/tr:w-100/photo.jpg', { accept: 'image/webp' }));
    expect(head.failure).toBeUndefined();
    expect(head.statusCode).toBe(200);
    expect(head.headers['content-length']).toBe(String(get.body.length));
    expect(head.headers.etag).toBe(get.headers.etag);
    expect(head.body.length).toBe(0);
    expect(head.writes.sizes).toEqual([0]);
  });

  test('304: the revalidation answer keeps its status and ETag (never an empty 200)', async () => {
    const get = await runtime.invoke(handler(), functionUrlEvent('GET', '/tr:w-100/photo.jpg', { accept: 'image/webp' }));
    const revalidated = await runtime.invoke(
      handler(),
      functionUrlEvent('GET', '/tr:w-100/photo.jpg', { accept: 'image/webp', 'if-none-match': get.headers.etag! }),
    );
    expect(revalidated.failure).toBeUndefined();
    expect(revalidated.statusCode).toBe(304);
    expect(revalidated.headers.etag).toBe(get.headers.etag);
    expect(revalidated.body.length).toBe(0);
  });

  test('errors keep their status and reason header', async () => {
    const missing = await runtime.invoke(handler(), functionUrlEvent('GET', '/missing.jpg'));
    expect(missing.statusCode).toBe(404);
    expect(missing.headers['x-afterimage-error']).toMatch(/^ENOENT - /);
    const bad = await runtime.invoke(handler(), functionUrlEvent('GET', '/tr:w-abc/photo.jpg'));
    expect(bad.statusCode).toBe(400);
    expect(bad.headers['x-afterimage-error']).toMatch(/^EINVAL - .*w/);
  });

  test('a 40 MB original streams whole, in chunks of at most 64 KiB, waiting for drain (17 s: 2 MB/s after 6 MB)', async () => {
    const result = await runtime.invoke(handler(), functionUrlEvent('GET', '/tr:orig-true/big.bin'), { timeoutMs: 30_000 });
    expect(result.failure).toBeUndefined();
    expect(result.statusCode).toBe(200);
    expect(result.headers['content-length']).toBe(String(large.length));
    expect(result.body.equals(large)).toBe(true);
    expect(Math.max(...result.writes.sizes)).toBeLessThanOrEqual(64 * 1024);
    expect(result.writes.sizes.length).toBeGreaterThanOrEqual(640);
    // The transport did push back, and the handler waited each time.
    expect(result.writes.refused).toBeGreaterThan(0);
    expect(result.writes.ignoredBackpressure).toBe(0);
  }, 60_000);

  test('a body that could not be streamed before the timeout is a 503 now, not a 200 cut short', async () => {
    // 16 MB: 5 s to stream at Lambda's 2 MB/s past the first 6 MB; the function has 4 s.
    const result = await runtime.invoke(handler(), functionUrlEvent('GET', '/tr:orig-true/medium.bin'), { timeoutMs: 4000 });
    expect([result.statusCode, result.failure, result.truncated]).toEqual([503, undefined, undefined]);
    expect(result.headers['cache-control']).toBe('no-store');
    expect(result.headers['x-afterimage-error']).toMatch(/^EDEADLINE - The response of 16000000 bytes would take 5000 ms to stream/);
    // With the time it needs, the same file arrives whole.
    const whole = await runtime.invoke(handler(), functionUrlEvent('GET', '/tr:orig-true/medium.bin'), { timeoutMs: 15_000 });
    expect([whole.statusCode, whole.truncated, whole.body.length]).toEqual([200, undefined, 16_000_000]);
  }, 30_000);

  test("the service's deadline falls before the function's timeout: a 503 reaches the viewer, not a timed-out invocation", async () => {
    const result = await runtime.invoke(handler(), functionUrlEvent('GET', '/tr:f-png/hostile.svg'), { timeoutMs: RESPONSE_MARGIN_MS + 600 });
    expect(result.failure).toBeUndefined();
    expect(result.statusCode).toBe(503);
    expect(result.headers['x-afterimage-error']).toMatch(/^EDEADLINE - /);
    expect(result.headers['cache-control']).toBe('no-store');
    const stopped = Date.now() + 15_000;
    while (h.service.renderSlots.load.running > 0 && Date.now() < stopped) await new Promise((resolve) => setTimeout(resolve, 50));
    expect(h.service.renderSlots.load.running).toBe(0);
  }, 30_000);

  test('an exception outside the service is a 500 with no-store and the reason header, not an invoke error', async () => {
    const broken = { serve: () => Promise.reject(new Error('not the service')) } as unknown as ImageService;
    const failing = awslambdaDouble.streamifyResponse(createStreamingHandler({ service: broken }) as unknown as StreamingHandler);
    const result = await runtime.invoke(failing, functionUrlEvent('GET', '/photo.jpg'));
    expect(result.failure).toBeUndefined();
    expect(result.statusCode).toBe(500);
    expect(result.headers['cache-control']).toBe('no-store');
    expect(result.headers['x-afterimage-error']).toMatch(/^EINTERNAL - /);
  });

  test('a function without a readable configuration answers 500 with no-store and says why', async () => {
    const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'afterimage-noconfig-'));
    const errors = jest.spyOn(console, 'error').mockImplementation(() => undefined);
    const source = loadService(empty);
    errors.mockRestore();
    expect('error' in source).toBe(true);
    const result = await runtime.invoke(
      awslambdaDouble.streamifyResponse(createStreamingHandler(source) as unknown as StreamingHandler),
      functionUrlEvent('HEAD', '/photo.jpg'),
    );
    expect(result.failure).toBeUndefined();
    expect(result.statusCode).toBe(500);
    expect(result.headers['cache-control']).toBe('no-store');
    expect(result.headers['x-afterimage-error']).toMatch(/could not load its configuration/);
    expect(result.body.length).toBe(0);
  });
});
