// The cost model (README, "Memory and time"): a request's peak memory and encoding time,
// estimated from the input's header and the plan before any pixel is decoded. The format is
// then one that fits the budget: a negotiated format steps down (AVIF → WebP → PNG or JPEG);
// an explicit one that does not fit is a 422 naming what would.

import { PROCESS_BASELINE_MB, renderBudgetMB, type LimitsConfig } from '../config';
import { limitExceeded } from '../errors';
import type { Layer, OutputOptions, TransformStep } from '../request/plan-types';
import { accepts, type FormatDecision, type ImageFormat } from './format';
import { requestedBox, resizeTarget, rotatedBounds, svgScale } from './geometry';
import { supportsAnimation } from './operations';
import { budgetText } from './svg-budget';

/** What the model reads from the input's header (pipeline.ts, inspectInput). */
export interface CostInput {
  /** sharp's format name: jpeg, png, webp, gif, heif, svg, tiff, ... */
  format: string;
  /** Upright size of one frame. */
  width: number;
  height: number;
  pages: number;
  animated: boolean;
  hasAlpha: boolean;
  channels: number;
  /** 1 for 8-bit samples, 2 for 16-bit, 4 for float. */
  bytesPerSample: number;
  /** Progressive JPEG or interlaced PNG: the decoder holds the whole image. */
  progressive: boolean;
  /** Size of the stored file. */
  bytes: number;
  /** The layer images' upright sizes, by path (README "Layers"). */
  layers?: ReadonlyMap<string, { width: number; height: number; format?: string }>;
}

/*
 * Coefficients measured with sharp 0.35.5 (libvips 8.18) on noise images, the worst case for
 * every codec: peak RSS (VmHWM) above the process's baseline per pixel, and wall time per
 * megapixel on a shared 2-core x86 machine, each rounded up. libvips ran one thread, sharp's
 * default on glibc Linux without jemalloc, as on Lambda; more threads hold more buffers.
 * README, "Memory and time"; `npm run bench` measures the worst allowed requests again.
 */

/** Node, sharp and the service before any image work (measured: 85-105 MiB). */
const BASE_MIB = PROCESS_BASELINE_MB;


interface EncoderCoefficients {
  /** Bytes per output pixel: [opaque, with alpha]. */
  bytesPerPixel: [number, number];
  /** Seconds per output megapixel: [opaque, with alpha]. */
  secondsPerMegapixel: [number, number];
}

/** The encoder's own memory (its buffers and the encoded result) and time, by format and mode. */
const ENCODERS: Record<string, EncoderCoefficients> = {
  jpeg: { bytesPerPixel: [7, 8], secondsPerMegapixel: [0.05, 0.05] }, // optimised Huffman tables: the whole image's coefficients are kept
  png: { bytesPerPixel: [4, 6], secondsPerMegapixel: [0.1, 0.15] }, // streamed; noise does not compress, so the result is the raw size
  'png-interlaced': { bytesPerPixel: [7, 10], secondsPerMegapixel: [0.1, 0.15] },
  webp: { bytesPerPixel: [8, 36], secondsPerMegapixel: [0.3, 1] },
  'webp-lossless': { bytesPerPixel: [34, 46], secondsPerMegapixel: [2, 2] },
  avif: { bytesPerPixel: [37, 56], secondsPerMegapixel: [1, 1.8] }, // effort 3, 4:2:0 (quality.ts): 0.94-0.97 / 1.3-1.6 CPU s per MP on noise
  'avif-lossless': { bytesPerPixel: [44, 60], secondsPerMegapixel: [1.4, 2.3] },
  gif: { bytesPerPixel: [14, 44], secondsPerMegapixel: [1.8, 5.5] },
};

/** q-auto's search: at most 6 JPEG encodes, decodes and SSIMs of a 65 536-pixel proxy (measured: 20-90 ms on a busy 2-core machine; rounded up). */
const AUTO_QUALITY_SEARCH_SECONDS = 0.1;

/** Bytes per input pixel the decoder holds: streaming decoders hold a few rows, the others the whole image. */
function decoderBytesPerPixel(input: CostInput): number {
  const raw = Math.max(3, input.channels) * input.bytesPerSample;
  switch (input.format) {
    case 'jpeg':
      return input.progressive ? 2 * raw : 0; // a progressive JPEG's coefficients, 16 bits each
    case 'png':
      return input.progressive ? raw + 1 : 1;
    case 'webp':
      return 9;
    case 'heif':
      return 14;
    case 'gif':
      return 5;
    default:
      return raw + 1; // TIFF, SVG and the rest: the whole image, decoded
  }
}

function encoderKey(format: ImageFormat, output: OutputOptions): string {
  if ((format === 'webp' || format === 'avif') && output.lossless) return `${format}-lossless`;
  if (format === 'png' && output.progressive) return 'png-interlaced';
  return format;
}

export interface CostEstimate {
  format: ImageFormat;
  /** Estimated peak resident memory of the whole process, in MiB. */
  memoryMiB: number;
  /** Estimated encoding time, in seconds. */
  encodeSeconds: number;
  /** Output size: one frame, and the frames encoded. */
  width: number;
  height: number;
  frames: number;
  /** The largest image held between operations, in pixels. */
  largestIntermediatePixels: number;
}

/**
 * Operations that read their source more than once or out of order (turns, vertical flips, a
 * contrast stretch's histogram, a blur, saliency): libvips then holds the decoded input whole.
 */
function readsSourceWhole(step: TransformStep): boolean {
  return step.rotate !== undefined || step.blur !== undefined || step.flip === 'v' || step.flip === 'h_v' || step.contrast === true || step.trim !== undefined || step.focus === 'auto' || step.focus === 'face';
}

/**
 * Bytes a layer holds while it is drawn, over what the image holds: an image layer's decoded
 * image, every image its own steps hold, its result and the part of it cut to the image (RGBA,
 * 4 bytes a pixel each); a text layer's coverage mask and RGBA box, from an upper bound of its
 * size (glyphs at most 0.7 em wide and 1.3 em high), 5 bytes a pixel.
 */
function layerBytes(layer: Layer, input: CostInput, width: number, height: number): number {
  if (layer.type === 'image') {
    // A solid colour layer is the size its first step names (the image's by default).
    const side = (dimension: TransformStep['width'], of: number) => (dimension && 'px' in dimension ? dimension.px : of);
    const canvas = layer.canvas ? { width: side(layer.steps[0]?.width, width), height: side(layer.steps[0]?.height, height) } : undefined;
    const source = input.layers?.get(layer.path);
    // An SVG layer is drawn at the size its first step asks for (svg.ts), not at its declared size.
    const drawn = source?.format === 'svg' ? svgScale(layer.steps[0], source.width, source.height) : 1;
    const size = canvas ?? (source ? { width: Math.max(1, Math.round(source.width * drawn)), height: Math.max(1, Math.round(source.height * drawn)) } : { width: input.width, height: input.height });
    const walk = walkSteps({ ...input, ...size, hasAlpha: true, layers: undefined }, layer.steps, false);
    const result = walk.width * walk.height;
    return (size.width * size.height + result + Math.min(result, width * height)) * 4 + walk.buffers.reduce((sum, bytes) => sum + (bytes / 3) * 4, 0);
  }
  const [top, right, bottom, left] = layer.padding;
  const textPixels = [...layer.text].length * Math.ceil(layer.fontSize * 0.7) * Math.ceil(layer.fontSize * 1.3);
  const boxPixels = textPixels + (left + right) * layer.fontSize * 1.3 + (top + bottom) * Math.max(layer.wrapWidth ?? 0, layer.fontSize);
  return textPixels * 5 + boxPixels * 4;
}

interface Walk {
  /** Bytes of each image materialised between operations, in order. */
  buffers: number[];
  /** Pixels of the largest of them. */
  largestHeld: number;
  width: number;
  height: number;
  alpha: boolean;
  /** The largest side and the most pixels (one frame) any operation produces. */
  largestSide: number;
  largestPixels: number;
}

/**
 * The images the pipeline holds in turn: each step's result is materialised (a raw buffer)
 * before the next step, and trim and free rotations materialise within a step; an animation
 * kept animated stays in one pipeline. Sizes follow the geometry the steps use; a trim is
 * assumed to remove nothing.
 */
function walkSteps(input: CostInput, steps: readonly TransformStep[], animated: boolean): Walk {
  let { width, height } = input;
  let alpha = input.hasAlpha;
  const buffers: number[] = [];
  let largestSide = Math.max(width, height);
  let largestPixels = width * height;
  let largestHeld = 0;
  const hold = () => {
    if (animated) return;
    buffers.push(width * height * (alpha ? 4 : 3));
    largestHeld = Math.max(largestHeld, width * height);
  };
  const grow = () => {
    largestSide = Math.max(largestSide, width, height);
    largestPixels = Math.max(largestPixels, width * height);
  };
  steps.forEach((step, index) => {
    if (step.trim !== undefined) hold();
    if (step.cropMode === 'pad_resize' || step.cropMode === 'extract' || step.cropMode === 'pad_extract') {
      const box = requestedBox(step, width, height);
      if (box?.width !== undefined && box.height !== undefined) {
        if (step.cropMode !== 'extract' && (step.background?.alpha ?? 1) < 1) alpha = true;
        ({ width, height } = box as { width: number; height: number });
      }
    } else {
      const target = resizeTarget(step, width, height);
      if (target) ({ width, height } = target);
    }
    grow();
    if (step.rotate !== undefined) {
      if (step.rotate % 180 === 90) [width, height] = [height, width];
      else if (step.rotate % 90 !== 0) {
        ({ width, height } = rotatedBounds(width, height, step.rotate));
        grow();
        if ((step.background?.alpha ?? 0) < 1) alpha = true;
        hold();
      }
    }
    // An unsharp mask after a sharpen or a contrast stretch needs their result first.
    if (step.unsharpMask && (step.sharpen !== undefined || step.contrast)) hold();
    if (step.radius !== undefined) alpha = true;
    if (step.border) {
      width += 2 * step.border.width;
      height += 2 * step.border.width;
      if (step.border.colour.alpha < 1) alpha = true;
      grow();
    }
    if (step.layers?.length) {
      // The result so far is materialised, then held with every layer of the step while they are composited.
      hold();
      buffers.push(step.layers.reduce((sum, layer) => sum + layerBytes(layer, input, width, height), 0));
    }
    if (index < steps.length - 1) hold();
  });
  return { buffers, largestHeld, width, height, alpha, largestSide, largestPixels };
}

/** The estimate for one format; pure, no pixels. */
export function estimateCost(input: CostInput, steps: readonly TransformStep[], output: OutputOptions, format: ImageFormat): CostEstimate {
  const animated = input.animated && (format === 'gif' || format === 'webp') && supportsAnimation(steps);
  const frames = animated ? input.pages : 1;
  const walk = walkSteps(input, steps, animated);
  const alpha = walk.alpha && format !== 'jpeg';
  const outputPixels = walk.width * walk.height * frames;
  const buffers = [...walk.buffers];
  // JPEG with alpha flattens after the pending work is settled; md-true after materialising
  // draws the result over the input: one more raw copy of the result each.
  if ((format === 'jpeg' && walk.alpha && steps.length > 0) || (output.keepMetadata && buffers.length > 0)) {
    buffers.push(outputPixels * (walk.alpha ? 4 : 3));
  }
  // q-auto materialises the result once to search its quality (auto-quality.ts): one more raw copy.
  const searched = output.autoQuality !== undefined && !animated && (format === 'jpeg' || ((format === 'webp' || format === 'avif') && !output.lossless));
  if (searched) buffers.push(outputPixels * (walk.alpha ? 4 : 3));
  const coefficients = ENCODERS[encoderKey(format, output)];
  const rawBytesPerPixel = Math.max(3, input.channels) * input.bytesPerSample;
  const decoderBytes = steps.length > 0 && readsSourceWhole(steps[0]) ? Math.max(decoderBytesPerPixel(input), rawBytesPerPixel) : decoderBytesPerPixel(input);
  // Animations are decoded and encoded a frame at a time: the codecs hold a frame each, plus
  // about 4 bytes a pixel over all frames (measured: canvases, the growing result); still
  // images are held whole.
  const framePixels = input.width * input.height;
  const decoded = framePixels * decoderBytes + (animated ? 4 * framePixels * frames : 0);
  const encoderBytesPerPixel = coefficients.bytesPerPixel[alpha ? 1 : 0];
  const encoded = animated ? walk.width * walk.height * encoderBytesPerPixel + 4 * outputPixels : outputPixels * encoderBytesPerPixel;
  const held = [decoded, ...buffers, encoded];
  // A pipeline holds its source and its result; the two buffers before its source may not be
  // collected yet (measured: a 3-step chain with a free rotation). The peak is the worst four neighbours.
  let pixelsBytes = 0;
  for (let i = 0; i < held.length; i++) pixelsBytes = Math.max(pixelsBytes, held.slice(Math.max(0, i - 3), i + 1).reduce((sum, bytes) => sum + bytes, 0));
  return {
    format,
    memoryMiB: BASE_MIB + (input.bytes + pixelsBytes) / 2 ** 20,
    encodeSeconds: (outputPixels / 1e6) * coefficients.secondsPerMegapixel[alpha ? 1 : 0] + (searched ? AUTO_QUALITY_SEARCH_SECONDS : 0),
    width: walk.width,
    height: walk.height,
    frames,
    largestIntermediatePixels: walk.largestHeld,
  };
}

/**
 * Over `limits.maxInputPixels`, or an operation over `maxOutputDimension` / `maxOutputPixels`,
 * with frames counted as the pipeline counts them: all of them only when the output in `format`
 * stays animated, else the first frame alone (which the pipeline then renders).
 */
export function overPixelLimits(input: CostInput, steps: readonly TransformStep[], limits: LimitsConfig, format: ImageFormat): boolean {
  const keptAnimated = input.animated && (format === 'gif' || format === 'webp') && supportsAnimation(steps);
  const frames = keptAnimated ? input.pages : 1;
  const walk = walkSteps(input, steps, keptAnimated);
  return input.width * input.height * input.pages > limits.maxInputPixels || walk.largestSide > limits.maxOutputDimension || walk.largestPixels * frames > limits.maxOutputPixels;
}

/** Why an estimate is over the limits, or undefined when it fits. */
function overLimits(estimate: CostEstimate, limits: LimitsConfig): string | undefined {
  const size = `${estimate.width}x${estimate.height}${estimate.frames > 1 ? ` x ${estimate.frames} frames` : ''}`;
  const name = estimate.format.toUpperCase();
  if (estimate.format === 'avif' && estimate.width * estimate.height * estimate.frames > limits.maxAvifPixels) {
    return `${name} output of ${size} is over ${limits.maxAvifPixels} pixels (limits.maxAvifPixels)`;
  }
  if (estimate.memoryMiB > renderBudgetMB(limits)) {
    const intermediate = estimate.largestIntermediatePixels > estimate.width * estimate.height * estimate.frames ? ` (with intermediate images of ${estimate.largestIntermediatePixels} pixels)` : '';
    return `${name} output of ${size}${intermediate} would need about ${Math.ceil(estimate.memoryMiB)} MB at peak; ${budgetText(limits)}`;
  }
  if (estimate.encodeSeconds > limits.maxEncodeSeconds) {
    return `${name} output of ${size} would take about ${Math.ceil(estimate.encodeSeconds)} s to encode; the limit is ${limits.maxEncodeSeconds} s (limits.maxEncodeSeconds)`;
  }
  return undefined;
}

export interface AffordableFormatRequest {
  input: CostInput;
  steps: readonly TransformStep[];
  output: OutputOptions;
  /** What chooseFormat decided (never `svg`). */
  decision: FormatDecision & { format: ImageFormat };
  accept?: string;
  limits: LimitsConfig;
}

/**
 * The formats a negotiated one steps down to, best first: WebP when the client takes it, then
 * PNG (with alpha) or JPEG.
 */
function candidates(request: AffordableFormatRequest, alpha: boolean): ImageFormat[] {
  const wanted = request.decision.format;
  const list: ImageFormat[] = [wanted];
  if ((wanted === 'avif' || wanted === 'gif') && accepts(request.accept, 'image/webp')) list.push('webp');
  // An animation is never flattened to its first frame behind the client's back.
  if (!(request.input.animated && supportsAnimation(request.steps))) list.push(alpha ? 'png' : 'jpeg');
  return [...new Set(list)];
}

/**
 * The output format that keeps the request within `limits.memoryBudgetMB` (less the cache of originals),
 * `limits.maxEncodeSeconds` and `limits.maxAvifPixels`. Negotiated formats step down silently
 * (the response still varies on Accept); an explicit format over them, or a request no
 * format can afford (a chain's intermediate images too), is a 422 that says why.
 */
export function affordableFormat(request: AffordableFormatRequest): ImageFormat {
  const { input, steps, output, decision, limits } = request;
  // Over the plain pixel limits, the pipeline answers with their own messages before any work.
  if (overPixelLimits(input, steps, limits, decision.format)) return decision.format;
  const firstProblem = overLimits(estimateCost(input, steps, output, decision.format), limits);
  if (!firstProblem) return decision.format;
  const { alpha } = walkSteps(input, steps, false);
  const affordable = (format: ImageFormat) => !overLimits(estimateCost(input, steps, output, format), limits);
  if (decision.negotiated) {
    const fallback = candidates(request, alpha).slice(1).find(affordable);
    if (fallback) return fallback;
  }
  // What would fit instead, so the message says what to ask for.
  const other = (['webp', alpha ? 'png' : 'jpeg'] as ImageFormat[]).find((format) => format !== decision.format && affordable(format));
  const hint = other ? `; f-${other === 'jpeg' ? 'jpg' : other} fits` : '; a smaller size or a shorter chain would fit';
  // Not cached: the answer depends on the configured budgets, which may be raised.
  throw limitExceeded(`This request is over the cost limits: the ${firstProblem}${hint}`, true);
}
