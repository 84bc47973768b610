// The Lambda side of the Function URL: the event becomes a ServiceRequest, the ServiceResponse
// is written to the runtime's response stream. lambda/handler.ts wires it up.
//
// The runtime's response stream is unforgiving (see test/helpers/lambda-runtime.ts, taken from
// the runtime interface client's source): the status and headers (the "prelude") go out only
// on the first write(), and end(chunk, callback) neither triggers that nor calls the callback.
// So the prelude is always sent by a write, even for an empty body (HEAD, 304), the body
// follows in chunks that respect backpressure, and completion is awaited on 'finish'.

import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Context, LambdaFunctionURLEvent } from 'aws-lambda';
import { CONFIG_FILE_NAME, parseConfig } from './config';
import { SecretStore } from './origin/secrets';
import { answerPlayground, loadSignedPlayground, type SignedPlayground } from './playground/signed-access';
import { ImageService, type ServiceRequest, type ServiceResponse } from './service/image-service';
import { HttpError, internalError, limitExceeded } from './errors';
import { ERROR_HEADER, errorResponse } from './service/respond';
import { redactUrl, type RequestRecord } from './service/request-record';
import type { Telemetry } from './telemetry';

/** Body chunk size: large enough to be cheap, small enough that a 40 MB original is never one write. */
const BODY_CHUNK_BYTES = 64 * 1024;

/** The part of the runtime's response stream this handler uses (it is not a Writable instance). */
export interface ResponseStream {
  write(chunk: Uint8Array | string): boolean;
  end(callback?: () => void): void;
  on(event: string, listener: (...args: unknown[]) => void): unknown;
  off(event: string, listener: (...args: unknown[]) => void): unknown;
  readonly writableFinished?: boolean;
}

/** `playground`: the signed playground page, when the construct enabled it (AFTERIMAGE_PLAYGROUND=signed). */
export type ServiceSource = { service: ImageService; playground?: SignedPlayground } | { error: Error };

/** The service for this sandbox, or why there is none; read once, at cold start. */
export function loadService(directory: string): ServiceSource {
  try {
    const file = path.join(directory, CONFIG_FILE_NAME);
    const config = parseConfig(JSON.parse(fs.readFileSync(file, 'utf8')));
    const secretArn = process.env.AFTERIMAGE_SECRET_ARN;
    const secrets = secretArn ? new SecretStore(secretArn, config.cache.secretTtlSeconds * 1000) : undefined;
    const playground = process.env.AFTERIMAGE_PLAYGROUND === 'signed' ? loadSignedPlayground(directory, config, secrets) : undefined;
    return { service: new ImageService(config, { secrets }), playground };
  } catch (error) {
    console.error('afterimage: the function could not start', error);
    return { error: error as Error };
  }
}

export function toServiceRequest(event: LambdaFunctionURLEvent): ServiceRequest {
  return {
    method: event.requestContext?.http?.method ?? 'GET',
    rawPath: event.rawPath ?? '/',
    rawQuery: event.rawQueryString ?? '',
    headers: event.headers ?? {},
  };
}

/**
 * Time kept back from the invocation's remaining time: the service's deadline falls this much
 * before Lambda's timeout, so a stopped render still leaves time to send its 503.
 */
export const RESPONSE_MARGIN_MS = 2000;

/**
 * Lambda's response streaming limits (AWS Lambda documentation, "Response streaming"): the
 * first 6 MB at full speed, then at most 2 MB/s, and 200 MB in all.
 */
export const LAMBDA_STREAMING = { burstBytes: 6_000_000, bytesPerSecond: 2_000_000, maxBytes: 200_000_000 } as const;

/** Time a response must leave after the body is sent, for the stream's end to reach Lambda. */
const END_MARGIN_MS = 500;

interface Answer {
  response: ServiceResponse;
  record: RequestRecord;
}

/** Answers one event; never throws: a failure outside the service is a 500 with its reason. */
async function answer(source: ServiceSource, event: LambdaFunctionURLEvent, context?: Context): Promise<Answer> {
  const request = toServiceRequest(event);
  const head = request.method === 'HEAD';
  const started = performance.now();
  /** The record of an answer made here, outside the service. */
  const outside = (response: ServiceResponse, record?: RequestRecord): Answer => ({
    response,
    record: {
      ...(record ?? { method: request.method.slice(0, 16), url: redactUrl(request.rawPath, request.rawQuery) }),
      status: response.status,
      errorCode: response.headers[ERROR_HEADER]?.split(' - ')[0],
      bytesOut: Number(response.headers['content-length'] ?? response.body.length),
      timings: { ...record?.timings, total: performance.now() - started },
    },
  });
  if ('error' in source) return outside(errorResponse(internalError('The function could not load its configuration; see its logs'), head));
  try {
    const page = source.playground && (await answerPlayground(request, source.playground.page, source.playground.signingKey, Date.now()));
    if (page) return outside(page);
    const remaining = context?.getRemainingTimeInMillis?.();
    const options = remaining === undefined ? {} : { timeoutMs: Math.max(0, remaining - RESPONSE_MARGIN_MS) };
    const served = await source.service.serve(request, options);
    const response = streamable(served.response, context?.getRemainingTimeInMillis?.(), head);
    return response === served.response ? served : outside(response, served.record);
  } catch (error) {
    console.error('afterimage: unexpected failure', error);
    return outside(errorResponse(internalError('Internal error'), head));
  }
}

/**
 * The response, or why it cannot be streamed whole: past the first 6 MB Lambda sends 2 MB/s, so
 * a body that would still be on its way at the timeout is refused now (a 503, not cached)
 * rather than sent as a 200 cut short; over 200 MB is a 422.
 */
function streamable(response: ServiceResponse, remainingMs: number | undefined, head: boolean): ServiceResponse {
  const bytes = response.body.length;
  if (bytes > LAMBDA_STREAMING.maxBytes) {
    return errorResponse(limitExceeded(`The response is ${bytes} bytes; a Lambda response stream carries at most ${LAMBDA_STREAMING.maxBytes}`), head);
  }
  const sendMs = (Math.max(0, bytes - LAMBDA_STREAMING.burstBytes) / LAMBDA_STREAMING.bytesPerSecond) * 1000;
  if (remainingMs !== undefined && sendMs > remainingMs - END_MARGIN_MS) {
    return errorResponse(
      new HttpError('EDEADLINE', `The response of ${bytes} bytes would take ${Math.ceil(sendMs)} ms to stream (2 MB/s after the first 6 MB) and ${Math.max(0, Math.floor(remainingMs))} ms are left to this invocation`),
      head,
    );
  }
  return response;
}

/** Writes the prelude (through a first write), the body in chunks, then ends and waits for 'finish'. */
export async function sendResponse(responseStream: ResponseStream, response: ServiceResponse): Promise<void> {
  const stream = awslambda.HttpResponseStream.from(responseStream as never, {
    statusCode: response.status,
    headers: response.headers,
  }) as unknown as ResponseStream;
  let failure: Error | undefined;
  let wake: (() => void) | undefined;
  const onError = (error: unknown) => {
    failure = error instanceof Error ? error : new Error(String(error));
    wake?.();
  };
  const onDrain = () => wake?.();
  // Closed before 'finish' (the Runtime API went away): nothing will come; stop waiting.
  const onClose = () => {
    if (!stream.writableFinished) onError(new Error('The response stream closed before the response was sent'));
  };
  const waitFor = (event: 'drain' | 'finish') =>
    new Promise<void>((resolve) => {
      const done = () => {
        stream.off(event, done);
        wake = undefined;
        resolve();
      };
      wake = done;
      stream.on(event, done);
    });
  stream.on('error', onError);
  stream.on('drain', onDrain);
  stream.on('close', onClose);
  try {
    const body = response.body;
    // The first write sends the prelude, so it happens even when there is no body.
    let ok = stream.write(body.subarray(0, BODY_CHUNK_BYTES));
    for (let offset = BODY_CHUNK_BYTES; offset < body.length && !failure; offset += BODY_CHUNK_BYTES) {
      if (!ok) await waitFor('drain');
      if (failure) break;
      ok = stream.write(body.subarray(offset, offset + BODY_CHUNK_BYTES));
    }
    if (failure) throw failure;
    const finished = stream.writableFinished ? Promise.resolve() : waitFor('finish');
    stream.end();
    await finished;
    if (failure) throw failure;
  } finally {
    stream.off('error', onError);
    stream.off('drain', onDrain);
    stream.off('close', onClose);
  }
}

/**
 * The streaming handler over a service source; exported for tests that inject the source. With
 * `telemetry`, each request is logged and counted once its response is sent (or failed).
 */
export function createStreamingHandler(source: ServiceSource, telemetry?: Telemetry) {
  return async (event: LambdaFunctionURLEvent, responseStream: ResponseStream, context?: Context): Promise<void> => {
    const { response, record } = await answer(source, event, context);
    try {
      await sendResponse(responseStream, response);
    } finally {
      telemetry?.report(record, context, event.headers?.['x-amz-cf-id']);
      // Copies on miss run in the background of the answer; once the response has ended the
      // client has it. They finish before the handler returns, or the sandbox could be frozen
      // half-way (a streaming function may go on after its stream ends, billed for the time).
      if ('service' in source && source.service.background.size > 0) {
        const left = context?.getRemainingTimeInMillis?.();
        const finished = await source.service.background.settled(left === undefined ? undefined : Math.max(0, left - END_MARGIN_MS));
        if (!finished) console.error('afterimage: copies on miss were still running when the invocation ran out of time; they may be lost');
      }
    }
  };
}
