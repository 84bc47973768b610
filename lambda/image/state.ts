// The image as the pipeline stands between operations: the sharp pipeline, its size, and what
// sharp has still to run. sharp runs the operations of one pipeline in its own fixed order
// (resize, flip/flop, 90° turns, the cover crop, extend, then blur, recomb, sharpen, normalise,
// composite), so an operation joins the pipeline only where that order agrees with the spec's;
// otherwise it first settles the pipeline: the pixels so far are materialised (within the
// request's deadline) and a new pipeline starts from them.

import sharp from 'sharp';
import type { LimitsConfig } from '../config';
import { badRequest } from '../errors';
import { withinDeadline, type Deadline } from './deadline';
import type { LayerAssets } from './layer-assets';

/**
 * What the pipeline holds that sharp has not run yet, as far as a later operation cares:
 * - `none`: nothing;
 * - `scale`: a plain resize or extract, which sharp runs before a mirror, a 90° turn or an effect;
 * - `geometry`: a cover crop, padding, a turn or a mirror, which sharp runs before an effect
 *   but not (or not the same way) before a mirror or a turn;
 * - `final`: anything else; every later operation settles first.
 */
export type Pending = 'none' | 'scale' | 'geometry' | 'final';
const PENDING_ORDER: readonly Pending[] = ['none', 'scale', 'geometry', 'final'];

export interface ImageState {
  image: sharp.Sharp;
  /** Dimensions of the image as the pipeline stands (one frame, for animations). */
  width: number;
  height: number;
  /** Frames rendered: the input's pages for an animation kept animated, else 1. */
  frames: number;
  hasAlpha: boolean;
  animated: boolean;
  limits: LimitsConfig;
  /** What sharp has still to run in `image`. */
  pending: Pending;
  /** True once the pixels were materialised: the input's metadata is no longer in the pipeline. */
  materialised: boolean;
  /** Bounds every pipeline run for this request. */
  deadline?: Deadline;
  /** The layer images and fonts the plan's layers use (README "Layers"). */
  layerAssets?: LayerAssets;
}

/** The later of two pending levels: what the pipeline holds after one more operation. */
export function after(state: ImageState, pending: Pending): Pending {
  return PENDING_ORDER.indexOf(state.pending) > PENDING_ORDER.indexOf(pending) ? state.pending : pending;
}

/** Runs a pipeline to raw pixels within the deadline, and starts a new pipeline from them. */
export async function rawPixels(image: sharp.Sharp, deadline: Deadline | undefined): Promise<Pick<ImageState, 'image' | 'width' | 'height' | 'hasAlpha'>> {
  const { data, info } = await withinDeadline(image, deadline).raw().toBuffer({ resolveWithObject: true });
  const channels = info.channels as 1 | 2 | 3 | 4;
  return {
    image: sharp(data, { raw: { width: info.width, height: info.height, channels } }),
    width: info.width,
    height: info.height,
    hasAlpha: channels === 4 || channels === 2,
  };
}

/** Materialises the pipeline so far, so the next operation sees real pixels and dimensions. */
export async function materialise(state: ImageState): Promise<ImageState> {
  if (state.animated) return { ...state, pending: 'none' }; // animated frames stay in one pipeline; sharp tracks page height
  return { ...state, ...(await rawPixels(state.image, state.deadline)), pending: 'none', materialised: true };
}

/** Materialises unless what is pending is at most `joins`: what sharp runs before the next operation anyway. */
export async function settle(state: ImageState, joins: Pending = 'none'): Promise<ImageState> {
  return PENDING_ORDER.indexOf(state.pending) > PENDING_ORDER.indexOf(joins) ? materialise(state) : state;
}

/** Checked with the size an operation will produce, before sharp does the work. */
export function checkOutputSize(width: number, height: number, state: ImageState): void {
  const { maxOutputDimension, maxOutputPixels } = state.limits;
  if (width > maxOutputDimension || height > maxOutputDimension) {
    throw badRequest(`Invalid transformation: the output would be ${width}x${height}; the limit is ${maxOutputDimension} per side (limits.maxOutputDimension)`);
  }
  const pixels = width * height * state.frames;
  if (pixels > maxOutputPixels) {
    const frames = state.frames > 1 ? ` x ${state.frames} frames` : '';
    throw badRequest(`Invalid transformation: the output would be ${width}x${height}${frames} = ${pixels} pixels; the limit is ${maxOutputPixels} (limits.maxOutputPixels)`);
  }
}
