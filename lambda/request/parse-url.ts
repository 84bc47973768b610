// README "URL reference": splits a raw request URL into endpoint, transformation chains and image path.
// Pure: no I/O, no knowledge of Lambda or node:http.

import type { EndpointConfig } from '../config';
import { badRequest, notFound } from '../errors';
import { isCloudinaryFetch, translateCloudinaryFetch } from './cloudinary-fetch';
import { translateCloudinaryPath } from './cloudinary-url';

export interface ParsedUrl {
  endpoint: EndpointConfig;
  /** The image path, percent-decoded once, without the prefix and the `tr:` segment. */
  path: string;
  /** Chains in the order they run: the path's `tr:` segment, then `?tr=`. */
  chains: string[];
  /** ImageKit signature fields, when present. */
  signature?: string;
  expires?: string;
  /**
   * What ImageKit signs: the URL after `<host>/<prefix>/`, as received, with its query
   * string in order but without `ik-s` and `ik-t` (README "Signed URLs").
   */
  signedText: string;
  /** A Cloudinary fetch URL's remote URL (README "Cloudinary fetch URLs"); `path` is the same URL. */
  fetchUrl?: string;
}

/** Longest prefix that matches whole path segments wins; '' matches every path. */
export function matchEndpoint(endpoints: EndpointConfig[], rawSegments: string[]): EndpointConfig | undefined {
  let best: EndpointConfig | undefined;
  let bestLength = -1;
  for (const endpoint of endpoints) {
    const prefixSegments = endpoint.prefix === '' ? [] : endpoint.prefix.split('/');
    if (prefixSegments.length <= bestLength || prefixSegments.length > rawSegments.length) continue;
    if (prefixSegments.every((segment, i) => segment === rawSegments[i])) {
      best = endpoint;
      bestLength = prefixSegments.length;
    }
  }
  return best;
}

function decodeOnce(text: string, what: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    throw badRequest(`Invalid ${what}: malformed percent-encoding in ${JSON.stringify(text.slice(0, 200))}`);
  }
}

/** S3's limit on an object key, in UTF-8 bytes. */
const MAX_KEY_BYTES = 1024;

/** Rejects what can never be a safe object path (README "URL reference"). */
export function checkImagePath(path: string): void {
  if (path === '') throw badRequest('Invalid path: the image path is empty');
  if (path.includes('\0')) throw badRequest('Invalid path: it contains a NUL byte');
  if (Buffer.byteLength(path) > MAX_KEY_BYTES) {
    throw badRequest(`Invalid path: it is longer than ${MAX_KEY_BYTES} bytes, the most an S3 object key can hold`);
  }
  for (const segment of path.split('/')) {
    if (segment === '.' || segment === '..') throw badRequest('Invalid path: "." and ".." segments are not allowed');
  }
}

/**
 * Parses a request. `rawPath` is the path as received (still percent-encoded, starting with
 * `/`); `rawQuery` is the query string without `?`.
 */
export function parseRequestUrl(endpoints: EndpointConfig[], rawPath: string, rawQuery: string): ParsedUrl {
  const rawSegments = rawPath.replace(/^\/+/, '').split('/');
  const endpoint = matchEndpoint(endpoints, rawSegments);
  if (!endpoint) throw notFound('No URL endpoint matches this path');
  // Route on what the path means as well as how it is spelled: `/%70roducts/x.jpg` or
  // `/products%2Fx.jpg` must not reach another endpoint than `/products/x.jpg` (a way around
  // an endpoint's signature requirement).
  const meant = matchEndpoint(endpoints, decodeOnce(rawSegments.join('/'), 'path').split('/'));
  if (meant !== endpoint) {
    throw badRequest(`Invalid path: the endpoint prefix "/${meant?.prefix ?? ''}" must be written without percent-encoding`);
  }
  const prefixLength = endpoint.prefix === '' ? 0 : endpoint.prefix.split('/').length;
  const rest = rawSegments.slice(prefixLength);

  const chains: string[] = [];
  let pathSegments = rest;
  if (rest.length > 0 && /^tr(:|%3[Aa])/.test(rest[0])) {
    chains.push(decodeOnce(rest[0], 'transformation segment').slice(3));
    pathSegments = rest.slice(1);
  }

  let path = decodeOnce(pathSegments.join('/'), 'path');
  let fetchUrl: string | undefined;
  const decodedSegments = endpoint.cloudinaryUrls ? pathSegments.map((s) => decodeOnce(s, 'path')) : [];
  if (endpoint.cloudinaryUrls && isCloudinaryFetch(decodedSegments)) {
    const fetched = translateCloudinaryFetch(decodedSegments, endpoint);
    if (fetched.chain !== '') chains.push(fetched.chain);
    path = fetchUrl = fetched.url;
  } else if (endpoint.cloudinaryUrls) {
    // README "Keeping Cloudinary URLs alive": the components become a chain, run after a `tr:` segment and before `?tr=`.
    const cloudinary = translateCloudinaryPath(pathSegments, (s) => decodeOnce(s, 'path'));
    if (cloudinary) {
      if (cloudinary.chain !== '') chains.push(cloudinary.chain);
      path = cloudinary.segments.join('/');
    }
  }
  checkImagePath(path);

  let signature: string | undefined;
  let expires: string | undefined;
  const kept: string[] = [];
  if (rawQuery) {
    for (const pair of rawQuery.split('&')) {
      if (pair === '') continue;
      const eq = pair.indexOf('=');
      const key = decodeQueryPart(eq < 0 ? pair : pair.slice(0, eq));
      const value = eq < 0 ? '' : decodeQueryPart(pair.slice(eq + 1));
      if (key === 'ik-s') signature = value;
      else if (key === 'ik-t') expires = value;
      else if (key === 'tr') {
        // Only `tr` is signed: CloudFront forwards nothing else (README "URL reference"), so a
        // signature over other parameters could never verify behind it.
        kept.push(pair);
        chains.push(value);
      }
    }
  }
  // Exactly what follows `<host>/<prefix>/` as sent: an SDK whose endpoint has no path writes
  // `//path?tr=…` in the query form and signs `/path?tr=…`.
  const signedStart = endpoint.prefix === '' ? '/' : `/${endpoint.prefix}/`;
  const signedPath = rawPath.startsWith(signedStart) ? rawPath.slice(signedStart.length) : rest.join('/');
  const signedText = signedPath + (kept.length > 0 ? `?${kept.join('&')}` : '');
  return { endpoint, path, chains: chains.filter((c) => c !== ''), signature, expires, signedText, ...(fetchUrl ? { fetchUrl } : {}) };
}

function decodeQueryPart(text: string): string {
  return decodeOnce(text.replace(/\+/g, ' '), 'query string');
}
