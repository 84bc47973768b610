// What an SVG embeds as `data:` URLs (README "Bounded cost of a request"). librsvg decodes an
// embedded PNG or JPEG whole, whatever size it is drawn at: a 10×10 SVG carrying a 20000×20000
// PNG in 389 KB drew in 13 s at a peak of 3.7 GB. The drawn size (limits.maxSvgPixels) does not
// see those pixels, so they are counted here, from the embedded files' headers, before drawing.
//
// Measured on sharp's librsvg: an `<image>` or `<feImage>` href loads a data: URL written plainly,
// with character references (`&#100;ata:`) or percent-encoded, and its content decides the
// decoder (a PNG declared `font/woff2` is drawn); PNG, JPEG and SVG are drawn, GIF, WebP, TIFF,
// AVIF and BMP are not. A nested SVG is drawn as vectors (its declared size allocates nothing),
// but its own embedded files and filters count.

import { gunzipSync } from 'node:zlib';
import sharp from 'sharp';
import type { LimitsConfig } from '../config';
import { limitExceeded } from '../errors';

/** SVGs inside SVGs are followed this deep; deeper is refused. */
const MAX_NESTING = 4;

export interface SvgEmbeds {
  /** Pixels of every PNG and JPEG embedded, at any depth. */
  pixels: number;
  /** The largest of them. */
  largest?: { width: number; height: number };
  /** Filter primitives inside embedded SVGs (the outer document's own are counted by checkSvgFilters). */
  nestedFilterPrimitives: number;
}

/**
 * A filter primitive element (`feGaussianBlur`, `feOffset`, …), with or without a namespace
 * prefix; not the child elements that configure one (`feMergeNode`, `feFuncR`, the lights).
 */
export const SVG_FILTER_PRIMITIVE = /<(?:[A-Za-z_][\w.-]*:)?fe(?!MergeNode|Func[RGBA]|DistantLight|PointLight|SpotLight)[A-Z][A-Za-z]*\b/g;

const PREDEFINED: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

/** Character and predefined entity references decoded, as the XML parser would before librsvg reads a value. */
function decodeReferences(text: string): string {
  return text.replace(/&(?:#(\d{1,7})|#x([0-9a-fA-F]{1,6})|(amp|lt|gt|quot|apos));/g, (whole, dec?: string, hex?: string, name?: string) => {
    if (name) return PREDEFINED[name];
    const code = dec !== undefined ? Number(dec) : Number.parseInt(hex!, 16);
    return code <= 0x10ffff ? String.fromCodePoint(code) : whole;
  });
}

const refused = (why: string) => limitExceeded(`The SVG ${why}; afterimage cannot bound what drawing it would cost`, true);

/**
 * A document type's own entities may hold markup or a data: URL that this scan would not see
 * where it is used, and attribute defaults may add an href to every element: refused. Plain text
 * entities (Illustrator declares its namespaces so) are kept.
 */
function checkDeclarations(text: string): void {
  if (/<!ATTLIST\b/i.test(text)) throw refused('declares attribute defaults (<!ATTLIST)');
  for (const [, value] of text.matchAll(/<!ENTITY\s+%?\s*[^\s"']+\s+(?:"([^"]*)"|'([^']*)'|SYSTEM|PUBLIC)/gi)) {
    const decoded = decodeReferences(value ?? '');
    if (value === undefined || /[<&%]|data:/i.test(decoded)) throw refused('declares an entity with markup, a reference or a data: URL');
  }
}

/** The files an SVG text embeds as data: URLs, decoded. */
function* dataUrls(text: string): Generator<Buffer> {
  const decoded = decodeReferences(text);
  for (const match of decoded.matchAll(/(?<![\w.+-])data:([^,"'()<>]{0,256}),/gi)) {
    const start = match.index + match[0].length;
    const end = decoded.slice(start).search(/["'()<>]/);
    const payload = decoded.slice(start, end < 0 ? undefined : start + end);
    yield /;\s*base64\s*$/i.test(match[1]) ? Buffer.from(payload, 'base64') : percentDecoded(payload);
  }
}

function percentDecoded(text: string): Buffer {
  const bytes: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const hex = text.charCodeAt(i) === 0x25 ? /^[0-9a-fA-F]{2}/.exec(text.slice(i + 1, i + 3)) : null;
    if (hex) {
      bytes.push(Number.parseInt(hex[0], 16));
      i += 2;
    } else {
      bytes.push(...Buffer.from(text[i], 'utf8'));
    }
  }
  return Buffer.from(bytes);
}

const isPng = (b: Buffer) => b.length >= 8 && b.readUInt32BE(0) === 0x89504e47;
const isJpeg = (b: Buffer) => b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff;
const isGzip = (b: Buffer) => b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b;
const isMarkup = (b: Buffer) => /^(?:\uFEFF)?\s*</.test(b.subarray(0, 64).toString('utf8'));

/** Counts what an SVG embeds; throws a 422 for what cannot be counted (an unreadable embedded image, nesting past MAX_NESTING). */
export async function svgEmbeds(svg: Buffer, limits: LimitsConfig, depth = 0): Promise<SvgEmbeds> {
  const text = svg.toString('utf8');
  const found: SvgEmbeds = { pixels: 0, nestedFilterPrimitives: depth > 0 ? (text.match(SVG_FILTER_PRIMITIVE)?.length ?? 0) : 0 };
  if (!/data:/i.test(decodeReferences(text))) return found;
  checkDeclarations(text);
  for (let file of dataUrls(text)) {
    if (isGzip(file)) {
      try {
        file = gunzipSync(file, { maxOutputLength: limits.maxInputBytes });
      } catch {
        throw refused('embeds compressed data that does not inflate within limits.maxInputBytes');
      }
    }
    if (isPng(file) || isJpeg(file)) {
      // Only the header is read: no pixel limit here, the sum is held to the configured one below.
      const header = await sharp(file, { limitInputPixels: false }).metadata().catch(() => undefined);
      if (!header?.width || !header.height) throw refused('embeds an image whose header cannot be read');
      found.pixels += header.width * header.height;
      if (!found.largest || header.width * header.height > found.largest.width * found.largest.height) found.largest = { width: header.width, height: header.height };
    } else if (isMarkup(file)) {
      if (depth + 1 > MAX_NESTING) throw refused(`nests SVGs more than ${MAX_NESTING} deep`);
      const nested = await svgEmbeds(file, limits, depth + 1);
      found.pixels += nested.pixels;
      if (nested.largest && (!found.largest || nested.largest.width * nested.largest.height > found.largest.width * found.largest.height)) found.largest = nested.largest;
      found.nestedFilterPrimitives += nested.nestedFilterPrimitives;
    }
    // Anything else (a font, GIF, WebP: librsvg draws none of them) costs no pixels.
  }
  return found;
}

/** The embedded images, held to limits.maxInputPixels as one input would be. */
export function checkEmbeddedPixels(embeds: SvgEmbeds, limits: LimitsConfig): void {
  if (embeds.pixels <= limits.maxInputPixels) return;
  const largest = embeds.largest ? ` (the largest ${embeds.largest.width}x${embeds.largest.height})` : '';
  throw limitExceeded(`The SVG embeds images of ${embeds.pixels} pixels in all${largest}; the limit is ${limits.maxInputPixels} (limits.maxInputPixels)`, true);
}
