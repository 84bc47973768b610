// The smoke test's view of one HTTP exchange: what was asked, what came back, and what an
// unexpected answer most likely means for a deployment (the plain-words diagnosis).

/** One request and its answer, body read in full (or only counted, for large files). */
export interface Exchange {
  method: string;
  url: string;
  status: number;
  headers: Headers;
  body: Buffer;
  /** Bytes received; equals body.length unless the body was only counted. */
  bytes: number;
  /** The connection broke before the body ended. */
  truncated: boolean;
}

export interface SendOptions {
  method?: 'GET' | 'HEAD';
  headers?: Record<string, string>;
  timeoutMs: number;
  /** Count the body's bytes without keeping them (files over 6 MB). */
  countOnly?: boolean;
}

/** Thrown when nothing came back: DNS, refused connection, TLS, timeout. */
export class NoAnswer extends Error {
  constructor(readonly url: string, cause: unknown) {
    super(`no answer from ${new URL(url).host}: ${describeNetworkError(cause)}`);
  }
}

function describeNetworkError(error: unknown): string {
  const err = error as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (err?.name === 'TimeoutError' || err?.name === 'AbortError') return 'timed out';
  return err?.cause?.code ?? err?.cause?.message ?? err?.message ?? String(error);
}

export async function send(url: string, options: SendOptions): Promise<Exchange> {
  const method = options.method ?? 'GET';
  let response: Response;
  try {
    response = await fetch(url, { method, headers: options.headers, redirect: 'manual', signal: AbortSignal.timeout(options.timeoutMs) });
  } catch (error) {
    throw new NoAnswer(url, error);
  }
  // Read chunk by chunk: an answer that breaks off keeps what arrived, so a check can tell a
  // body cut short (content-length says more) from no answer at all.
  const chunks: Buffer[] = [];
  let bytes = 0;
  let truncated = false;
  try {
    for await (const chunk of (response.body ?? []) as AsyncIterable<Uint8Array>) {
      bytes += chunk.length;
      if (!options.countOnly) chunks.push(Buffer.from(chunk));
    }
  } catch {
    truncated = true;
  }
  return { method, url, status: response.status, headers: response.headers, body: Buffer.concat(chunks), bytes, truncated };
}

/** The function's reason header (`x-afterimage-error: CODE - message`). */
export const REASON_HEADER = 'x-afterimage-error';

/** A one-line summary of an answer for the table: `404 ENOENT - No origin …` or `200 image/avif, 12.3 kB`. */
export function summarize(exchange: Exchange): string {
  const reason = exchange.headers.get(REASON_HEADER);
  if (reason) return `${exchange.status} ${reason}`;
  const type = exchange.headers.get('content-type');
  const size = exchange.method === 'HEAD' ? '' : `, ${formatBytes(exchange.bytes)}`;
  return `${exchange.status} ${type ?? '(no content-type)'}${size}`;
}

export function formatBytes(bytes: number): string {
  if (bytes < 1000) return `${bytes} B`;
  if (bytes < 1_000_000) return `${(bytes / 1000).toFixed(1)} kB`;
  return `${(bytes / 1_000_000).toFixed(1)} MB`;
}

/** True when CloudFront handled the answer (it always adds x-cache and x-amz-cf-id). */
export function viaCloudFront(exchange: Exchange): boolean {
  return exchange.headers.has('x-cache') || exchange.headers.has('x-amz-cf-id') || /cloudfront/i.test(exchange.headers.get('via') ?? '');
}

/**
 * What an answer that is not what a check wanted most likely means, in a user's words. Used by
 * every check for the answers it did not expect, so the same symptom gets the same explanation.
 */
export function diagnose(exchange: Exchange): string {
  const reason = exchange.headers.get(REASON_HEADER) ?? '';
  const code = reason.split(' ')[0];
  switch (code) {
    case 'ENOENT':
      return 'the key given with --path is in none of the origins of this endpoint: check the key (as stored, not URL-encoded) and the endpoint prefix in the URL';
    case 'EACCES':
      return 'the function cannot read the bucket: put the read-only bucket keys into the stack\'s secret (deploy step 3), and check the origin\'s bucket and region';
    case 'ESIGNATURE':
      return 'this endpoint requires signed URLs: point the smoke test at an endpoint without requireSignedUrls, and test signing with --signed-key-env and --signed-endpoint';
    case 'EORIGIN':
    case 'ETIMEDOUT':
      return `the origin (the bucket) failed or was too slow: ${reason}`;
    case 'ELIMIT':
    case 'EUNREADABLE':
      return `the file named by --path cannot be transformed (${reason}): name a JPEG or PNG photo`;
    case '':
      break;
    default:
      return `the function answered ${exchange.status} ${reason}`;
  }
  if (exchange.status >= 500) {
    return 'a 5xx without the function\'s reason header: the function\'s answer never became an HTTP response. Either its response stream sent the body without the status-and-headers prelude (the Lambda runtime writes the prelude only on the first write(): a handler that only calls end() sends none, which the Function URL turns into a 502), or the function crashed or timed out. Look in the function\'s log group';
  }
  if (exchange.status === 403 && viaCloudFront(exchange)) {
    return 'CloudFront could not invoke the function: the Origin Access Control on the Function URL origin, or the function\'s lambda:InvokeFunction permission for this distribution, is missing';
  }
  if (exchange.status >= 200 && exchange.status < 300 && !exchange.headers.has('content-type')) {
    return 'no prelude: the answer came without the function\'s status and headers. The function\'s response stream must write the JSON prelude (status, headers) before the body: the Lambda runtime writes it only on the first write(), so a handler that only calls end() sends the bare body';
  }
  if (exchange.status >= 300 && exchange.status < 400) {
    return `a redirect to ${exchange.headers.get('location') ?? '(no location)'}: use the final URL (https, the distribution's domain) as the base URL`;
  }
  return `an unexpected ${exchange.status} without the function's reason header: something in front of the function answered (a CloudFront error page, a custom domain pointing elsewhere)`;
}
