// README "Fixing a stale image": the canonical URI the CloudFront Function (lib/edge/viewer-request.js)
// makes of every request before the cache, read back into the URL the viewer sent. Pure.
//
//   viewer:    /<prefix>/tr:w-300/products/shoe.jpg?tr=q-50
//   canonical: /<prefix>/products/shoe.jpg/!tr:w-300?tr=q-50
//   Cloudinary:/<prefix>/image/upload/c_fill,w_300/v17/shoe.jpg → /<prefix>/image/upload/shoe.jpg/!c_fill,w_300%2Fv17
//
// The image comes first, so `/<prefix>/<image path>/!*` invalidates every cached variant of it.

import type { EndpointConfig } from '../config';
import { badRequest } from '../errors';
import { matchEndpoint } from './parse-url';

/** Set by the CloudFront Function (and only by it: it removes one a viewer sent) on a canonical URI. */
export const CANONICAL_HEADER = 'x-afterimage-canonical';

/** What the edge wrote between the prefix and the image, as the viewer wrote it; `%`, `/`, `!` escaped. */
function lightDecode(text: string): string {
  return text.replace(/%(25|2F|21)/g, (_, hex: string) => String.fromCharCode(Number.parseInt(hex, 16)));
}

/**
 * The raw path the viewer sent, from a canonical one:
 * `/<prefix>/<image path>/!<moved>[!<image path as written>]`. The signature is then checked
 * against what the viewer signed, and the URL parsed exactly as without CloudFront.
 */
export function viewerPathOf(endpoints: EndpointConfig[], canonicalPath: string): string {
  const cut = canonicalPath.lastIndexOf('/');
  const variant = canonicalPath.slice(cut + 1);
  if (!variant.startsWith('!')) throw badRequest('Invalid canonical path: it must end with a /!<variant> segment (README "Fixing a stale image")');
  const [moved, written, extra] = variant.slice(1).split('!');
  if (extra !== undefined) throw badRequest('Invalid canonical path: the variant segment has more than two parts');
  const segments = canonicalPath.slice(0, cut).replace(/^\//, '').split('/');
  const endpoint = matchEndpoint(endpoints, segments);
  const prefixLength = !endpoint || endpoint.prefix === '' ? 0 : endpoint.prefix.split('/').length;
  const head = segments.slice(0, prefixLength);
  const image = written === undefined ? segments.slice(prefixLength) : lightDecode(written).split('/');
  const movedSegments = moved === '' ? [] : lightDecode(moved).split('/');
  // The `tr:` segment stood right after the prefix; the rest (Cloudinary components, signature,
  // version) after `<resource_type>/<type>/`.
  const tr = movedSegments.length > 0 && /^tr(:|%3[Aa])/.test(movedSegments[0]) ? movedSegments.splice(0, 1) : [];
  if (movedSegments.length > 0 && image.length < 3) throw badRequest('Invalid canonical path: Cloudinary components without <resource_type>/<type>/<public id>');
  const viewer = [...head, ...tr, ...image.slice(0, movedSegments.length > 0 ? 2 : 0), ...movedSegments, ...image.slice(movedSegments.length > 0 ? 2 : 0)];
  // The image path leads the URI as the edge writes the one the viewer wrote; a path that is not
  // that spelling (and so might sit under another prefix) was not made by the edge.
  if (written !== undefined && segments.slice(prefixLength).join('/') !== image.map(decodeSegment).join('/').split('/').map(canonicalSegment).join('/')) {
    throw badRequest('Invalid canonical path: its image path is not the one written after it');
  }
  return `/${viewer.join('/')}`;
}

/** As the edge writes an image path segment: non-ASCII and RFC 1738's unsafe characters encoded, and `*`. */
function canonicalSegment(text: string): string {
  return encodeURIComponent(text)
    .replace(/%(2[46BC]|3[ABD]|40)/g, (c) => decodeURIComponent(c))
    .replace(/[~*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

function decodeSegment(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    throw badRequest('Invalid canonical path: malformed percent-encoding in the written image path');
  }
}

/** The invalidation path covering every variant of the image a canonical URI belongs to. */
export function invalidationPathOf(canonicalPath: string): string {
  return `${canonicalPath.slice(0, canonicalPath.lastIndexOf('/'))}/!*`;
}
