// README "Cloudinary fetch URLs": `/image/fetch/<components>/<remote URL>` on a `cloudinaryUrls`
// endpoint. Off unless the endpoint lists `fetchAllowedHosts`; then the remote URL must be
// https and its host one of them, matched exactly (no suffix or wildcard). Pure: no I/O.

import type { EndpointConfig } from '../config';
import { badRequest } from '../errors';
import { looksLikeComponent, translateComponent } from './cloudinary-url';

export interface CloudinaryFetch {
  /** The remote URL, normalised (`new URL(…).href`). */
  url: string;
  /** The components as one chain; '' when there were none. */
  chain: string;
}

/** True for the decoded segments of a fetch URL: `image/fetch/…`. */
export function isCloudinaryFetch(segments: readonly string[]): boolean {
  return segments[0] === 'image' && segments[1] === 'fetch';
}

/**
 * The remote URL and chain of a fetch URL (decoded segments after the endpoint prefix). The
 * remote URL may be written as it is (`https://host/a.jpg`, its `//` kept or collapsed) or
 * percent-encoded in one segment.
 */
export function translateCloudinaryFetch(segments: readonly string[], endpoint: EndpointConfig): CloudinaryFetch {
  const allowed = endpoint.fetchAllowedHosts;
  if (!allowed || allowed.length === 0) {
    throw badRequest('Cloudinary fetch URLs are off on this endpoint (it sets no fetchAllowedHosts)');
  }
  const rest = segments.slice(2);
  const start = rest.findIndex((s) => /^[a-z][a-z0-9+.-]*:/i.test(s));
  if (start < 0) throw badRequest('Invalid fetch URL: expected /image/fetch/[<transformations>/]https://<host>/<path>');
  const components = rest.slice(0, start);
  const bad = components.find((c) => c !== '' && !looksLikeComponent(c));
  if (bad !== undefined) throw badRequest(`Invalid fetch URL: "${bad.slice(0, 100)}" is not a Cloudinary transformation; the remote URL must follow the transformations`);
  const written = rest.slice(start).join('/').replace(/^([a-z]+):\/(?!\/)/i, '$1://');
  let url: URL;
  try {
    url = new URL(written);
  } catch {
    throw badRequest('Invalid fetch URL: the remote URL is not a URL');
  }
  if (url.protocol !== 'https:') throw badRequest(`Invalid fetch URL: only https remote URLs are fetched, not ${url.protocol.replace(/:$/, '').slice(0, 10)}`);
  if (url.username || url.password) throw badRequest('Invalid fetch URL: the remote URL carries a user name or password');
  if (!allowed.includes(url.host)) {
    throw badRequest(`Invalid fetch URL: the host "${url.host.slice(0, 100)}" is not in this endpoint's fetchAllowedHosts`);
  }
  url.hash = '';
  const chain = components.filter((c) => c !== '').map(translateComponent).filter((s) => s !== '').join(':');
  return { url: url.href, chain };
}
