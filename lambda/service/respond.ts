// README "Decisions and details": response headers shared by every answer (errors, originals, images).

import { createHash } from 'node:crypto';
import { HttpError } from '../errors';

export interface ServiceResponse {
  status: number;
  headers: Record<string, string>;
  /** Empty for HEAD and 304; Content-Length still tells the size of a HEAD's body. */
  body: Buffer;
}

/** Served on SVG and anything that is not an image, so hostile files cannot run script on our domain. */
export const SANDBOX_CSP = "default-src 'none'; style-src 'unsafe-inline'; sandbox";

/** The reason header, in the spirit of ImageKit's `ik-error`. */
export const ERROR_HEADER = 'x-afterimage-error';

/** Keeps a header value printable ASCII so no input can split or break the header. */
export function headerSafe(text: string, max = 300): string {
  return text.replace(/[^\x20-\x7e]/g, '?').slice(0, max);
}

export function errorResponse(error: unknown, head: boolean): ServiceResponse {
  const known = error instanceof HttpError ? error : undefined;
  if (!known) console.error('afterimage: unexpected error', error);
  const status = known?.status ?? 500;
  const code = known?.code ?? 'EINTERNAL';
  const message = known?.message ?? 'Internal error';
  const body = Buffer.from(`${message}\n`);
  return {
    status,
    headers: {
      'content-type': 'text/plain; charset=utf-8',
      'content-length': String(body.length),
      'cache-control': status >= 500 || known?.noStore ? 'no-store' : 'public, max-age=60',
      'x-content-type-options': 'nosniff',
      'content-security-policy': SANDBOX_CSP,
      [ERROR_HEADER]: headerSafe(`${code} - ${message}`),
    },
    body: head ? Buffer.alloc(0) : body,
  };
}

/** A strong ETag from everything that decides the bytes. */
export function makeEtag(parts: readonly (string | undefined)[]): string {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(part ?? '').update('\0');
  return `"${hash.digest('base64url').slice(0, 32)}"`;
}

/** RFC 9110 weak comparison, as caches use for If-None-Match. */
export function etagMatches(ifNoneMatch: string | undefined, etag: string): boolean {
  if (!ifNoneMatch) return false;
  if (ifNoneMatch.trim() === '*') return true;
  const bare = etag.replace(/^W\//, '');
  return ifNoneMatch.split(',').some((candidate) => candidate.trim().replace(/^W\//, '') === bare);
}

/** `Link: <BASE/PATH>; rel="canonical"`, every path segment percent-encoded. */
export function canonicalLink(baseUrl: string, path: string): string {
  const encoded = path.split('/').map((segment) => encodeURIComponent(segment).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)).join('/');
  return `<${baseUrl}/${encoded}>; rel="canonical"`;
}
