// Executes a request plan over sharp: inspect the input (limits first), then each step as an
// ordered list of small operations, then encode. Knows nothing of origins or HTTP.

import sharp from 'sharp';
import type { LimitsConfig } from '../config';
import { HttpError, limitExceeded, unreadable } from '../errors';
import type { OutputOptions, TransformStep } from '../request/plan-types';
import { WHITE } from '../request/colour';
import { deadlineExceeded, isSharpTimeout, withinDeadline, type Deadline } from './deadline';
import type { ImageFormat, InputDescription } from './format';
import { AUTO_QUALITY_TARGETS, searchAutoQuality } from './auto-quality';
import type { ArrivalWatcher } from '../origin/reading';
import { holdsWholeHeader } from './header-prefix';
import type { LayerAssets } from './layer-assets';
import { applyStep, supportsAnimation } from './operations';
import { ENCODER_SETTINGS, formatQuality } from './quality';
import { materialise, type ImageState } from './state';
import { rasteriseSvg } from './svg';

sharp.cache(false); // every request is a new image: libvips' operation cache only costs memory here
sharp.concurrency(0);

export interface InspectedInput extends InputDescription {
  width: number;
  height: number;
  pages: number;
  /** For the cost model (cost.ts): what the decoder holds. */
  channels: number;
  bytesPerSample: number;
  progressive: boolean;
}

const BYTES_PER_SAMPLE: Record<string, number> = { uchar: 1, char: 1, ushort: 2, short: 2, uint: 4, int: 4, float: 4, complex: 8, double: 8, dpcomplex: 16 };

interface Header {
  input: InspectedInput;
  /** As stored, before the EXIF orientation: what the pixel limit counts. */
  storedWidth: number;
  frameHeight: number;
}

/**
 * The headers read, by the bytes they were read from: an original answered from the cache of
 * originals is the same Buffer every time, so a srcset burst or a repeated render reads its
 * header once (libvips's header read is a round trip through the thread pool). Only the facts
 * are kept (a few numbers and strings), and only while the bytes live.
 */
const HEADERS = new WeakMap<Buffer, Promise<Header | null>>();

/**
 * Headers read from the first bytes of a body still arriving (`readHeaderEarly`), by the buffer
 * the body is being read into: taken by `inspectInput` once that buffer holds the whole file.
 */
const EARLY_HEADERS = new WeakMap<Buffer, Promise<Header | null>>();

/** Past this many bytes without a whole JPEG or PNG header, the header is read from the whole file. */
const EARLY_HEADER_MAX_BYTES = 1024 * 1024;

/**
 * An `ArrivalWatcher` (origin/reading.ts) for an original that will be inspected: once the bytes
 * that have arrived (`arrived`, the start of `whole`) hold a JPEG's or PNG's whole header
 * (header-prefix.ts), its header is read from them while the rest of the file arrives, and
 * `inspectInput(whole)` uses that read instead of starting its own after the last byte. libvips
 * reads only those bytes, which are not written again. The facts are the same as from the whole
 * file (test/revalidation.test.ts checks it on 14 kinds of JPEG and PNG); a read that finds no
 * image, or another format, is made again on the whole file. True once it has started, or given
 * up (past EARLY_HEADER_MAX_BYTES without a whole header).
 */
export function readHeaderEarly(arrived: Buffer, whole: Buffer): boolean {
  if (HEADERS.has(whole) || EARLY_HEADERS.has(whole)) return true;
  if (!holdsWholeHeader(arrived)) return arrived.length > EARLY_HEADER_MAX_BYTES;
  EARLY_HEADERS.set(whole, readHeader(arrived));
  return true;
}

/** The errors `headerWatcher` refused a file with (`refusedFromHeader`). */
const REFUSALS = new WeakSet<object>();

/**
 * `readHeaderEarly`, and a verdict on what it read: a JPEG or PNG over limits.maxInputPixels
 * rejects with the 422 `inspectInput` would give once the file is in, so the read is cut there
 * (origin/reading.ts) instead of downloading up to limits.maxInputBytes of an image that will be
 * refused.
 */
export function headerWatcher(limits: LimitsConfig): ArrivalWatcher {
  return (arrived, whole) => {
    if (!readHeaderEarly(arrived, whole)) return false;
    const early = EARLY_HEADERS.get(whole);
    if (!early) return true;
    return early.then((header) => {
      if (header?.input.format !== 'jpeg' && header?.input.format !== 'png') return;
      try {
        checkInputPixels(header.storedWidth, header.frameHeight, header.input.pages, limits);
      } catch (error) {
        REFUSALS.add(error as object);
        throw error;
      }
    });
  };
}

/** True for the 422 a `headerWatcher` cut a read with: a check made early that would otherwise come after the read. */
export function refusedFromHeader(error: unknown): boolean {
  return typeof error === 'object' && error !== null && REFUSALS.has(error);
}

/** Reads the header only. Not an image → null. Over a limit → 422. */
export async function inspectInput(bytes: Buffer, limits: LimitsConfig): Promise<InspectedInput | null> {
  let read = HEADERS.get(bytes);
  if (!read) {
    const early = EARLY_HEADERS.get(bytes);
    EARLY_HEADERS.delete(bytes);
    // Only a JPEG's or PNG's facts are taken (what holdsWholeHeader vouched for); anything else is read again.
    read = early ? early.then((header) => (header?.input.format === 'jpeg' || header?.input.format === 'png' ? header : readHeader(bytes))) : readHeader(bytes);
    HEADERS.set(bytes, read);
  }
  const header = await read;
  if (!header) return null;
  // An SVG is served as stored unless a raster format is asked for; rasteriseSvg checks it then.
  if (header.input.format !== 'svg') checkInputPixels(header.storedWidth, header.frameHeight, header.input.pages, limits);
  return { ...header.input };
}

async function readHeader(bytes: Buffer): Promise<Header | null> {
  let meta: sharp.Metadata;
  try {
    meta = await sharp(bytes, { limitInputPixels: false }).metadata();
  } catch {
    return null;
  }
  if (!meta.format || !meta.width || !meta.height) return null;
  const pages = meta.pages ?? 1;
  const frameHeight = meta.pageHeight ?? meta.height;
  // EXIF orientations 5-8 swap the axes; every step sees the auto-oriented image.
  const swapped = (meta.orientation ?? 1) >= 5;
  const input: InspectedInput = {
    format: meta.format,
    compression: meta.compression,
    hasAlpha: meta.hasAlpha ?? false,
    animated: pages > 1 && (meta.format === 'gif' || meta.format === 'webp'),
    width: swapped ? frameHeight : meta.width,
    height: swapped ? meta.width : frameHeight,
    pages,
    channels: meta.channels ?? 4,
    bytesPerSample: BYTES_PER_SAMPLE[meta.depth ?? 'uchar'] ?? 4,
    progressive: meta.isProgressive ?? false,
  };
  return { input, storedWidth: meta.width, frameHeight };
}

/** Over `limits.maxInputPixels` → 422, before anything is decoded. */
function checkInputPixels(width: number, frameHeight: number, pages: number, limits: LimitsConfig): void {
  const pixels = width * frameHeight * pages;
  if (pixels > limits.maxInputPixels) {
    throw limitExceeded(`The input is ${width}x${frameHeight}${pages > 1 ? ` x ${pages} frames` : ''} = ${pixels} pixels; the limit is ${limits.maxInputPixels} (limits.maxInputPixels)`);
  }
}

export interface RenderOptions {
  steps: TransformStep[];
  output: OutputOptions;
  format: ImageFormat;
  defaultQuality: number;
  limits: LimitsConfig;
  /** Bounds every sharp pipeline of this render; without it, nothing does. */
  deadline?: Deadline;
  /** The layer images and fonts of the plan's layers, read by the service. */
  layerAssets?: LayerAssets;
}

export interface RenderResult {
  body: Buffer;
  width: number;
  height: number;
  /** ms drawing the steps before the last pipeline, and ms of that last pipeline (final step's pixels and the encoding). */
  transformMs: number;
  encodeMs: number;
}

type FailOn = 'error' | 'warning';

function open(bytes: Buffer, limits: LimitsConfig, animated: boolean, failOn: FailOn): sharp.Sharp {
  return sharp(bytes, { limitInputPixels: limits.maxInputPixels, animated, failOn });
}

/**
 * libjpeg reports corrupt or missing scan data only as a warning, then decodes the whole
 * declared size anyway (a 267-byte file declaring 7000x7000 costs a 49-megapixel decode), so a
 * JPEG is decoded with `failOn: 'warning'`: it stops at the first damaged byte. These warnings
 * lose no pixels (stray bytes between markers, an unknown JFIF version, cameras' quirks): a
 * JPEG that fails on one of them alone is decoded again, leniently.
 */
const HARMLESS_JPEG_WARNING = /extraneous bytes before marker|unknown JFIF revision|Invalid SOS parameters for sequential JPEG|Unknown Adobe color transform/i;

/** Runs every step in order, then encodes. Decoding failures are a 422, never a crash. */
export async function renderImage(bytes: Buffer, input: InspectedInput, options: RenderOptions): Promise<RenderResult> {
  if (input.format !== 'jpeg') return renderWith(bytes, input, options, 'error');
  try {
    return await renderWith(bytes, input, options, 'warning');
  } catch (error) {
    if (error instanceof HttpError && error.code === 'EUNREADABLE' && HARMLESS_JPEG_WARNING.test(error.message)) {
      return renderWith(bytes, input, options, 'error');
    }
    throw error;
  }
}

async function renderWith(bytes: Buffer, input: InspectedInput, options: RenderOptions, failOn: FailOn): Promise<RenderResult> {
  const { deadline } = options;
  // An SVG has no EXIF or XMP to keep, and reading the input's metadata again would draw it again.
  if (input.format === 'svg' && options.output.keepMetadata) options = { ...options, output: { ...options.output, keepMetadata: false } };
  const started = performance.now();
  try {
    let state = input.format === 'svg' ? await rasteriseSvg(bytes, input, options.steps[0], options.limits, deadline) : openRaster(bytes, input, options, failOn);
    state = { ...state, layerAssets: options.layerAssets };
    for (let i = 0; i < options.steps.length; i++) {
      if (i > 0) state = await materialise(state);
      state = await applyStep(state, options.steps[i]);
    }
    const encoded = await encode(state, bytes, options, failOn);
    const transformed = performance.now();
    const { data, info } = await withinDeadline(encoded, deadline).toBuffer({ resolveWithObject: true });
    return { body: data, width: info.width, height: info.pageHeight ?? info.height, transformMs: transformed - started, encodeMs: performance.now() - transformed };
  } catch (error) {
    if (error instanceof HttpError) throw error;
    // sharp's timeout stopped libvips: the deadline passed (or the client left) during the work.
    if (isSharpTimeout(error) && deadline) throw deadline.signal.aborted ? deadline.signal.reason : deadlineExceeded(deadline);
    throw unreadable(`The image could not be processed: ${shortSharpMessage(error)}`);
  }
}

/** The state a raster input starts from: limits checked, auto-oriented, nothing decoded yet. */
function openRaster(bytes: Buffer, input: InspectedInput, options: RenderOptions, failOn: FailOn): ImageState {
  checkInputPixels(input.width, input.height, input.pages, options.limits);
  // An animation stays animated only into an animated format, and only when every step can
  // run on all frames; otherwise its first frame is rendered.
  const animated = input.animated && (options.format === 'gif' || options.format === 'webp') && supportsAnimation(options.steps);
  return {
    image: open(bytes, options.limits, animated, failOn).autoOrient(),
    width: input.width,
    height: input.height,
    frames: animated ? input.pages : 1,
    hasAlpha: input.hasAlpha,
    animated,
    limits: options.limits,
    pending: 'none',
    materialised: false,
    deadline: options.deadline,
  };
}

function shortSharpMessage(error: unknown): string {
  return String((error as Error)?.message ?? error).split('\n')[0].slice(0, 200);
}

/**
 * `md-true` after the pixels were materialised: sharp keeps only the EXIF and XMP of a
 * pipeline's own input, so the result is drawn over a pipeline of the input cut to its first
 * pixel (no full decode, no resize of the input) and stretched to the result's size.
 */
async function onInputMetadata(result: sharp.Sharp, bytes: Buffer, limits: LimitsConfig, deadline: Deadline | undefined, failOn: FailOn): Promise<sharp.Sharp> {
  const { data, info } = await withinDeadline(result, deadline).raw().toBuffer({ resolveWithObject: true });
  const image = open(bytes, limits, false, failOn)
    .autoOrient() // and drops the Orientation tag: the result is upright
    .extract({ left: 0, top: 0, width: 1, height: 1 })
    .resize(info.width, info.height, { fit: 'fill', kernel: 'nearest' })
    .composite([{ input: data, raw: { width: info.width, height: info.height, channels: info.channels as 1 | 2 | 3 | 4 }, blend: 'source' }])
    .keepExif()
    .keepXmp();
  // Compositing adds an alpha channel; one the result did not have is dropped again.
  return info.channels % 2 === 1 ? image.removeAlpha() : image;
}

/**
 * Encodes the final image (README "Parameters", output options). `q` is a JPEG quality: WebP
 * and AVIF are encoded at the quality that looks the same (quality.ts). Pixels always end in sRGB; `cp`
 * attaches an sRGB profile; transparency is kept where the format has alpha, JPEG is flattened
 * on the last `bg` (white by default).
 */
async function encode(state: ImageState, bytes: Buffer, options: RenderOptions, failOn: FailOn): Promise<sharp.Sharp> {
  const { output } = options;
  let quality = output.quality ?? options.defaultQuality;
  // q-auto: the quality is searched on the rendered pixels (materialised here once).
  const lossy = options.format === 'jpeg' || ((options.format === 'webp' || options.format === 'avif') && !output.lossless);
  if (output.autoQuality && lossy) {
    if (state.animated) quality = AUTO_QUALITY_TARGETS[output.autoQuality].fallback;
    else {
      const { data, info } = await withinDeadline(state.image, options.deadline).raw().toBuffer({ resolveWithObject: true });
      quality = await searchAutoQuality({ data, width: info.width, height: info.height, channels: info.channels }, output.autoQuality, options.deadline);
      const channels = info.channels as 1 | 2 | 3 | 4;
      state = { ...state, image: sharp(data, { raw: { width: info.width, height: info.height, channels } }), width: info.width, height: info.height, hasAlpha: channels % 2 === 0, pending: 'none', materialised: true };
    }
  }
  // sharp flattens before its geometry and effects, so whatever is pending is settled first.
  if (options.format === 'jpeg' && state.hasAlpha && state.pending !== 'none') state = await materialise(state);
  let image = state.image;
  if (options.format === 'jpeg') {
    const { r, g, b } = output.background ?? WHITE;
    image = image.flatten({ background: { r, g, b } });
  }
  if (output.keepMetadata) image = state.materialised ? await onInputMetadata(image, bytes, options.limits, options.deadline, failOn) : image.keepExif().keepXmp();
  if (output.keepColourProfile) image = image.withIccProfile('srgb');
  switch (options.format) {
    case 'jpeg':
      return image.jpeg({ ...ENCODER_SETTINGS.jpeg, quality, progressive: output.progressive ?? false });
    case 'png':
      return image.png({ progressive: output.progressive ?? false });
    case 'webp':
      return image.webp({ ...ENCODER_SETTINGS.webp, quality: formatQuality('webp', quality), lossless: output.lossless ?? false });
    case 'avif':
      // Lossless AVIF keeps full-resolution colour (4:2:0 would not be lossless) and effort 2,
      // which its cost coefficients were measured with.
      if (output.lossless) return image.avif({ lossless: true, effort: 2 });
      return image.avif({ ...ENCODER_SETTINGS.avif, quality: formatQuality('avif', quality) });
    case 'gif':
      return image.gif();
  }
}
