// A test double of the Lambda Node.js runtime for response-streaming handlers, written from
// the source of the runtime interface client AWS runs: aws-lambda-nodejs-runtime-interface-client
// 3.3.0 (commit da5777a), files src/HttpResponseStream.js, src/ResponseStream.js,
// src/StreamingContext.js, src/Runtime.js (handleOnceStreaming) and src/UserFunction.js
// (the `awslambda` global). It behaves as that code does, including where it is unforgiving:
//
// - `HttpResponseStream.from()` only sets the content type and registers a hook; the JSON
//   prelude and the 8 NUL bytes go out on the stream's first `write()`.
// - `end(chunk, cb)` calls the request's own `end(chunk)`: the chunk bypasses that hook and
//   the callback is dropped. `end(cb)` passes the callback on.
// - The handler gets a plain object with the stream's methods bound, not a Writable.
// - The response travels as a real HTTP/1.1 chunked POST (node:http, keep-alive agent) to a
//   local Runtime API server, with `Lambda-Runtime-Function-Response-Mode: streaming` and the
//   error trailers; the runtime waits for the handler's promise, then for the Runtime API's
//   answer, then fails the invocation (error trailers) if the stream is not finished.
//
// What a viewer then gets from the Function URL is decoded from the bytes the server received:
// the prelude's status and headers, or a 502 when the invocation failed or the prelude is
// missing or malformed (the Function URL cannot produce an HTTP response without it). A failure
// after the prelude went out cannot change the status any more: the viewer gets the prelude's
// status and a cut-off body. Lambda's documented streaming limits apply to what the Runtime API
// reads: the first 6 MB at full speed, then at most 2 MB/s, and at most 200 MB in all (the
// double uses decimal megabytes, the stricter reading).

import { Agent, createServer, request as httpRequest, type ClientRequest, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Context, LambdaFunctionURLEvent } from 'aws-lambda';

/** The runtime client version this double was taken from. */
export const RUNTIME_CLIENT_VERSION = 'aws-lambda-ric 3.3.0';

const PRELUDE_CONTENT_TYPE = 'application/vnd.awslambda.http-integration-response';
const DELIMITER_LENGTH = 8;
const HEADER_RESPONSE_MODE = 'Lambda-Runtime-Function-Response-Mode';
const TRAILER_ERROR_TYPE = 'Lambda-Runtime-Function-Error-Type';
const TRAILER_ERROR_BODY = 'Lambda-Runtime-Function-Error-Body';
const STREAMING_MARK = Symbol.for('aws.lambda.runtime.handler.streaming');
const HIGH_WATER_MARK = Symbol.for('aws.lambda.runtime.handler.streaming.highWaterMark');

/** The stream object a streaming handler receives: the request's methods, bound. */
export interface RuntimeResponseStream {
  write(chunk: unknown, encoding?: BufferEncoding | ((error?: Error | null) => void), callback?: (error?: Error | null) => void): boolean;
  end(callback?: unknown): void;
  on(event: string, listener: (...args: unknown[]) => void): unknown;
  once(event: string, listener: (...args: unknown[]) => void): unknown;
  off(event: string, listener: (...args: unknown[]) => void): unknown;
  removeListener(event: string, listener: (...args: unknown[]) => void): unknown;
  emit(event: string, ...args: unknown[]): boolean;
  destroy(error?: Error): unknown;
  cork(): void;
  uncork(): void;
  setContentType(contentType: string): void;
  readonly writableFinished: boolean;
  readonly writableEnded: boolean;
  readonly writableNeedDrain: boolean;
  readonly writableLength: number;
  readonly writableHighWaterMark: number;
  destroyed: boolean;
  writable: boolean;
  _onBeforeFirstWrite?: (write: (chunk: string | Uint8Array) => void) => void;
}

export type StreamingHandler = (event: LambdaFunctionURLEvent, stream: RuntimeResponseStream, context: Context) => unknown;

/** The `awslambda` global as the runtime client defines it before loading the handler module. */
export const awslambdaDouble = {
  streamifyResponse<T extends object>(handler: T, options?: { highWaterMark?: number }): T {
    (handler as Record<symbol, unknown>)[STREAMING_MARK] = 'response';
    if (typeof options?.highWaterMark === 'number') (handler as Record<symbol, unknown>)[HIGH_WATER_MARK] = Math.trunc(options.highWaterMark);
    return handler;
  },
  HttpResponseStream: {
    from(stream: RuntimeResponseStream, prelude: unknown): RuntimeResponseStream {
      stream.setContentType(PRELUDE_CONTENT_TYPE);
      const json = JSON.stringify(prelude);
      // As in the client: nothing is written here; the hook runs on the first write().
      stream._onBeforeFirstWrite = (write) => {
        write(json);
        write(new Uint8Array(DELIMITER_LENGTH));
      };
      return stream;
    },
  },
};

/** Installs the double as `globalThis.awslambda`; call it before loading a handler module. */
export function installLambdaRuntime(): void {
  (globalThis as unknown as { awslambda: typeof awslambdaDouble }).awslambda = awslambdaDouble;
}

/** What arrived at the Runtime API for one invocation, as raw as it came. */
export interface RuntimeApiRecord {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  body: Buffer;
  trailers: Record<string, string | undefined>;
  /** The POST ended before its end: the function timed out, failed, or went over the size limit. */
  cutOff?: boolean;
}

/** Lambda's response streaming limits (AWS Lambda documentation, "Response streaming"). */
export interface StreamingLimits {
  /** Bytes sent at full speed before the rate applies. */
  burstBytes: number;
  bytesPerSecond: number;
  maxBytes: number;
}

export const LAMBDA_STREAMING_LIMITS: StreamingLimits = { burstBytes: 6_000_000, bytesPerSecond: 2_000_000, maxBytes: 200_000_000 };

/** What the viewer gets from the Function URL for one invocation. */
export interface FunctionUrlResult {
  statusCode: number;
  headers: Record<string, string>;
  body: Buffer;
  /** Why the Function URL could not build a response from the function's output, if it could not. */
  failure?: 'invoke-error' | 'timeout' | 'no-prelude';
  /** The prelude went out, then the invocation failed or timed out: the viewer got a cut-off body. */
  truncated?: boolean;
  /** The error trailers' type, when the runtime failed the invocation. */
  errorType?: string;
  /** The raw exchange with the Runtime API (on a timeout: what had arrived, if the POST ended). */
  record?: RuntimeApiRecord;
  /** How the handler wrote: the size of each write() and how often it wrote while it should have waited for 'drain'. */
  writes: WriteLog;
}

export interface WriteLog {
  sizes: number[];
  /** Writes that returned false (the caller should wait for 'drain'). */
  refused: number;
  /** Writes made after a refused write and before the next 'drain'. */
  ignoredBackpressure: number;
}

/** The Runtime API's response endpoint on 127.0.0.1, recording each streamed response. */
export class RuntimeApiServer {
  private server?: Server;
  private port = 0;
  private readonly waiting = new Map<string, (record: RuntimeApiRecord) => void>();
  private readonly received = new Map<string, RuntimeApiRecord>();

  constructor(private readonly limits: StreamingLimits = LAMBDA_STREAMING_LIMITS) {}

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const match = /^\/2018-06-01\/runtime\/invocation\/([^/]+)\/response$/.exec(req.url ?? '');
      if (req.method !== 'POST' || !match) {
        res.writeHead(404).end();
        return;
      }
      const id = decodeURIComponent(match[1]!);
      const chunks: Buffer[] = [];
      let total = 0;
      let ended = false;
      const settle = (cutOff: boolean) => {
        if (this.received.has(id)) return;
        const record: RuntimeApiRecord = {
          method: req.method!,
          path: req.url!,
          headers: req.headers,
          body: Buffer.concat(chunks),
          trailers: cutOff ? {} : { ...req.trailers },
          ...(cutOff ? { cutOff } : {}),
        };
        this.received.set(id, record);
        this.waiting.get(id)?.(record);
      };
      req.on('data', (chunk: Buffer) => {
        const before = total;
        total += chunk.length;
        if (total > this.limits.maxBytes) {
          chunks.push(chunk.subarray(0, this.limits.maxBytes - before));
          settle(true);
          req.destroy();
          return;
        }
        chunks.push(chunk);
        // Past the burst, read no faster than the rate: the function feels it as backpressure.
        const throttled = Math.min(chunk.length, total - this.limits.burstBytes);
        if (throttled > 0) {
          req.pause();
          setTimeout(() => req.resume(), (throttled / this.limits.bytesPerSecond) * 1000);
        }
      });
      req.on('close', () => {
        if (!ended) settle(true);
      });
      req.on('end', () => {
        ended = true;
        settle(false);
        // The Runtime API accepts a response with 202.
        res.writeHead(202, { 'content-type': 'application/json' }).end('{"status":"OK"}');
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  get address(): { hostname: string; port: number } {
    return { hostname: '127.0.0.1', port: this.port };
  }

  /** The response of invocation `id` if it has fully arrived. */
  receivedRecord(id: string): RuntimeApiRecord | undefined {
    return this.received.get(id);
  }

  /** Resolves when the response of invocation `id` has fully arrived. */
  recordOf(id: string): Promise<RuntimeApiRecord> {
    const done = this.received.get(id);
    if (done) return Promise.resolve(done);
    return new Promise((resolve) => this.waiting.set(id, resolve));
  }
}

interface StreamHandle {
  stream: RuntimeResponseStream;
  writes: WriteLog;
  /** Settles when the Runtime API has answered the POST. */
  responseDone: Promise<void>;
  fail(error: unknown): Promise<void>;
}

/** The client's createResponseStream: a chunked POST whose first write sends the prelude. */
function createResponseStream(api: RuntimeApiServer, agent: Agent, id: string): StreamHandle {
  let ready = true;
  let resolveDone!: () => void;
  let rejectDone!: (error: unknown) => void;
  const responseDone = new Promise<void>((resolve, reject) => {
    resolveDone = resolve;
    rejectDone = reject;
  });
  responseDone.catch(() => undefined);

  const req: ClientRequest & Record<string, unknown> = httpRequest(
    {
      ...api.address,
      method: 'POST',
      path: `/2018-06-01/runtime/invocation/${encodeURIComponent(id)}/response`,
      agent,
      headers: {
        [HEADER_RESPONSE_MODE]: 'streaming',
        Trailer: [TRAILER_ERROR_TYPE, TRAILER_ERROR_BODY],
        'Content-Type': 'application/octet-stream',
      },
    },
    (res) => {
      res.on('data', () => undefined);
      res.on('aborted', () => rejectDone(new Error('aborted')));
      res.on('end', () => resolveDone());
    },
  ) as ClientRequest & Record<string, unknown>;
  req.on('error', (error) => {
    rejectDone(error);
    req.destroy(error);
  });

  const originalEnd = req.end.bind(req) as (arg?: unknown) => void;
  // As in the client: only the first argument is passed on, so end(chunk, cb) drops cb.
  (req as unknown as { end: (arg?: unknown) => void }).end = (arg?: unknown) => originalEnd(arg);

  (req as unknown as RuntimeResponseStream).setContentType = (contentType: string) => {
    if (!ready) throw new Error('Cannot set content-type, too late.');
    req.setHeader('Content-Type', contentType);
  };

  // Not part of the client: a log of the handler's writes, for the tests' assertions.
  const writes: WriteLog = { sizes: [], refused: 0, ignoredBackpressure: 0 };
  let mustDrain = false;
  req.on('drain', () => (mustDrain = false));

  const originalWrite = req.write.bind(req) as (chunk: unknown, encoding?: unknown, callback?: unknown) => boolean;
  (req as unknown as { write: (...args: unknown[]) => boolean }).write = (chunk: unknown, encoding?: unknown, callback?: unknown) => {
    if (typeof chunk !== 'string' && !Buffer.isBuffer(chunk) && (chunk as { constructor?: unknown } | null)?.constructor !== Uint8Array) {
      chunk = JSON.stringify(chunk);
    }
    const hook = req._onBeforeFirstWrite;
    if (ready && typeof hook === 'function') (hook as (w: (c: unknown) => void) => void)((c) => originalWrite(c));
    if (mustDrain) writes.ignoredBackpressure++;
    writes.sizes.push((chunk as { length: number }).length);
    const result = originalWrite(chunk, encoding, callback);
    if (!result) {
      writes.refused++;
      mustDrain = true;
    }
    ready = false;
    return result;
  };

  // The handler sees only these members, bound to the request (writableStreamOnly).
  const methods = ['cork', 'destroy', 'end', 'uncork', 'write', 'addListener', 'emit', 'eventNames', 'getMaxListeners', 'listenerCount', 'listeners', 'off', 'on', 'once', 'prependListener', 'prependOnceListener', 'rawListeners', 'removeAllListeners', 'removeListener', 'setMaxListeners', 'setContentType'];
  const stream = Object.fromEntries(methods.map((name) => [name, (req[name] as (...args: unknown[]) => unknown).bind(req)])) as Record<string, unknown>;
  for (const name of ['destroyed', 'writable', '_onBeforeFirstWrite']) {
    Object.defineProperty(stream, name, { get: () => req[name], set: (value) => (req[name] = value) });
  }
  for (const name of ['writableFinished', 'writableObjectMode', 'writableBuffer', 'writableEnded', 'writableNeedDrain', 'writableHighWaterMark', 'writableCorked', 'writableLength']) {
    Object.defineProperty(stream, name, { get: () => req[name] });
  }

  const fail = (error: unknown) =>
    new Promise<void>((resolve) => {
      const described =
        error instanceof Error
          ? { errorType: error.name, errorMessage: error.message, trace: (error.stack ?? '').split('\n') }
          : { errorType: typeof error, errorMessage: String(error), trace: [] };
      req.addTrailers({
        [TRAILER_ERROR_TYPE]: described.errorType,
        [TRAILER_ERROR_BODY]: Buffer.from(JSON.stringify(described)).toString('base64'),
      });
      originalEnd(() => resolve());
    });

  return { stream: stream as unknown as RuntimeResponseStream, writes, responseDone, fail };
}

export interface InvokeOptions {
  /** The function's timeout: past it the invocation fails as Lambda's would. Default 10 s. */
  timeoutMs?: number;
}

/** Runs streaming handlers the way the runtime client's handleOnceStreaming does. */
export class LambdaRuntime {
  private readonly api: RuntimeApiServer;
  // The client's agent: keep-alive, one socket.
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 1 });
  private invocations = 0;

  constructor(limits: StreamingLimits = LAMBDA_STREAMING_LIMITS) {
    this.api = new RuntimeApiServer(limits);
  }

  async start(): Promise<this> {
    await this.api.start();
    return this;
  }

  async stop(): Promise<void> {
    this.agent.destroy();
    await this.api.stop();
  }

  async invoke(handler: StreamingHandler, event: LambdaFunctionURLEvent, options: InvokeOptions = {}): Promise<FunctionUrlResult> {
    const id = `invoke-${process.pid}-${++this.invocations}`;
    const timeoutMs = options.timeoutMs ?? 10_000;
    const deadline = Date.now() + timeoutMs;
    if ((handler as unknown as Record<symbol, unknown>)[STREAMING_MARK] !== 'response') {
      throw new Error('The handler was not wrapped with awslambda.streamifyResponse');
    }
    const { stream, writes, responseDone, fail } = createResponseStream(this.api, this.agent, id);
    const context = {
      awsRequestId: id,
      functionName: 'afterimage',
      functionVersion: '$LATEST',
      invokedFunctionArn: 'arn:aws:lambda:us-east-1:111111111111:function:afterimage',
      memoryLimitInMB: '1536',
      logGroupName: '/aws/lambda/afterimage',
      logStreamName: 'test',
      callbackWaitsForEmptyEventLoop: true,
      getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
      done: () => undefined,
      fail: () => undefined,
      succeed: () => undefined,
    } as Context;

    const runtime = (async () => {
      try {
        const result = handler(event, stream, context);
        if (!result || typeof (result as Promise<unknown>).then !== 'function') {
          await fail('Streaming does not support non-async handlers.');
          return;
        }
        await result;
        await responseDone;
        if (!stream.writableFinished) await fail('Response stream is not finished.');
      } catch (error) {
        await fail(error);
      }
    })();

    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), timeoutMs);
    });
    const outcome = await Promise.race([runtime.then(() => 'done' as const), timedOut]);
    clearTimeout(timer);
    if (outcome === 'timeout') {
      stream.destroy(new Error('Task timed out'));
      // What had reached the Runtime API when the sandbox was stopped.
      const record = await Promise.race([this.api.recordOf(id), new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 1000))]);
      const seen = record ? decodeFunctionUrlResponse(record) : undefined;
      if (seen && !seen.failure) return { ...seen, failure: 'timeout', truncated: true, writes };
      return { statusCode: 502, headers: {}, body: Buffer.alloc(0), failure: 'timeout', writes, ...(record ? { record } : {}) };
    }
    const record = await this.api.recordOf(id);
    return { ...decodeFunctionUrlResponse(record), writes };
  }
}

/** What the Function URL makes of a streamed response. */
export function decodeFunctionUrlResponse(record: RuntimeApiRecord): Omit<FunctionUrlResult, 'writes'> {
  const errorType = record.trailers[TRAILER_ERROR_TYPE.toLowerCase()];
  const failed = errorType !== undefined || record.cutOff === true;
  const contentType = String(record.headers['content-type'] ?? '');
  if (contentType !== PRELUDE_CONTENT_TYPE) {
    if (failed) return { statusCode: 502, headers: {}, body: Buffer.alloc(0), failure: 'invoke-error', ...(errorType ? { errorType } : {}), record };
    return { statusCode: 200, headers: { 'content-type': contentType }, body: record.body, record };
  }
  const delimiter = record.body.indexOf(Buffer.alloc(DELIMITER_LENGTH));
  let prelude: { statusCode?: number; headers?: Record<string, string> } | undefined;
  if (delimiter >= 0) {
    try {
      prelude = JSON.parse(record.body.subarray(0, delimiter).toString('utf8'));
    } catch {
      prelude = undefined;
    }
  }
  if (!prelude || typeof prelude !== 'object') {
    if (failed) return { statusCode: 502, headers: {}, body: Buffer.alloc(0), failure: 'invoke-error', ...(errorType ? { errorType } : {}), record };
    return { statusCode: 502, headers: {}, body: Buffer.alloc(0), failure: 'no-prelude', record };
  }
  return {
    statusCode: prelude.statusCode ?? 200,
    headers: prelude.headers ?? {},
    body: record.body.subarray(delimiter + DELIMITER_LENGTH),
    // The status already went out: a later failure only cuts the body short.
    ...(failed ? { failure: 'invoke-error' as const, truncated: true, ...(errorType ? { errorType } : {}) } : {}),
    record,
  };
}

/** A Function URL (payload format 2.0) event for a request, as CloudFront forwards it. */
export function functionUrlEvent(method: string, pathAndQuery: string, headers: Record<string, string> = {}): LambdaFunctionURLEvent {
  const [rawPath, rawQueryString = ''] = pathAndQuery.split(/\?(.*)/s, 2);
  const now = Date.now();
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath: rawPath!,
    rawQueryString,
    headers: { host: 'abc.lambda-url.us-east-1.on.aws', ...headers },
    isBase64Encoded: false,
    requestContext: {
      accountId: '111111111111',
      apiId: 'abc',
      domainName: 'abc.lambda-url.us-east-1.on.aws',
      domainPrefix: 'abc',
      http: { method, path: rawPath!, protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: 'test' },
      requestId: `req-${now}`,
      routeKey: '$default',
      stage: '$default',
      time: new Date(now).toISOString(),
      timeEpoch: now,
    },
  };
}
