// A stand-in for the `awslambda` global the Node.js Lambda runtime provides to streaming
// handlers, so a bundled handler can be invoked in-process: the prelude (status, headers)
// is recorded and the body collected.

import { Writable } from 'node:stream';
import type { Context, LambdaFunctionURLEvent } from 'aws-lambda';

export interface ResponsePrelude {
  statusCode?: number;
  headers?: Record<string, string>;
  cookies?: string[];
}

/** The response stream handed to the handler; it collects what the handler writes. */
export class RecordingResponseStream extends Writable {
  prelude?: ResponsePrelude;
  contentType?: string;
  private readonly chunks: Buffer[] = [];

  override _write(chunk: Buffer | string, encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk, encoding));
    callback();
  }

  setContentType(contentType: string): void {
    this.contentType = contentType;
  }

  get body(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

/** The subset of the runtime's `awslambda` global that streaming handlers use. */
export const awslambdaShim = {
  streamifyResponse<T>(handler: T): T {
    return handler;
  },
  HttpResponseStream: {
    /** Like the runtime's: the prelude goes first, then the body on the returned stream. */
    from(stream: Writable, prelude: ResponsePrelude): Writable {
      if (stream instanceof RecordingResponseStream) stream.prelude = prelude;
      return stream;
    },
  },
};

/** Installs the shim as `globalThis.awslambda`; call it before loading the handler module. */
export function installLambdaShim(): void {
  (globalThis as unknown as { awslambda: typeof awslambdaShim }).awslambda = awslambdaShim;
}

export interface InvokeResult {
  statusCode: number;
  headers: Record<string, string>;
  body: Buffer;
}

export type StreamingHandler = (event: LambdaFunctionURLEvent, stream: Writable, context: Context) => Promise<unknown>;

/** Invokes a streaming handler and resolves when it has returned and ended the stream. */
export async function invokeStreaming(handler: StreamingHandler, event: LambdaFunctionURLEvent): Promise<InvokeResult> {
  const stream = new RecordingResponseStream();
  const finished = new Promise<void>((resolve, reject) => {
    stream.on('finish', resolve);
    stream.on('error', reject);
  });
  await handler(event, stream, {} as Context);
  await finished;
  // Like Lambda: a handler that sends no prelude answers 200.
  return { statusCode: stream.prelude?.statusCode ?? 200, headers: stream.prelude?.headers ?? {}, body: stream.body };
}

/** A Function URL (payload format 2.0) event for a request, as CloudFront forwards it. */
export function functionUrlEvent(
  method: string,
  pathAndQuery: string,
  headers: Record<string, string> = {},
): LambdaFunctionURLEvent {
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
