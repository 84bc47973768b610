// The S3 side of every origin: one client per origin (keep-alive, timeouts, bounded jittered
// retries), credentials as configured, and the mapping of S3 failures onto our statuses.

import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import {
  GetObjectCommand,
  ListObjectsV2Command,
  S3Client,
  type GetObjectCommandOutput,
  type ListObjectsV2CommandOutput,
} from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from '@smithy/types';
import type { LimitsConfig, OriginConfig } from '../config';
import { fromSource, HttpError, limitExceeded, originFailed, originRefused, originTimedOut } from '../errors';
import { originCallSignal, readLimitedBody, type ArrivalWatcher } from './reading';
import type { SecretStore } from './secrets';
import type { NotModified, StoredObject } from './types';

export interface S3ClientOptions {
  limits: LimitsConfig;
  /** Needed by origins whose credentials come from the secret. */
  secrets?: SecretStore;
}

function credentialsFor(origin: OriginConfig, secrets?: SecretStore): AwsCredentialIdentity | AwsCredentialIdentityProvider | undefined {
  const source = origin.credentials ?? { source: 'secret' };
  switch (source.source) {
    case 'static':
      return { accessKeyId: source.accessKeyId, secretAccessKey: source.secretAccessKey, sessionToken: source.sessionToken };
    case 'env': {
      const { AWS_ACCESS_KEY_ID: accessKeyId, AWS_SECRET_ACCESS_KEY: secretAccessKey, AWS_SESSION_TOKEN: sessionToken } = process.env;
      if (!accessKeyId || !secretAccessKey) {
        throw new Error(`origin "${origin.name}" reads its keys from the environment, but AWS_ACCESS_KEY_ID or AWS_SECRET_ACCESS_KEY is not set`);
      }
      return { accessKeyId, secretAccessKey, sessionToken };
    }
    case 'default-chain':
      return undefined;
    case 'secret':
      if (!secrets) {
        throw new Error(`origin "${origin.name}" reads its keys from Secrets Manager, but no secret is configured (AFTERIMAGE_SECRET_ARN)`);
      }
      return async () => {
        const value = await secrets.get();
        if (!value.accessKeyId || !value.secretAccessKey) {
          throw originRefused('The Secrets Manager secret holds no accessKeyId/secretAccessKey yet (see README: setting the bucket keys)');
        }
        return {
          accessKeyId: value.accessKeyId,
          secretAccessKey: value.secretAccessKey,
          sessionToken: value.sessionToken,
          expiration: new Date(secrets.expiresAt),
        };
      };
  }
}

/** One client per origin, created once and reused across requests. */
export function createS3Client(origin: OriginConfig, options: S3ClientOptions): S3Client {
  const agentOptions = { keepAlive: true, maxSockets: 64 };
  return new S3Client({
    region: origin.region ?? process.env.AWS_REGION ?? 'us-east-1',
    ...(origin.endpoint ? { endpoint: origin.endpoint } : {}),
    forcePathStyle: origin.forcePathStyle ?? origin.endpoint !== undefined,
    credentials: credentialsFor(origin, options.secrets),
    maxAttempts: options.limits.originRetries + 1,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    requestHandler: new NodeHttpHandler({
      httpAgent: new HttpAgent(agentOptions),
      httpsAgent: new HttpsAgent(agentOptions),
      connectionTimeout: options.limits.originTimeoutMs,
      requestTimeout: options.limits.originTimeoutMs,
      throwOnRequestTimeout: true,
    }),
  });
}

const NOT_FOUND = new Set(['NoSuchKey', 'NotFound']);
const REFUSED = new Set([
  'AccessDenied', 'Forbidden', 'NoSuchBucket', 'InvalidAccessKeyId', 'SignatureDoesNotMatch',
  'InvalidToken', 'ExpiredToken', 'AllAccessDisabled', 'AccountProblem', 'PermanentRedirect', 'AuthorizationHeaderMalformed',
]);

/** True when the error means "this origin does not have the object". */
export function isNotFound(error: unknown): boolean {
  const e = error as { name?: string; $metadata?: { httpStatusCode?: number } };
  return NOT_FOUND.has(e.name ?? '') || e.$metadata?.httpStatusCode === 404 && e.name !== 'NoSuchBucket';
}

/**
 * Connection failures, by Node's error code, in words. Checked before the error's name: the SDK
 * names a reset connection `TimeoutError` (to retry it), but the origin answered, and hung up.
 */
export const CONNECTION_FAILURES: Record<string, string> = {
  ECONNREFUSED: 'refused the connection',
  ECONNRESET: 'reset the connection',
  EPIPE: 'closed the connection while the request was being sent',
  ECONNABORTED: 'aborted the connection',
  ENOTFOUND: 'has a host name that does not resolve',
  EAI_AGAIN: 'has a host name that could not be resolved (DNS lookup failed)',
  EHOSTUNREACH: 'is unreachable (no route to its host)',
  ENETUNREACH: 'is unreachable (no route to its network)',
};

/**
 * Node's error code of a failure. The SDK wraps a thrown value it does not take for an Error
 * (one from another realm, as under a test runner's VM) into a new Error that keeps only its
 * text, `AWS SDK error wrapper for Error: connect ECONNREFUSED …`: the code is read from there.
 */
export function errorCode(e: { code?: unknown; message?: unknown }): string | undefined {
  if (typeof e.code === 'string') return e.code;
  const text = typeof e.message === 'string' ? e.message : '';
  return text.startsWith('AWS SDK error wrapper for ') ? /\b(E[A-Z_]{4,})\b/.exec(text)?.[1] : undefined;
}

/** TLS failures: the origin's certificate or handshake, by Node's error code. */
const TLS_FAILURE = /^(ERR_TLS_|ERR_SSL_|CERT_|UNABLE_TO_|DEPTH_ZERO_|SELF_SIGNED_|HOSTNAME_MISMATCH)/;

/**
 * Maps an S3 failure onto 502/504 with a reason naming the origin and what failed; never
 * forwards the SDK's message (it may hold keys or internal host names).
 */
export function originFailure(error: unknown, origin: OriginConfig): HttpError {
  if (error instanceof HttpError) return error;
  const e = error as { name?: string; code?: string; message?: string; $metadata?: { httpStatusCode?: number } };
  const name = e.name ?? 'Error';
  const status = e.$metadata?.httpStatusCode;
  const code = errorCode(e);
  if (code && Object.hasOwn(CONNECTION_FAILURES, code)) {
    return originFailed(`Origin "${origin.name}" ${CONNECTION_FAILURES[code]} (${code})`);
  }
  if (code && TLS_FAILURE.test(code)) {
    return originFailed(`Origin "${origin.name}" failed the TLS handshake (${code}): check its endpoint and certificate`);
  }
  if (name === 'TimeoutError' || name === 'AbortError' || code === 'ETIMEDOUT' || name === 'RequestTimeout') {
    return originTimedOut(`Origin "${origin.name}" did not answer in time`);
  }
  // The SDK's default chain found no credentials (a local run without a profile, README "Try it locally").
  if (name === 'CredentialsProviderError') {
    return originFailed(`Origin "${origin.name}" has no AWS credentials (CredentialsProviderError): the SDK's default chain found none; set AWS_PROFILE, run aws sso login, or give the origin credentials in the configuration`);
  }
  if (REFUSED.has(name) || status === 403 || status === 401 || status === 301) {
    return originRefused(`Origin "${origin.name}" refused the request (${name}${status ? ` ${status}` : ''}): check the bucket name, region and keys`);
  }
  // S3's error name and status (`InternalError 500`), or Node's error code (`EPROTO`).
  const reason = [name === 'Error' && code ? code : name, status].filter((part) => part !== undefined).join(' ');
  return originFailed(`Origin "${origin.name}" failed (${reason})`);
}


/** What a conditional read answers when the object still has the ETag it was asked with (S3 sends no new headers on it). */
export const NOT_MODIFIED: NotModified = Object.freeze({ notModified: true as const });

/**
 * Reads one object, or null when it does not exist. Enforces the input size limit before reading
 * the body; `onArrival` is shown the body as it arrives (ReadOptions.onArrival).
 */
export function getObject(client: S3Client, origin: OriginConfig, key: string, limits: LimitsConfig, onArrival?: ArrivalWatcher): Promise<StoredObject | null> {
  return readObject(client, origin, key, limits, { onArrival }) as Promise<StoredObject | null>;
}

/**
 * Reads the first `bytes` bytes of one object (a ranged GET), or null when it does not exist. The
 * answer is `partial` with the object's size unless that was the whole object. The input size
 * limit holds for the whole object, as a full read would hold it.
 */
export function getObjectPrefix(client: S3Client, origin: OriginConfig, key: string, limits: LimitsConfig, bytes: number): Promise<StoredObject | null> {
  return readObject(client, origin, key, limits, { prefixBytes: bytes }) as Promise<StoredObject | null>;
}

/**
 * Reads one object unless it still has the ETag `etag` (a GET with If-None-Match): then S3
 * answers 304 with no body, and this NOT_MODIFIED. Null when it does not exist any more.
 */
export function getObjectIfChanged(
  client: S3Client,
  origin: OriginConfig,
  key: string,
  limits: LimitsConfig,
  etag: string,
  onArrival?: ArrivalWatcher,
): Promise<StoredObject | null | NotModified> {
  return readObject(client, origin, key, limits, { ifNoneMatch: etag, onArrival });
}

/** How an object is read: conditionally (`ifNoneMatch`), or only its first bytes (`prefixBytes`); `onArrival` watches the body. */
interface ReadRequest {
  ifNoneMatch?: string;
  prefixBytes?: number;
  onArrival?: ArrivalWatcher;
}

async function readObject(
  client: S3Client,
  origin: OriginConfig,
  key: string,
  limits: LimitsConfig,
  { ifNoneMatch, prefixBytes, onArrival }: ReadRequest = {},
): Promise<StoredObject | null | NotModified> {
  const signal = originCallSignal(limits);
  const started = performance.now();
  try {
    const command = new GetObjectCommand({
      Bucket: origin.bucket,
      Key: key,
      ...(ifNoneMatch ? { IfNoneMatch: ifNoneMatch } : {}),
      ...(prefixBytes ? { Range: `bytes=0-${prefixBytes - 1}` } : {}),
    });
    const output = await client.send(command, { abortSignal: signal });
    const drop = () => (output.Body as { destroy?: () => void } | undefined)?.destroy?.();
    const size = prefixBytes ? wholeSize(output) : output.ContentLength;
    // A part whose whole size is not given ("…/*") is of no use: read it whole.
    if (size === null) {
      drop();
      return readObject(client, origin, key, limits, { onArrival });
    }
    if (size !== undefined && size > limits.maxInputBytes) {
      drop();
      throw limitExceeded(`The stored file is ${size} bytes; the limit is ${limits.maxInputBytes} (limits.maxInputBytes)`);
    }
    // An empty object read in part: S3 answers 416 (below); s3rver 3.7.1 a 206 that announces one byte and sends none.
    const empty = prefixBytes !== undefined && size === 0;
    if (empty) drop();
    const body = empty ? Buffer.alloc(0) : await readBody(output, signal, limits.originTimeoutMs, limits.maxInputBytes, prefixBytes ? undefined : onArrival);
    const stored: StoredObject = { body, contentType: output.ContentType, lastModified: output.LastModified, etag: output.ETag, key, origin, fetchMs: performance.now() - started };
    return prefixBytes && size !== undefined && size > body.length ? { ...stored, partial: { totalBytes: size } } : stored;
  } catch (error) {
    if (isNotFound(error)) return null;
    const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
    // S3 answers a matching If-None-Match with 304 and no body (GetObject, "conditional requests");
    // @aws-sdk/client-s3 3.1175 raises it as an error carrying the status (tested against s3rver 3.7.1).
    if (ifNoneMatch && status === 304) return NOT_MODIFIED;
    // An empty object has no first byte to send: S3 answers a Range on it 416 InvalidRange (RFC 9110
    // §14.1.1; the AWS behaviour minio/minio#6557 and scality/cloudserver#528 copied). Read it whole.
    if (prefixBytes && status === 416) return readObject(client, origin, key, limits, { onArrival });
    throw fromSource(originFailure(error, origin), origin.name, key);
  }
}

/**
 * The whole object's size from a ranged answer: "bytes 0-65535/2895000"; a server that ignored the
 * Range sent the whole object (a 200, no Content-Range). Null: a part whose size is not given.
 */
function wholeSize(output: GetObjectCommandOutput): number | undefined | null {
  const total = /\/(\d+)$/.exec(output.ContentRange ?? '')?.[1];
  if (total !== undefined) return Number(total);
  return output.ContentRange !== undefined || output.$metadata.httpStatusCode === 206 ? null : output.ContentLength;
}

/** Reads the body. The SDK's request timeout ends once the headers arrive, so a body that stalls is cut here. */
async function readBody(output: GetObjectCommandOutput, signal: AbortSignal, idleMs: number, maxBytes: number, onArrival?: ArrivalWatcher): Promise<Buffer> {
  const body = output.Body as (NodeJS.ReadableStream & { destroy?: (e?: Error) => void }) | undefined;
  return body ? readLimitedBody(body, idleMs, maxBytes, signal, output.ContentLength, onArrival) : Buffer.alloc(0);
}

/**
 * One page of a listing (the Cloudinary layout lists an asset's versions). With a delimiter,
 * keys below the next `/` are rolled up into CommonPrefixes instead of listed.
 */
export async function listPage(
  client: S3Client,
  origin: OriginConfig,
  prefix: string,
  limits: LimitsConfig,
  continuationToken?: string,
  delimiter?: string,
): Promise<ListObjectsV2CommandOutput> {
  try {
    return await client.send(
      new ListObjectsV2Command({ Bucket: origin.bucket, Prefix: prefix, ContinuationToken: continuationToken, Delimiter: delimiter }),
      { abortSignal: originCallSignal(limits) },
    );
  } catch (error) {
    throw originFailure(error, origin);
  }
}
