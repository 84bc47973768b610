// README "Output": which format a response is encoded in, and whether it depended on `Accept`.

import type { OutputFormat } from '../request/plan-types';

/** Formats we encode to: the output formats that name one. */
export type ImageFormat = Exclude<OutputFormat, 'auto' | 'orig'>;

export const CONTENT_TYPES: Record<ImageFormat | 'svg', string> = {
  jpeg: 'image/jpeg',
  png: 'image/png',
  webp: 'image/webp',
  avif: 'image/avif',
  gif: 'image/gif',
  svg: 'image/svg+xml',
};

/** File extensions that name a format we encode to. */
const EXTENSION_FORMATS: Readonly<Record<string, ImageFormat>> = { jpg: 'jpeg', jpeg: 'jpeg', png: 'png', webp: 'webp', avif: 'avif', gif: 'gif' };

/** The format a file extension names (lower-case: `jpg` → `jpeg`), if we encode to it. */
function formatOfExtension(extension: string): ImageFormat | undefined {
  return Object.hasOwn(EXTENSION_FORMATS, extension) ? EXTENSION_FORMATS[extension] : undefined;
}

/**
 * A Cloudinary URL's extension is a format wish (README "Output"): `shoe.webp` over a stored
 * `1700000000.jpg` asks for WebP. Only an extension that names a format we encode to, and
 * differs from the stored file's format, is a wish; otherwise the usual precedence applies.
 */
export function formatWishOf(requestedExtension: string | undefined, storedFormat: string | undefined): ImageFormat | undefined {
  if (!requestedExtension) return undefined;
  const wish = formatOfExtension(requestedExtension);
  if (!wish || !storedFormat) return wish;
  return wish === (formatOfExtension(storedFormat) ?? storedFormat) ? undefined : wish;
}

/** What sharp told us about the input. */
export interface InputDescription {
  /** sharp's format name: jpeg, png, webp, gif, svg, heif, tiff, ... */
  format: string;
  /** heif compression: `av1` for AVIF. */
  compression?: string;
  hasAlpha: boolean;
  animated: boolean;
}

export interface FormatDecision {
  /** `svg` = the SVG input is served as stored. */
  format: ImageFormat | 'svg';
  /** True when `Accept` could have changed the answer: the response must carry `Vary: Accept`. */
  negotiated: boolean;
}

/** The input's own format, as one a browser shows (TIFF, HEIC and the like become PNG or JPEG). */
export function webFormatOf(input: InputDescription): ImageFormat | 'svg' {
  switch (input.format) {
    case 'jpeg':
    case 'png':
    case 'webp':
    case 'gif':
    case 'svg':
      return input.format;
    case 'heif':
      return input.compression === 'av1' ? 'avif' : input.hasAlpha ? 'png' : 'jpeg';
    default:
      return input.hasAlpha ? 'png' : 'jpeg';
  }
}

/** One media range of an `Accept` header: `image/avif;q=0.8` → `image/avif`, 0.8. */
export interface MediaRange {
  /** Lower case: a type (`image/avif`), a type wildcard (`image/*`) or the full wildcard. */
  range: string;
  /** 0 (not acceptable) to 1. */
  q: number;
}

const MEDIA_RANGE = /^(?:[a-z0-9!#$&^_.+-]+\/[a-z0-9!#$&^_.+-]+|\*\/\*|[a-z0-9!#$&^_.+-]+\/\*)$/;
const QVALUE = /^(?:0(?:\.\d{0,3})?|1(?:\.0{0,3})?)$/;

/**
 * Parses an `Accept` header (RFC 9110 12.5.1): media ranges with their `q` (default 1). A range
 * that is malformed, or whose `q` is not a number from 0 to 1, is left out: it cannot widen what
 * the client said it accepts.
 */
export function parseAccept(header: string | undefined): MediaRange[] {
  if (!header) return [];
  const ranges: MediaRange[] = [];
  for (const item of header.toLowerCase().split(',')) {
    const [first, ...params] = item.split(';').map((part) => part.trim());
    const range = first === '*' ? '*/*' : first; // some clients send a bare `*`
    if (!MEDIA_RANGE.test(range)) continue;
    let q = 1;
    for (const param of params) {
      const [name, value = ''] = param.split('=').map((part) => part.trim());
      if (name === 'q') q = QVALUE.test(value) ? Number(value) : NaN;
    }
    if (!Number.isNaN(q)) ranges.push({ range, q });
  }
  return ranges;
}

/**
 * How much the client wants a type it must name itself: the `q` of the type's own range, 0 when
 * it is not listed. Wildcards (`image/*`, any type) do not count: browsers send them for every
 * image, also when they cannot decode AVIF. `image/avif;q=0` refuses AVIF. Listed twice, the
 * lower `q` wins.
 */
export function listedQuality(ranges: readonly MediaRange[], type: 'image/avif' | 'image/webp'): number {
  const own = ranges.filter((r) => r.range === type).map((r) => r.q);
  return own.length > 0 ? Math.min(...own) : 0;
}

/** Whether the client lists `type` with q > 0 (wildcards do not count). */
export function accepts(accept: string | undefined, type: 'image/avif' | 'image/webp'): boolean {
  return listedQuality(parseAccept(accept), type) > 0;
}

/** AVIF or WebP when the client lists it with q > 0: the higher q wins, AVIF on a tie (it is smaller). */
export function negotiateFormat(accept: string | undefined): 'avif' | 'webp' | undefined {
  const ranges = parseAccept(accept);
  const avif = listedQuality(ranges, 'image/avif');
  const webp = listedQuality(ranges, 'image/webp');
  if (avif > 0 && avif >= webp) return 'avif';
  return webp > 0 ? 'webp' : undefined;
}

/**
 * Precedence (first match wins): the chain's `f-`, a Cloudinary format wish, the configured
 * default. `auto` negotiates from `Accept`; SVG and animated inputs keep their format under `auto`.
 */
export function chooseFormat(options: {
  explicit?: OutputFormat;
  formatWish?: ImageFormat;
  configured: OutputFormat;
  accept?: string;
  input: InputDescription;
}): FormatDecision {
  const { explicit, formatWish, configured, accept, input } = options;
  const own = webFormatOf(input);
  if (explicit && explicit !== 'auto') return { format: explicit === 'orig' ? own : explicit, negotiated: false };
  if (!explicit && formatWish) return { format: formatWish, negotiated: false };
  const wanted = explicit ?? configured;
  // SVG and animations keep their format unless the URL names one (a configured default does not).
  if ((own === 'svg' || input.animated) && (explicit === undefined || explicit === 'auto')) {
    return { format: own, negotiated: wanted === 'auto' };
  }
  if (wanted !== 'auto') return { format: wanted === 'orig' ? own : wanted, negotiated: false };
  return { format: negotiateFormat(accept) ?? own, negotiated: true };
}
