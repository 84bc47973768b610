// Executes a request plan over sharp: inspect the input (limits first), then each step as an
// ordered list of small operations, then encode. Knows nothing of origins or HTTP.

import sharp from 'sharp';
import type { LimitsConfig } from '../config';
import { HttpError } from '../errors';
import type { OutputOptions, TransformStep } from '../request/plan';
import type { ImageFormat, InputDescription } from './format';
import { STEP_OPERATIONS, type ImageState } from './steps';

sharp.cache(false); // every request is a new image: libvips' operation cache only costs memory here
sharp.concurrency(0);

export interface InspectedInput extends InputDescription {
  width: number;
  height: number;
  pages: number;
}

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
  const pixels = meta.width * frameHeight * pages;
  if (pixels > limits.maxInputPixels) {
    throw new HttpError(422, 'ELIMIT', `The input is ${meta.width}x${frameHeight}${pages > 1 ? ` x ${pages} frames` : ''} = ${pixels} pixels; the limit is ${limits.maxInputPixels} (limits.maxInputPixels)`);
  }
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
  };
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

function open(input: Buffer | { data: Buffer; info: sharp.OutputInfo }, limits: LimitsConfig, animated: boolean): sharp.Sharp {
  if (Buffer.isBuffer(input)) {
    return sharp(input, { limitInputPixels: limits.maxInputPixels, animated, failOn: 'error' });
  }
  const { data, info } = input;
  return sharp(data, { raw: { width: info.width, height: info.height, channels: info.channels as 1 | 2 | 3 | 4 } });
}

/** Materialises the pipeline so far, so the next operation sees real dimensions. */
export async function materialise(state: ImageState): Promise<ImageState> {
  if (state.animated) return state; // animated frames stay in one pipeline; sharp tracks page height
  const { data, info } = await state.image.raw().toBuffer({ resolveWithObject: true });
  return { ...state, image: open({ data, info }, state.limits, false), width: info.width, height: info.height, hasAlpha: info.channels === 4 || info.channels === 2 };
}

/** Runs every step in order, then encodes. Decoding failures are a 422, never a crash. */
export async function renderImage(bytes: Buffer, input: InspectedInput, options: RenderOptions): Promise<RenderResult> {
  const animated = input.animated && (options.format === 'gif' || options.format === 'webp');
  let state: ImageState = {
    image: open(bytes, options.limits, animated).autoOrient(),
    width: input.width,
    height: input.height,
    hasAlpha: input.hasAlpha,
    animated,
    limits: options.limits,
  };
  try {
    for (let i = 0; i < options.steps.length; i++) {
      if (i > 0) state = await materialise(state);
      for (const operation of STEP_OPERATIONS) state = await operation(state, options.steps[i]);
    }
    const encoded = encode(state, options);
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

function encode(state: ImageState, options: RenderOptions): sharp.Sharp {
  const quality = options.output.quality ?? options.defaultQuality;
  const image = state.image;
  switch (options.format) {
    case 'jpeg':
      return image.flatten({ background: '#ffffff' }).jpeg({ quality });
    case 'png':
      return image.png();
    case 'webp':
      return image.webp({ quality });
    case 'avif':
      return image.avif({ quality, effort: 2 });
    case 'gif':
      return image.gif();
  }
}
