// What an SVG embeds as `data:` URLs (README "Bounded cost of a request"). librsvg decodes an
// embedded PNG or JPEG whole, whatever size it is drawn at: a 10×10 SVG carrying a 20000×20000
// PNG in 389 KB drew in 13 s at a peak of 3.7 GB. The drawn size (limits.maxSvgPixels) does not
// see those pixels, so they are counted here, from the embedded files' headers, before drawing.
//
// The scan reads the text librsvg would read, and fails closed. Measured on sharp's librsvg, a
// data: URL is loaded from an `<image>` or `<feImage>` href, from a CSS `url()` (a fill, a
// stylesheet, an `@import`), written with entity or character references (any number of leading
// zeros), CSS escapes, tabs or line breaks anywhere (the URL parser drops them), a percent-encoded
// body even under `;base64`, and any media type: the content decides the decoder (PNG, JPEG and
// SVG are drawn; GIF, WebP, TIFF, AVIF and BMP are not). The outer file may be gzipped, a nested
// one UTF-16. So the document is inflated and decoded, its own entities expanded, its references
// and escapes decoded and those three characters dropped; then every `data:` in it is decoded and
// judged by its bytes: a PNG or JPEG is counted from its header (unreadable: refused), anything
// else is scanned the same way as a document of its own (CSS, SVG, text), to a depth of 4.

import { gunzipSync } from 'node:zlib';
import sharp from 'sharp';
import type { LimitsConfig } from '../config';
import { limitExceeded } from '../errors';

/** Payloads inside payloads are followed this deep; deeper is refused. */
const MAX_NESTING = 4;
/** An embedded image drawn more often than this many inputs' worth of pixels (`<use>` repeats it) is refused. */
export const EMBEDDED_DRAWS = 4;

export interface SvgEmbeds {
  /** Pixels of every PNG and JPEG embedded, at any depth. */
  pixels: number;
  /** The largest of them. */
  largest?: { width: number; height: number };
  /** Filter primitives inside embedded documents (the outer document's own are counted by checkSvgFilters). */
  nestedFilterPrimitives: number;
  /** `<use>` elements at any depth: each may draw an embedded image once more. */
  uses: number;
}

/**
 * A filter primitive element (`feGaussianBlur`, `feOffset`, …), with or without a namespace
 * prefix; not the child elements that configure one (`feMergeNode`, `feFuncR`, the lights).
 */
export const SVG_FILTER_PRIMITIVE = /<(?:[A-Za-z_][\w.-]*:)?fe(?!MergeNode|Func[RGBA]|DistantLight|PointLight|SpotLight)[A-Z][A-Za-z]*\b/g;
const USE_ELEMENT = /<(?:[A-Za-z_][\w.-]*:)?use\b/gi;

const refused = (why: string) => limitExceeded(`The SVG ${why}; afterimage cannot bound what drawing it would cost`, true);

const isPng = (b: Buffer) => b.length >= 8 && b.readUInt32BE(0) === 0x89504e47;
const isJpeg = (b: Buffer) => b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff;
const isGzip = (b: Buffer) => b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b;

function inflated(bytes: Buffer, limits: LimitsConfig): Buffer {
  try {
    return gunzipSync(bytes, { maxOutputLength: limits.maxInputBytes });
  } catch {
    throw refused('holds compressed data that does not inflate within limits.maxInputBytes');
  }
}

/** The text of a document as an XML parser decodes it: UTF-16 by its byte order mark or its first `<`, else UTF-8. */
function decodedText(bytes: Buffer): string {
  const le = (bytes[0] === 0xff && bytes[1] === 0xfe) || (bytes[0] === 0x3c && bytes[1] === 0);
  const be = (bytes[0] === 0xfe && bytes[1] === 0xff) || (bytes[0] === 0 && bytes[1] === 0x3c);
  if (le) return bytes.toString('utf16le');
  if (be) return Buffer.from(bytes.subarray(0, bytes.length & ~1)).swap16().toString('utf16le');
  return bytes.toString('utf8');
}

/**
 * The document's own general entities, expanded as libxml2 expands them for librsvg. A parameter
 * or external entity, or an attribute default (`<!ATTLIST`, which can add an href to every
 * element), is refused: what it adds is not in this text. Plain entities (Illustrator declares
 * its namespaces so) are expanded, to at most eight times the file (and limits.maxInputBytes).
 */
function expandEntities(text: string, limits: LimitsConfig): string {
  if (!/<!(?:ENTITY|ATTLIST)\b/i.test(text)) return text;
  if (/<!ATTLIST\b/i.test(text)) throw refused('declares attribute defaults (<!ATTLIST)');
  const entities = new Map<string, string>();
  for (const [declaration, name, quoted, single] of text.matchAll(/<!ENTITY\s+(%?\s*[^\s"'>]+)\s+(?:"([^"]*)"|'([^']*)'|[^>]*)>/gi)) {
    if (name.startsWith('%') || (quoted ?? single) === undefined) throw refused(`declares a parameter or external entity (${declaration.slice(0, 80)})`);
    if (!entities.has(name)) entities.set(name, quoted ?? single);
  }
  // Illustrator's entities add a few hundred bytes; eight times the file is far past any real use.
  const cap = Math.min(limits.maxInputBytes, 8 * text.length + 2 ** 20);
  let expanded = text;
  for (let round = 0; round < 10; round++) {
    let changed = false;
    // Counted as it grows, so that a billion laughs stops at the limit, not after a round of them.
    let length = expanded.length;
    expanded = expanded.replace(/&([A-Za-z_:][\w.:-]*);/g, (whole, name: string) => {
      const value = entities.get(name);
      if (value === undefined) return whole;
      changed = true;
      length += value.length - whole.length;
      if (length > cap) throw refused(`declares entities that expand to more than ${cap} characters`);
      return value;
    });
    if (!changed) return expanded;
  }
  throw refused('declares entities nested more than 10 deep');
}

const PREDEFINED: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

/** A code point, or the replacement character for one that is not (what matters is that it is not `data:`). */
const character = (code: number) => (code >= 0 && code <= 0x10ffff ? String.fromCodePoint(code) : '\uFFFD');

/**
 * The text as the URL parser finally sees it, everywhere at once: character references (any
 * number of leading zeros, either case of x) and the predefined entities decoded, then CSS
 * escapes, then tabs and line breaks dropped. Decoding where librsvg would not only finds more.
 */
function normalised(text: string): string {
  return text
    .replace(/&(?:#0*(\d{1,8})|#[xX]0*([0-9a-fA-F]{1,7})|(amp|lt|gt|quot|apos));/g, (_, dec?: string, hex?: string, name?: string) =>
      name ? PREDEFINED[name] : character(dec !== undefined ? Number(dec) : Number.parseInt(hex!, 16)),
    )
    .replace(/\\(?:([0-9a-fA-F]{1,6})[ \t\r\n\f]?|\r\n|\n|([^\r\n0-9a-fA-F]))/g, (_, hex?: string, other?: string) => (hex ? character(Number.parseInt(hex, 16)) : (other ?? '')))
    .replace(/[\t\n\r]/g, '');
}

function percentDecoded(text: string): Buffer {
  if (!text.includes('%')) return Buffer.from(text, 'utf8');
  return Buffer.concat(text.split(/(%[0-9a-fA-F]{2})/).map((piece) => (/^%[0-9a-fA-F]{2}$/.test(piece) ? Buffer.of(Number.parseInt(piece.slice(1), 16)) : Buffer.from(piece, 'utf8'))));
}

/**
 * Every data: URL's body, decoded, over-taken where in doubt: the media type runs to the first
 * comma (any characters), a base64 body to the end of its base64, percent-escapes and spaces
 * included (librsvg percent-decodes before base64), any other body to a quote, `)`, `<` or a space.
 */
function* dataBodies(text: string): Generator<Buffer> {
  const base64Body = /[A-Za-z0-9+/=%\s]*/y;
  const otherBody = /[^"'()<>\s]*/y;
  for (const match of text.matchAll(/(?<![A-Za-z0-9+.-])data:/gi)) {
    const start = match.index + match[0].length;
    const comma = text.indexOf(',', start);
    if (comma < 0) return;
    const base64 = /;\s*base64\s*$/i.test(text.slice(start, comma));
    const pattern = base64 ? base64Body : otherBody;
    pattern.lastIndex = comma + 1;
    const body = pattern.exec(text)![0];
    yield base64 ? Buffer.from(percentDecoded(body).toString('latin1'), 'base64') : percentDecoded(body);
  }
}

/** Counts what an SVG (or a document it embeds) embeds; throws a 422 for what cannot be counted. */
export async function svgEmbeds(svg: Buffer, limits: LimitsConfig, depth = 0): Promise<SvgEmbeds> {
  const bytes = isGzip(svg) ? inflated(svg, limits) : svg;
  const text = normalised(expandEntities(decodedText(bytes), limits));
  const found: SvgEmbeds = {
    pixels: 0,
    nestedFilterPrimitives: depth > 0 ? (text.match(SVG_FILTER_PRIMITIVE)?.length ?? 0) : 0,
    uses: text.match(USE_ELEMENT)?.length ?? 0,
  };
  for (let file of dataBodies(text)) {
    if (isGzip(file)) file = inflated(file, limits);
    if (isPng(file) || isJpeg(file)) {
      // Only the header is read: no pixel limit here, the sum is held to the configured one.
      const header = await sharp(file, { limitInputPixels: false }).metadata().catch(() => undefined);
      if (!header?.width || !header.height) throw refused('embeds an image whose header cannot be read');
      found.pixels += header.width * header.height;
      if (!found.largest || header.width * header.height > found.largest.width * found.largest.height) found.largest = { width: header.width, height: header.height };
      continue;
    }
    // Anything else may be a document that embeds more (an SVG, a stylesheet): scanned as one.
    if (!/data:|&|\\/i.test(decodedText(file)) && !isGzip(file)) continue;
    if (depth + 1 > MAX_NESTING) throw refused(`nests embedded documents more than ${MAX_NESTING} deep`);
    const nested = await svgEmbeds(file, limits, depth + 1);
    found.pixels += nested.pixels;
    if (nested.largest && (!found.largest || nested.largest.width * nested.largest.height > found.largest.width * found.largest.height)) found.largest = nested.largest;
    found.nestedFilterPrimitives += nested.nestedFilterPrimitives;
    found.uses += nested.uses;
  }
  return found;
}

/** The embedded images, held to limits.maxInputPixels as one input would be, and drawn at most EMBEDDED_DRAWS inputs' worth. */
export function checkEmbeddedPixels(embeds: SvgEmbeds, limits: LimitsConfig): void {
  const largest = embeds.largest ? ` (the largest ${embeds.largest.width}x${embeds.largest.height})` : '';
  if (embeds.pixels > limits.maxInputPixels) {
    throw limitExceeded(`The SVG embeds images of ${embeds.pixels} pixels in all${largest}; the limit is ${limits.maxInputPixels} (limits.maxInputPixels)`, true);
  }
  const drawn = embeds.pixels * (1 + embeds.uses);
  if (drawn > EMBEDDED_DRAWS * limits.maxInputPixels) {
    throw limitExceeded(
      `The SVG embeds images of ${embeds.pixels} pixels${largest} and has ${embeds.uses} <use> elements, each of which may draw them again: ${drawn} pixels drawn; the limit is ${EMBEDDED_DRAWS * limits.maxInputPixels} (${EMBEDDED_DRAWS} times limits.maxInputPixels)`,
      true,
    );
  }
}
