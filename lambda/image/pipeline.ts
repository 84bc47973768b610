// Executes a request plan over sharp: inspect the input (limits first), then each step as an
// ordered list of small operations, then encode. Knows nothing of origins or HTTP.

import sharp from 'sharp';
import type { LimitsConfig } from '../config';
import { HttpError } from '../errors';
import type { OutputOptions, TransformStep } from '../request/plan';
import { WHITE } from '../request/colour';
import type { ImageFormat, InputDescription } from './format';
import { STEP_OPERATIONS, materialise, supportsAnimation, type ImageState } from './steps';

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

/** Reads the header only. Not an image → null. Over a limit → 422. */
export async function inspectInput(bytes: Buffer, limits: LimitsConfig): Promise<InspectedInput | null> {
  let meta: sharp.Metadata;
  try {
    meta = await sharp(bytes, { limitInputPixels: false }).metadata();
  } catch {
    return null;
  }
  if (!meta.format || !meta.width || !meta.height) return null;
  const pages = meta.pages ?? 1;
  const frameHeight = meta.pageHeight ?? meta.height;
  // An SVG is served as stored unless a raster format is asked for; renderImage checks it then.
  if (meta.format !== 'svg') checkInputPixels(meta.width, frameHeight, pages, limits);
  // EXIF orientations 5-8 swap the axes; every step sees the auto-oriented image.
  const swapped = (meta.orientation ?? 1) >= 5;
  return {
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
}

/** Over `limits.maxInputPixels` → 422, before anything is decoded. */
function checkInputPixels(width: number, frameHeight: number, pages: number, limits: LimitsConfig): void {
  const pixels = width * frameHeight * pages;
  if (pixels > limits.maxInputPixels) {
    throw new HttpError(422, 'ELIMIT', `The input is ${width}x${frameHeight}${pages > 1 ? ` x ${pages} frames` : ''} = ${pixels} pixels; the limit is ${limits.maxInputPixels} (limits.maxInputPixels)`);
  }
}

export interface RenderOptions {
  steps: TransformStep[];
  output: OutputOptions;
  format: ImageFormat;
  defaultQuality: number;
  limits: LimitsConfig;
}

export interface RenderResult {
  body: Buffer;
  width: number;
  height: number;
}

function open(bytes: Buffer, limits: LimitsConfig, animated: boolean): sharp.Sharp {
  return sharp(bytes, { limitInputPixels: limits.maxInputPixels, animated, failOn: 'error' });
}

/** Runs every step in order, then encodes. Decoding failures are a 422, never a crash. */
export async function renderImage(bytes: Buffer, input: InspectedInput, options: RenderOptions): Promise<RenderResult> {
  checkInputPixels(input.width, input.height, input.pages, options.limits);
  // An animation stays animated only into an animated format, and only when every step can
  // run on all frames; otherwise its first frame is rendered.
  const animated = input.animated && (options.format === 'gif' || options.format === 'webp') && supportsAnimation(options.steps);
  let state: ImageState = {
    image: open(bytes, options.limits, animated).autoOrient(),
    width: input.width,
    height: input.height,
    frames: animated ? input.pages : 1,
    hasAlpha: input.hasAlpha,
    animated,
    limits: options.limits,
    pending: 'none',
    materialised: false,
  };
  try {
    for (let i = 0; i < options.steps.length; i++) {
      if (i > 0) state = await materialise(state);
      for (const operation of STEP_OPERATIONS) state = await operation(state, options.steps[i]);
    }
    const encoded = await encode(state, bytes, options);
    const { data, info } = await encoded.toBuffer({ resolveWithObject: true });
    return { body: data, width: info.width, height: info.pageHeight ?? info.height };
  } catch (error) {
    if (error instanceof HttpError) throw error;
    throw new HttpError(422, 'EUNREADABLE', `The image could not be processed: ${shortSharpMessage(error)}`);
  }
}

function shortSharpMessage(error: unknown): string {
  return String((error as Error)?.message ?? error).split('\n')[0].slice(0, 200);
}

/**
 * `md-true` after the pixels were materialised: sharp keeps only the EXIF and XMP of a
 * pipeline's own input, so the result is drawn over a pipeline of the input cut to its first
 * pixel (no full decode, no resize of the input) and stretched to the result's size.
 */
async function onInputMetadata(result: sharp.Sharp, bytes: Buffer, limits: LimitsConfig): Promise<sharp.Sharp> {
  const { data, info } = await result.raw().toBuffer({ resolveWithObject: true });
  const image = open(bytes, limits, false)
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
 * Encodes the final image (spec section 3, output options). Pixels always end in sRGB; `cp`
 * attaches an sRGB profile; transparency is kept where the format has alpha, JPEG is flattened
 * on the last `bg` (white by default).
 */
async function encode(state: ImageState, bytes: Buffer, options: RenderOptions): Promise<sharp.Sharp> {
  const { output } = options;
  const quality = output.quality ?? options.defaultQuality;
  // sharp flattens before its geometry and effects, so whatever is pending is settled first.
  if (options.format === 'jpeg' && state.hasAlpha && state.pending !== 'none') state = await materialise(state);
  let image = state.image;
  if (options.format === 'jpeg') {
    const { r, g, b } = output.background ?? WHITE;
    image = image.flatten({ background: { r, g, b } });
  }
  if (output.keepMetadata) image = state.materialised ? await onInputMetadata(image, bytes, options.limits) : image.keepExif().keepXmp();
  if (output.keepColourProfile) image = image.withIccProfile('srgb');
  switch (options.format) {
    case 'jpeg':
      return image.jpeg({ quality, progressive: output.progressive ?? false });
    case 'png':
      return image.png({ progressive: output.progressive ?? false });
    case 'webp':
      return image.webp({ quality, lossless: output.lossless ?? false });
    case 'avif':
      return image.avif({ quality, lossless: output.lossless ?? false, effort: 2 });
    case 'gif':
      return image.gif();
  }
}
