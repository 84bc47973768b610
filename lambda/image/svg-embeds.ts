// What an SVG embeds as `data:` URLs (README "Bounded cost of a request"). librsvg decodes an
// embedded PNG or JPEG whole, whatever size it is drawn at: a 10×10 SVG carrying a 20000×20000
// PNG in 389 KB drew in 13 s at a peak of 3.7 GB. The drawn size (limits.maxSvgPixels) does not
// see those pixels, so they are counted here, from the embedded files' headers, before drawing.
//
// librsvg reads a data: URL from many places (an `<image>` or `<feImage>` href, a CSS `url()`, a
// stylesheet, `@import`) written in many ways (entities, character references, CSS escapes,
// comments, CDATA or child elements splitting a word, tabs and line breaks anywhere,
// percent-escapes even under `;base64`, any media type), and three independent reviews found
// about thirty ways past a scan of URL syntax. So this scan does not rest on the syntax. An
// embedded PNG or JPEG cannot be written raw in XML (its bytes 0x00, 0x1A, 0x89, 0xFF cannot reach
// the URL parser unescaped), so it is in the text as base64 or percent-escapes. The text librsvg
// reads is rebuilt (inflated, decoded, its plain entities expanded; anything else in a DOCTYPE
// refused) and lexed as XML (attribute values, each element's own text, all the text, processing
// instructions); each reading, and the document as written, has its references and escapes
// decoded and its whitespace dropped; then every data: URL body, every run of base64 and every
// PNG or JPEG signature after percent-decoding is decoded and judged by its bytes. A PNG or JPEG
// (from `FF D8`, as librsvg's decoder accepts) is counted from the largest frame header in it
// (libjpeg and librsvg's decoder may read different ones), an unreadable one refused; gzip is
// inflated; text that may be a document (an SVG, a stylesheet) is scanned the same way, four
// levels deep. What cannot be scanned is refused.

import { createHash } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import sharp from 'sharp';
import type { LimitsConfig } from '../config';
import { limitExceeded } from '../errors';
import { PNG_SIGNATURE } from './header-prefix';

/** Percent-escaped PNG or JPEG signatures read in one document; more is refused. */
const MAX_SIGNATURES = 64;
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

const isPng = (b: Buffer) => b.subarray(0, PNG_SIGNATURE.length).equals(PNG_SIGNATURE);
/** From `FF D8`: librsvg's JPEG decoder skips bytes between SOI and the next marker. */
const JPEG_START = Buffer.from([0xff, 0xd8]);
const isJpeg = (b: Buffer) => b.subarray(0, 2).equals(JPEG_START);
const isGzip = (b: Buffer) => b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b;

function inflated(bytes: Buffer, limits: LimitsConfig): Buffer {
  try {
    return gunzipSync(bytes, { maxOutputLength: limits.maxInputBytes });
  } catch {
    throw refused('holds compressed data that does not inflate within limits.maxInputBytes');
  }
}

/** The text of a document as an XML parser decodes it: UTF-16 by its byte order mark or its first `<`, else UTF-8. */
function documentText(bytes: Buffer): string {
  const utf32 = bytes.length >= 4 && ((bytes[0] === 0 && bytes[1] === 0) || (bytes[2] === 0 && bytes[3] === 0 && bytes[1] === 0));
  if (utf32) throw refused('is written in UTF-32, which this scan does not read');
  const le = (bytes[0] === 0xff && bytes[1] === 0xfe) || (bytes[0] === 0x3c && bytes[1] === 0);
  const be = (bytes[0] === 0xfe && bytes[1] === 0xff) || (bytes[0] === 0 && bytes[1] === 0x3c);
  if (le) return bytes.toString('utf16le');
  if (be) return Buffer.from(bytes.subarray(0, bytes.length & ~1)).swap16().toString('utf16le');
  const text = bytes.toString('utf8');
  const declared = /^\s*<\?xml[^>]*?\bencoding\s*=\s*["']([^"']*)["']/i.exec(text.slice(0, 200))?.[1].toLowerCase();
  if (declared !== undefined && !/^(utf-?8|us-ascii|ascii|iso-8859-1|latin1|windows-1252|utf-16(le|be)?)$/.test(declared)) throw refused(`declares the encoding ${declared.slice(0, 40)}, which this scan does not read`);
  return text;
}

/** An XML name as this scan expands it: ASCII only (a document declaring any other is refused). */
const ENTITY_NAME = '[A-Za-z_][A-Za-z0-9._-]*';

/**
 * The document's own entities, expanded exactly as libxml2 would, or refused. A DOCTYPE's internal
 * subset may hold only plain general entities (an ASCII name, a quoted value without `&`, `%` or
 * `<`, each declared once): Illustrator declares its namespaces so. Anything else there (parameter
 * or external entities, `<!ATTLIST`, which can add an href to every element, comments, processing
 * instructions) is refused, and so is a reference to an entity the document does not declare. The
 * expansion stops at eight times the file (a billion laughs stops in milliseconds).
 */
function withEntities(text: string, limits: LimitsConfig): string {
  // Read as written: "<!DOCTYPE" anywhere else (in a comment, say) is refused rather than guessed at.
  const doctypes = text.match(/<!DOCTYPE\b/gi)?.length ?? 0;
  if (doctypes > 1) throw refused('has more than one DOCTYPE');
  const start = doctypes === 1 ? text.search(/<!DOCTYPE\b/i) : -1;
  const subset = start >= 0 ? declaration(text, start).subset : undefined;
  const entities = new Map<string, string>();
  if (subset !== undefined) {
    const declaration = new RegExp(`\\s*<!ENTITY\\s+(${ENTITY_NAME})\\s+(?:"([^"&%<]*)"|'([^'&%<]*)')\\s*>`, 'y');
    let at = 0;
    while (at < subset.length && subset.slice(at).trim() !== '') {
      declaration.lastIndex = at;
      const match = declaration.exec(subset);
      if (!match) throw refused(`declares more than plain entities in its DOCTYPE (${subset.slice(at).trim().slice(0, 60)})`);
      if (entities.has(match[1])) throw refused(`declares the entity ${match[1]} twice`);
      entities.set(match[1], match[2] ?? match[3]);
      at = declaration.lastIndex;
    }
  }
  // Illustrator's entities add a few hundred bytes; eight times the file is far past any real use.
  const cap = Math.min(limits.maxInputBytes, 8 * text.length + 2 ** 20);
  let length = text.length;
  const expanded = entities.size === 0 ? text : text.replace(new RegExp(`&(${ENTITY_NAME});`, 'g'), (whole, name: string) => {
    const value = entities.get(name);
    if (value === undefined) return whole;
    length += value.length - whole.length;
    if (length > cap) throw refused(`declares entities that expand to more than ${cap} characters`);
    return value;
  });
  return expanded;
}

/** Any reference left in markup (not in comments or CDATA) is one libxml2 would resolve some other way. */
function checkReferences(markup: string): void {
  const unknown = /&(?!#\d+;|#[xX][0-9a-fA-F]+;|(?:amp|lt|gt|quot|apos);)[^\s&;<>"']+;/.exec(markup);
  if (unknown) throw refused(`uses an entity it does not declare (${unknown[0].slice(0, 40)})`);
}

const PREDEFINED: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

/** A code point, or the replacement character for one that is not (what matters is that it is not `data:`). */
const character = (code: number) => (code >= 0 && code <= 0x10ffff ? String.fromCodePoint(code) : '\uFFFD');

/** What a document says, read as an XML parser reads it: attribute values, text, processing instructions. */
interface Pieces {
  /** Each attribute value, as written. */
  attributes: string[];
  /** Each element's own text (its text and CDATA, without its children's), joined across comments, PIs and child elements, as librsvg reads a `<style>`. */
  ownTexts: string[];
  /** All the text of the document, joined. */
  allText: string;
  /** The contents of processing instructions (an `xml-stylesheet` href is read). */
  instructions: string[];
  /** Attribute values and text outside CDATA: where an entity reference would be resolved. */
  markup: string[];
}

/**
 * A small XML lexer, not a validating parser: comments, CDATA sections, processing instructions,
 * the DOCTYPE, tags with their quoted attribute values, and text, each recognised where it starts,
 * so that a `<!--` inside CDATA or an attribute, or a `/*` anywhere, hides nothing.
 */
function lex(text: string): Pieces {
  const pieces: Pieces = { attributes: [], ownTexts: [], allText: '', instructions: [], markup: [] };
  const all: string[] = [];
  const open: string[][] = [[]];
  const addText = (chunk: string) => {
    open[open.length - 1].push(chunk);
    all.push(chunk);
  };
  const close = () => {
    const own = open.length > 1 ? open.pop()! : open[0].splice(0);
    if (own.length > 0) pieces.ownTexts.push(own.join(''));
  };
  const until = (marker: string, from: number) => {
    const at = text.indexOf(marker, from);
    return at < 0 ? text.length : at;
  };
  let at = 0;
  while (at < text.length) {
    if (text[at] !== '<') {
      const end = until('<', at);
      addText(text.slice(at, end));
      pieces.markup.push(text.slice(at, end));
      at = end;
    } else if (text.startsWith('<!--', at)) {
      at = until('-->', at + 4) + 3;
    } else if (text.startsWith('<![CDATA[', at)) {
      const end = until(']]>', at + 9);
      addText(text.slice(at + 9, end));
      at = end + 3;
    } else if (text.startsWith('<?', at)) {
      const end = until('?>', at + 2);
      pieces.instructions.push(text.slice(at + 2, end));
      at = end + 2;
    } else if (text.startsWith('<!', at)) {
      // The DOCTYPE (its subset was read by withEntities) or another declaration.
      at = declaration(text, at).end;
    } else if (text.startsWith('</', at)) {
      close();
      at = until('>', at) + 1;
    } else {
      at = readTag(text, at + 1, pieces.attributes, (selfClosing) => {
        if (!selfClosing) open.push([]);
      });
    }
  }
  while (open.length > 1) close();
  if (open[0].length > 0) pieces.ownTexts.push(open[0].join(''));
  pieces.allText = all.join('');
  pieces.markup.push(...pieces.attributes);
  return pieces;
}

/**
 * A `<!…>` declaration from its `<`, read as libxml2 reads a DOCTYPE: quoted literals skipped
 * whole (a `[` or `>` in them is text), an internal subset from `[` to its `]` (quoted values in
 * it skipped too). Returns where it ends and the subset's text.
 */
function declaration(text: string, from: number): { end: number; subset?: string } {
  let subsetStart = -1;
  for (let at = from + 2; at < text.length; at++) {
    const char = text[at];
    if (char === '"' || char === "'") {
      const close = text.indexOf(char, at + 1);
      if (close < 0) break;
      at = close;
    } else if (char === '[' && subsetStart < 0) {
      subsetStart = at + 1;
    } else if (char === ']' && subsetStart >= 0) {
      const gt = text.indexOf('>', at);
      return { end: gt < 0 ? text.length : gt + 1, subset: text.slice(subsetStart, at) };
    } else if (char === '>' && subsetStart < 0) {
      return { end: at + 1 };
    }
  }
  return { end: text.length, ...(subsetStart >= 0 ? { subset: text.slice(subsetStart) } : {}) };
}

/** A start tag from after its `<`: its attribute values into `attributes`; returns where it ends. */
function readTag(text: string, from: number, attributes: string[], opened: (selfClosing: boolean) => void): number {
  let at = from;
  while (at < text.length) {
    const char = text[at];
    if (char === '>') {
      opened(text[at - 1] === '/');
      return at + 1;
    }
    if (char === '"' || char === "'") {
      const end = text.indexOf(char, at + 1);
      attributes.push(text.slice(at + 1, end < 0 ? text.length : end));
      at = end < 0 ? text.length : end + 1;
    } else {
      at++;
    }
  }
  opened(true);
  return at;
}

/**
 * The text as the URL parser finally sees it, everywhere at once: character references (any
 * number of leading zeros, either case of x) and the predefined entities decoded, then CSS
 * escapes, then tabs and line breaks dropped. Decoding where librsvg would not only finds more.
 */
function normalised(text: string, css: boolean): string {
  const referenced = text.replace(/&(?:#0*(\d{1,8})|#[xX]0*([0-9a-fA-F]{1,7})|(amp|lt|gt|quot|apos));/g, (_, dec?: string, hex?: string, name?: string) =>
    name ? PREDEFINED[name] : character(dec !== undefined ? Number(dec) : Number.parseInt(hex!, 16)),
  );
  // CSS escapes (and a backslash before any line end, CSS's line continuation) where the text may
  // be CSS; elsewhere a backslash is a byte (an href's body), so each reading is taken both ways.
  const escaped = css
    ? referenced.replace(/\\(?:([0-9a-fA-F]{1,6})[ \t\r\n\f]?|\r\n|[\r\n\f]|([^\r\n\f0-9a-fA-F]))/g, (_, hex?: string, other?: string) => (hex ? character(Number.parseInt(hex, 16)) : (other ?? '')))
    : referenced;
  return escaped.replace(/[\t\n\r]/g, '');
}

/** Percent-escapes decoded into bytes, the rest as UTF-8, in one pass (a piece per escape was five times slower). */
function percentDecoded(text: string): Buffer {
  if (!text.includes('%')) return Buffer.from(text, 'utf8');
  const out = Buffer.allocUnsafe(Buffer.byteLength(text, 'utf8'));
  let length = 0;
  for (let at = 0; at < text.length; at++) {
    const code = text.charCodeAt(at);
    const high = code === 0x25 && at + 2 < text.length ? hexValue(text.charCodeAt(at + 1)) : -1;
    const low = high >= 0 ? hexValue(text.charCodeAt(at + 2)) : -1;
    if (low >= 0) {
      out[length++] = high * 16 + low;
      at += 2;
    } else if (code < 0x80) {
      out[length++] = code;
    } else {
      // A surrogate pair is one character: both halves written together.
      const pair = code >= 0xd800 && code < 0xdc00 && at + 1 < text.length ? text.slice(at, at + 2) : text[at];
      length += out.write(pair, length, 'utf8');
      at += pair.length - 1;
    }
  }
  return out.subarray(0, length);
}

function hexValue(code: number): number {
  if (code >= 0x30 && code <= 0x39) return code - 0x30;
  if (code >= 0x41 && code <= 0x46) return code - 0x37;
  if (code >= 0x61 && code <= 0x66) return code - 0x57;
  return -1;
}

/**
 * Every data: URL's body, decoded, over-taken where in doubt: the media type runs to the first
 * comma (any characters), a base64 body to the end of its base64, percent-escapes and spaces
 * included (librsvg percent-decodes before base64), any other body to a quote, `)`, `<` or a space.
 */
function* dataBodies(text: string): Generator<Buffer> {
  let comma = -1;
  for (const match of text.matchAll(/(?<![A-Za-z0-9+.-])data:/gi)) {
    const start = match.index + match[0].length;
    // Many data: before one comma are one URL (`data:data:…,body`): its body is read once.
    if (comma >= start) continue;
    comma = text.indexOf(',', start);
    if (comma < 0) return;
    // The flag is read from the end of the media type; a longer gap of spaces is left to the base64 runs.
    const base64 = /;\s*base64\s*$/i.test(text.slice(Math.max(start, comma - 256), comma));
    const body = text.slice(comma + 1, runEnd(text, comma + 1, base64 ? BASE64_OR_ESCAPE : OTHER_BODY));
    yield base64 ? Buffer.from(percentDecoded(body).toString('latin1'), 'base64') : percentDecoded(body);
  }
}

/** A table of the ASCII characters a run may hold (any other character ends it, unless `others`). */
function characterClass(chars: string, others = false): (code: number) => boolean {
  const table = new Uint8Array(128);
  for (const char of chars) table[char.charCodeAt(0)] = 1;
  return (code) => (code < 128 ? table[code] === 1 : others);
}
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const BASE64 = characterClass(ALPHABET);
/** A base64 body before percent-decoding: escapes and spaces included. */
const BASE64_OR_ESCAPE = characterClass(`${ALPHABET}=% \t\n\f\r`);
/** Any other body: up to a quote, a parenthesis, `<`, `>` or a space. */
const OTHER_BODY = characterClass(Array.from({ length: 128 }, (_, i) => String.fromCharCode(i)).filter((c) => !/["'()<>\s]/.test(c)).join(''), true);

/** Where a run of `allowed` characters from `from` ends (a loop: a regex over megabytes overflows V8's stack). */
function runEnd(text: string, from: number, allowed: (code: number) => boolean): number {
  let end = from;
  while (end < text.length && allowed(text.charCodeAt(end))) end++;
  return end;
}

/** An attribute value that is a data: URL: its body to the end of the value, decoded. */
function hrefBody(value: string): Buffer | undefined {
  const url = /^\s*data:([^,]*),([\s\S]*)$/i.exec(value);
  if (!url) return undefined;
  const body = percentDecoded(url[2]);
  return /;\s*base64\s*$/i.test(url[1]) ? Buffer.from(body.toString('latin1'), 'base64') : body;
}

/** Every run of base64 long enough to hold an image header, decoded (the text has no whitespace left). */
function* base64Runs(compact: string): Generator<Buffer> {
  // One pass (a regex over megabytes is slow, and unbounded it overflows V8's stack).
  let start = -1;
  for (let at = 0; at <= compact.length; at++) {
    if (at < compact.length && BASE64(compact.charCodeAt(at))) {
      if (start < 0) start = at;
    } else if (start >= 0) {
      if (at - start >= 40) yield Buffer.from(compact.slice(start, at), 'base64');
      start = -1;
    }
  }
}

/** Every PNG or JPEG signature in bytes that were percent-escaped, with what follows it up to a raw quote, `<` or `)`. */
function* signatures(bytes: Buffer): Generator<Buffer> {
  let hits = 0;
  for (const signature of [PNG_SIGNATURE, JPEG_START]) {
    for (let at = bytes.indexOf(signature); at >= 0; at = bytes.indexOf(signature, at + 1)) {
      // Each hit is hashed to its end: many of them in one run would cost their square.
      if (++hits > MAX_SIGNATURES) throw refused(`holds more than ${MAX_SIGNATURES} percent-escaped image signatures`);
      let end = at;
      while (end < bytes.length && bytes[end] !== 0x22 && bytes[end] !== 0x27 && bytes[end] !== 0x3c && bytes[end] !== 0x29) end++;
      yield bytes.subarray(at, end);
    }
  }
}

/**
 * Every frame header in a PNG or JPEG, wherever it is: a PNG's IHDR chunks, and a JPEG's SOF
 * segments (SOF0-SOF15 less DHT, JPG and DAC) whose length, precision and components are
 * consistent, which random bytes almost never are.
 */
function frameHeaders(file: Buffer): Array<{ width: number; height: number }> {
  const found: Array<{ width: number; height: number }> = [];
  if (isPng(file)) {
    for (let at = file.indexOf('IHDR'); at >= 4; at = file.indexOf('IHDR', at + 1)) {
      if (at + 12 <= file.length && file.readUInt32BE(at - 4) === 13) found.push({ width: file.readUInt32BE(at + 4), height: file.readUInt32BE(at + 8) });
    }
    return found;
  }
  for (let at = file.indexOf(0xff); at >= 0 && at + 10 <= file.length; at = file.indexOf(0xff, at + 1)) {
    const marker = file[at + 1];
    if (marker < 0xc0 || marker > 0xcf || marker === 0xc4 || marker === 0xc8 || marker === 0xcc) continue;
    const [length, precision, height, width, components] = [file.readUInt16BE(at + 2), file[at + 4], file.readUInt16BE(at + 5), file.readUInt16BE(at + 7), file[at + 9]];
    if ((precision === 8 || precision === 12 || precision === 16) && components >= 1 && components <= 4 && length === 8 + 3 * components && width > 0) {
      found.push({ width, height: Math.max(height, 1) });
    }
  }
  return found;
}

/** Text that may be a document librsvg reads: markup (UTF-8 or UTF-16) or a stylesheet. */
function mayBeDocument(bytes: Buffer): boolean {
  if (isGzip(bytes)) return true;
  const head = bytes.subarray(0, 4);
  if ((head[0] === 0xff && head[1] === 0xfe) || (head[0] === 0xfe && head[1] === 0xff) || (head[1] === 0 && head[0] === 0x3c) || (head[0] === 0 && head[1] === 0x3c)) return true;
  const text = bytes.subarray(0, 4096).toString('latin1');
  return /^(?:\uFEFF|\xEF\xBB\xBF)?\s*</.test(text) || /url\s*\(|@import|data:|&#|\\/i.test(bytes.toString('latin1'));
}

interface Scan {
  /** Bytes of documents and payloads decoded so far, against a budget: what cannot be scanned is refused. */
  scanned: number;
  readonly budget: number;
}

/** Counts what an SVG (or a document it embeds) embeds; throws a 422 for what cannot be counted. */
export async function svgEmbeds(svg: Buffer, limits: LimitsConfig, depth = 0, scan: Scan = { scanned: 0, budget: 4 * svg.length + 2 ** 24 }): Promise<SvgEmbeds> {
  const bytes = isGzip(svg) ? inflated(svg, limits) : svg;
  scan.scanned += bytes.length;
  if (scan.scanned > scan.budget) throw refused(`holds more embedded data than can be scanned (${scan.budget} bytes)`);
  const expanded = withEntities(documentText(bytes), limits);
  const pieces = lex(expanded);
  checkReferences(pieces.markup.join('"'));
  // The readings the payloads are looked for in. Each joins text as librsvg may (an element's own
  // text across comments and children, all the text, each attribute value), and the document as
  // written is one more: what one reading splits or hides, another holds whole.
  const readings = [
    expanded,
    pieces.attributes.join('"'),
    pieces.ownTexts.join('"'),
    pieces.allText,
    pieces.instructions.join('"'),
  ].flatMap((reading) => [normalised(reading, true), normalised(reading, false)]).filter((reading, i, all) => all.indexOf(reading) === i);
  const readable = readings[0];
  // librsvg keeps one entity table for a document and the documents it includes: an included
  // document's text would not be what this scan reads for it alone.
  if (readings.some((reading) => /http:\/\/www\.w3\.org\/2001\/XInclude/i.test(reading))) throw refused('uses XInclude');
  const found: SvgEmbeds = {
    pixels: 0,
    nestedFilterPrimitives: depth > 0 ? (readable.match(SVG_FILTER_PRIMITIVE)?.length ?? 0) : 0,
    uses: readable.match(USE_ELEMENT)?.length ?? 0,
  };
  // The same payload found several ways (a data: URL, a base64 run, a signature) is one image,
  // counted as often as the reading that finds it most often. Keyed by all its bytes: two readings
  // that end it differently count it twice, which errs on the side of refusing.
  const payloads = new Map<string, { bytes: Buffer; count: number }>();
  const tally = (reading: Iterable<Buffer>) => {
    const counts = new Map<string, number>();
    for (const payload of reading) {
      if (payload.length < 8) continue;
      const key = createHash('sha1').update(payload).digest('hex');
      counts.set(key, (counts.get(key) ?? 0) + 1);
      if (!payloads.has(key)) payloads.set(key, { bytes: payload, count: 0 });
    }
    for (const [key, count] of counts) payloads.get(key)!.count = Math.max(payloads.get(key)!.count, count);
  };
  // An href holds one URL: its body runs to the end of the value, whatever it holds.
  tally(pieces.attributes.map((value) => hrefBody(normalised(value, false))).filter((body): body is Buffer => body !== undefined));
  for (const reading of readings) {
    tally(dataBodies(reading));
    tally(base64Runs(reading.replace(/\s+/g, '')));
    if (!/%[0-9a-fA-F]{2}/.test(reading)) continue;
    // Percent-escapes undone everywhere: a body the URL syntax above cut short is read whole here.
    const unescaped = percentDecoded(reading);
    const text = unescaped.toString('latin1');
    if (/<!(?:DOCTYPE|ENTITY|ATTLIST)\b/i.test(text) && !/<!(?:DOCTYPE|ENTITY|ATTLIST)\b/i.test(reading)) throw refused('holds a percent-escaped document with a DOCTYPE');
    tally(dataBodies(normalised(text, true)));
    tally(base64Runs(text.replace(/\s+/g, '')));
    tally(signatures(unescaped));
  }
  for (const { bytes: payload, count } of payloads.values()) {
    const file = isGzip(payload) ? inflated(payload, limits) : payload;
    if (isPng(file) || isJpeg(file)) {
      // Only the header is read: no pixel limit here, the sum is held to the configured one.
      const header = await sharp(file, { limitInputPixels: false }).metadata().catch(() => undefined);
      if (!header?.width || !header.height) throw refused('embeds an image whose header cannot be read');
      // librsvg's decoders may read another frame header than libjpeg's or libspng's (a JPEG with
      // a decoy before a marker they skip differently): the largest one anywhere in the file counts.
      const size = [{ width: header.width, height: header.height }, ...frameHeaders(file)].reduce((a, b) => (b.width * b.height > a.width * a.height ? b : a));
      found.pixels += size.width * size.height * count;
      if (!found.largest || size.width * size.height > found.largest.width * found.largest.height) found.largest = size;
      continue;
    }
    if (!mayBeDocument(file)) continue;
    if (depth + 1 > MAX_NESTING) throw refused(`nests embedded documents more than ${MAX_NESTING} deep`);
    const nested = await svgEmbeds(file, limits, depth + 1, scan);
    found.pixels += nested.pixels * count;
    if (nested.largest && (!found.largest || nested.largest.width * nested.largest.height > found.largest.width * found.largest.height)) found.largest = nested.largest;
    found.nestedFilterPrimitives += nested.nestedFilterPrimitives * count;
    found.uses += nested.uses * count;
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
