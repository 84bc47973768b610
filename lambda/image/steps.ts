// The operations of one transformation step, in the fixed order of spec section 2. Each is a
// small function of the image state and the step; one that has nothing to do returns the state.

import type sharp from 'sharp';
import type { LimitsConfig } from '../config';
import { badRequest } from '../errors';
import type { Dimension, TransformStep } from '../request/plan';

export interface ImageState {
  image: sharp.Sharp;
  /** Dimensions of the image as the pipeline stands (one frame, for animations). */
  width: number;
  height: number;
  hasAlpha: boolean;
  animated: boolean;
  limits: LimitsConfig;
}

export type StepOperation = (state: ImageState, step: TransformStep) => ImageState | Promise<ImageState>;

function resolveDimension(dimension: Dimension | undefined, inputSize: number): number | undefined {
  if (!dimension) return undefined;
  return 'px' in dimension ? dimension.px : Math.max(1, Math.round(dimension.fraction * inputSize));
}

function checkOutputSize(width: number, height: number, limits: LimitsConfig): void {
  const max = limits.maxOutputDimension;
  if (width > max || height > max) {
    throw badRequest(`Invalid transformation: the output would be ${width}x${height}; the limit is ${max} per side (limits.maxOutputDimension)`);
  }
}

/** Target size of a resize, before any crop, given the strategy (spec section 3, crop strategies). */
export function resizeTarget(step: TransformStep, width: number, height: number): { width: number; height: number; fit: keyof sharp.FitEnum } | undefined {
  const w = resolveDimension(step.width, width);
  const h = resolveDimension(step.height, height);
  if (w === undefined && h === undefined) return undefined;
  if (w === undefined || h === undefined) {
    // One side given: the other follows the aspect ratio.
    return w !== undefined
      ? { width: w, height: Math.max(1, Math.round((height * w) / width)), fit: 'fill' }
      : { width: Math.max(1, Math.round((width * h!) / height)), height: h!, fit: 'fill' };
  }
  switch (step.crop ?? 'maintain_ratio') {
    case 'maintain_ratio':
      return { width: w, height: h, fit: 'cover' };
    case 'force':
      return { width: w, height: h, fit: 'fill' };
    case 'at_max':
    case 'at_max_enlarge': {
      let scale = Math.min(w / width, h / height);
      if (step.crop === 'at_max') scale = Math.min(scale, 1);
      return { width: Math.max(1, Math.round(width * scale)), height: Math.max(1, Math.round(height * scale)), fit: 'fill' };
    }
    case 'at_least': {
      const scale = Math.max(w / width, h / height);
      return { width: Math.max(1, Math.round(width * scale)), height: Math.max(1, Math.round(height * scale)), fit: 'fill' };
    }
  }
}

export const resize: StepOperation = (state, step) => {
  const target = resizeTarget(step, state.width, state.height);
  if (!target) return state;
  checkOutputSize(target.width, target.height, state.limits);
  if (target.width === state.width && target.height === state.height) return state;
  return {
    ...state,
    image: state.image.resize(target.width, target.height, { fit: target.fit, position: 'centre' }),
    width: target.width,
    height: target.height,
  };
};

/** Applied to every step, in this order. */
export const STEP_OPERATIONS: readonly StepOperation[] = [resize];
