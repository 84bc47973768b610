// Spec section 4: which format a response is encoded in, and whether it depended on `Accept`.

import type { OutputFormat } from '../config';

/** Formats we encode to. */
export type ImageFormat = 'jpeg' | 'png' | 'webp' | 'avif' | 'gif';

export const CONTENT_TYPES: Record<ImageFormat | 'svg', string> = {
  jpeg: 'image/jpeg',
  png: 'image/png',
  webp: 'image/webp',
  avif: 'image/avif',
  gif: 'image/gif',
  svg: 'image/svg+xml',
};

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

/** `Accept` lists the type (a bare `*` or `image/*` does not count: browsers send those for everything). */
export function accepts(accept: string | undefined, type: 'image/avif' | 'image/webp'): boolean {
  return accept !== undefined && accept.toLowerCase().includes(type);
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
  if (accepts(accept, 'image/avif')) return { format: 'avif', negotiated: true };
  if (accepts(accept, 'image/webp')) return { format: 'webp', negotiated: true };
  return { format: own, negotiated: true };
}
