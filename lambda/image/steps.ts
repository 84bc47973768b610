// The operations of one transformation step, in the fixed order of spec section 2: trim,
// crop/resize (with dpr), rotate, flip, effects, rounded corners, border. Each is a small
// function of the image state and the step; one that has nothing to do returns the state.
//
// sharp runs the operations of one pipeline in its own fixed order (resize, flip/flop, 90°
// turns, the cover crop, extend, then blur, recomb, sharpen, normalise, composite), so an
// operation joins the pipeline only where that order agrees with the spec's; otherwise it first
// settles the pipeline: the pixels so far are materialised and a new pipeline starts from them.

import sharp from 'sharp';
import type { LimitsConfig } from '../config';
import { badRequest } from '../errors';
import { TRANSPARENT, WHITE, type Colour } from '../request/colour';
import type { Dimension, Focus, TransformStep } from '../request/plan-types';
import { withinDeadline, type Deadline } from './deadline';

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

/** The later of two pending levels: what the pipeline holds after one more operation. */
function after(state: ImageState, pending: Pending): Pending {
  return PENDING_ORDER.indexOf(state.pending) > PENDING_ORDER.indexOf(pending) ? state.pending : pending;
}

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
}

export type StepOperation = (state: ImageState, step: TransformStep) => ImageState | Promise<ImageState>;

/** Materialises the pipeline so far, so the next operation sees real pixels and dimensions. */
export async function materialise(state: ImageState): Promise<ImageState> {
  if (state.animated) return { ...state, pending: 'none' }; // animated frames stay in one pipeline; sharp tracks page height
  const { data, info } = await withinDeadline(state.image, state.deadline).raw().toBuffer({ resolveWithObject: true });
  const channels = info.channels as 1 | 2 | 3 | 4;
  return {
    ...state,
    image: sharp(data, { raw: { width: info.width, height: info.height, channels } }),
    width: info.width,
    height: info.height,
    hasAlpha: channels === 4 || channels === 2,
    pending: 'none',
    materialised: true,
  };
}

/** Materialises unless what is pending is at most `joins`: what sharp runs before the next operation anyway. */
async function settle(state: ImageState, joins: Pending = 'none'): Promise<ImageState> {
  return PENDING_ORDER.indexOf(state.pending) > PENDING_ORDER.indexOf(joins) ? materialise(state) : state;
}

function resolveDimension(dimension: Dimension | undefined, inputSize: number, dpr: number): number | undefined {
  if (!dimension) return undefined;
  const size = 'px' in dimension ? dimension.px : dimension.fraction * inputSize;
  return Math.max(1, Math.round(size * dpr));
}

/** Checked with the size an operation will produce, before sharp does the work. */
function checkOutputSize(width: number, height: number, state: ImageState): void {
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

/** The canvas a rotation by `degrees` grows to: the rotated bounding box, rounded as libvips rounds it. */
export function rotatedBounds(width: number, height: number, degrees: number): { width: number; height: number } {
  const radians = (degrees * Math.PI) / 180;
  const cos = Math.abs(Math.cos(radians));
  const sin = Math.abs(Math.sin(radians));
  return { width: Math.round(width * cos + height * sin), height: Math.round(height * cos + width * sin) };
}

const sharpColour = (c: Colour) => ({ r: c.r, g: c.g, b: c.b, alpha: c.alpha });

/**
 * The box a step asks for, in pixels, and which sides were given. With `ar` and one side, the
 * other side follows the ratio; with `ar` alone, the box is the largest of that ratio in the input.
 */
export function requestedBox(step: TransformStep, width: number, height: number): { width?: number; height?: number } | undefined {
  const dpr = step.dpr ?? 1;
  let w = resolveDimension(step.width, width, dpr);
  let h = resolveDimension(step.height, height, dpr);
  const ratio = step.aspectRatio ? step.aspectRatio.width / step.aspectRatio.height : undefined;
  if (ratio !== undefined) {
    if (w !== undefined && h === undefined) h = Math.max(1, Math.round(w / ratio));
    else if (h !== undefined && w === undefined) w = Math.max(1, Math.round(h * ratio));
    else if (w === undefined && h === undefined) {
      if (width / height > ratio) {
        h = height;
        w = Math.max(1, Math.round(height * ratio));
      } else {
        w = width;
        h = Math.max(1, Math.round(width / ratio));
      }
    }
  }
  if (w === undefined && h === undefined) return undefined;
  return { width: w, height: h };
}

/** Target size of a resize given the strategy (spec section 3, crop strategies); `cover` crops to the box. */
export function resizeTarget(step: TransformStep, width: number, height: number): { width: number; height: number; cover: boolean } | undefined {
  const box = requestedBox(step, width, height);
  if (!box) return undefined;
  const strategy = step.crop ?? 'maintain_ratio';
  const scaled = (scale: number) => ({ width: Math.max(1, Math.round(width * scale)), height: Math.max(1, Math.round(height * scale)), cover: false });
  if (box.width === undefined || box.height === undefined) {
    // One side given: the other follows the aspect ratio; at_max and maintain_ratio_limit still never enlarge.
    const limited = strategy === 'at_max' || strategy === 'maintain_ratio_limit';
    const scale = box.width !== undefined ? box.width / width : box.height! / height;
    const target = scaled(limited ? Math.min(scale, 1) : scale);
    if (!limited) {
      if (box.width !== undefined) target.width = box.width;
      else target.height = box.height!;
    }
    return target;
  }
  switch (strategy) {
    case 'maintain_ratio':
      return { width: box.width, height: box.height, cover: true };
    case 'maintain_ratio_limit': {
      // Cover the box at a scale of at most 1; where the input is smaller than the box, that
      // side stays as it is (never padded), so the result is only cropped.
      const fill = scaled(Math.min(Math.max(box.width / width, box.height / height), 1));
      return { width: Math.min(box.width, fill.width), height: Math.min(box.height, fill.height), cover: true };
    }
    case 'force':
      return { width: box.width, height: box.height, cover: false };
    case 'at_max':
      return scaled(Math.min(box.width / width, box.height / height, 1));
    case 'at_max_enlarge':
      return scaled(Math.min(box.width / width, box.height / height));
    case 'at_least':
      return scaled(Math.max(box.width / width, box.height / height));
  }
}

const GRAVITY: Record<Exclude<Focus, 'auto' | 'face'>, string> = {
  center: 'centre',
  top: 'north',
  bottom: 'south',
  left: 'west',
  right: 'east',
  top_left: 'northwest',
  top_right: 'northeast',
  bottom_left: 'southwest',
  bottom_right: 'southeast',
};

/** sharp's `position` for a focus. `face` uses the saliency strategy: no face detector is bundled. */
function position(focus: Focus | undefined): string | number {
  if (focus === 'auto' || focus === 'face') return sharp.strategy.attention;
  return GRAVITY[focus ?? 'center'];
}

/** Where an image of `size` goes in `box` along one axis, for a focus: the offset of its start. */
function placement(focus: Focus | undefined, axis: 'x' | 'y', free: number): number {
  const name = focus ?? 'center';
  const start = axis === 'x' ? name.includes('left') : name.includes('top');
  const end = axis === 'x' ? name.includes('right') : name.includes('bottom');
  return start ? 0 : end ? free : Math.floor(free / 2);
}

/** Pads an image to the box; `fo-left` puts the image on the left, so all the padding on the right. */
function padTo(state: ImageState, image: sharp.Sharp, inner: { width: number; height: number }, box: { width: number; height: number }, focus: Focus | undefined, background: Colour): sharp.Sharp {
  const dx = box.width - inner.width;
  const dy = box.height - inner.height;
  if (dx <= 0 && dy <= 0) return image;
  const left = placement(focus, 'x', dx);
  const top = placement(focus, 'y', dy);
  const padded = background.alpha < 1 && !state.hasAlpha ? image.ensureAlpha() : image;
  return padded.extend({ left, right: dx - left, top, bottom: dy - top, background: sharpColour(background) });
}

/** sharp (libvips' rank filter) finds a border only in an image at least this many pixels on each side. */
export const MIN_TRIM_SIZE = 3;

export const trim: StepOperation = async (state, step) => {
  if (step.trim === undefined || state.animated) return state;
  const settled = await settle(state);
  // Too small to hold a border and a content: left as it is, not a 422.
  if (settled.width < MIN_TRIM_SIZE || settled.height < MIN_TRIM_SIZE) return settled;
  // The trimmed size is known only from the pixels.
  return materialise({ ...settled, image: settled.image.trim({ threshold: step.trim }), pending: 'final' });
};

/** Resize or crop, by the step's strategy or crop mode. */
export const cropAndResize: StepOperation = async (state, step) => {
  if (step.cropMode === 'extract' || step.cropMode === 'pad_extract') return extractRegion(state, step);
  if (step.cropMode === 'pad_resize') return padResize(state, step);
  const target = resizeTarget(step, state.width, state.height);
  if (!target) return state;
  checkOutputSize(target.width, target.height, state);
  if (target.width === state.width && target.height === state.height) return state;
  const settled = await settle(state);
  return {
    ...settled,
    image: settled.image.resize(target.width, target.height, target.cover ? { fit: 'cover', position: position(step.focus) } : { fit: 'fill' }),
    width: target.width,
    height: target.height,
    pending: target.cover ? 'geometry' : 'scale',
  };
};

/** `cm-pad_resize`: fit inside the box (no enlargement with `c-at_max`), pad the rest with `bg`. */
async function padResize(state: ImageState, step: TransformStep): Promise<ImageState> {
  const box = requestedBox(step, state.width, state.height) as { width: number; height: number };
  checkOutputSize(box.width, box.height, state);
  let scale = Math.min(box.width / state.width, box.height / state.height);
  if (step.crop === 'at_max') scale = Math.min(scale, 1);
  const inner = {
    width: Math.min(box.width, Math.max(1, Math.round(state.width * scale))),
    height: Math.min(box.height, Math.max(1, Math.round(state.height * scale))),
  };
  const settled = await settle(state);
  let image = settled.image;
  if (inner.width !== state.width || inner.height !== state.height) image = image.resize(inner.width, inner.height, { fit: 'fill' });
  const background = step.background ?? WHITE;
  image = padTo(settled, image, inner, box, step.focus, background);
  return { ...settled, image, width: box.width, height: box.height, ...withPadding(settled, background) };
}

/**
 * After padding: whether the image has alpha, and what is pending. Padding that adds an alpha
 * channel is `final`: sharp would run a later effect without premultiplying that alpha.
 */
function withPadding(state: ImageState, background: Colour): Pick<ImageState, 'hasAlpha' | 'pending'> {
  const addsAlpha = background.alpha < 1 && !state.hasAlpha;
  return { hasAlpha: state.hasAlpha || background.alpha < 1, pending: addsAlpha ? 'final' : after(state, 'geometry') };
}

/**
 * The centre of the most salient region of a box's shape, in input coordinates: sharp's
 * attention strategy crops a scaled copy, and the crop's centre is scaled back. (Cropping the
 * unscaled input in one pass, a cover resize with `withoutReduction`, holds the whole decoded
 * input in memory for the attention analysis: 3x the peak memory on a 100-megapixel input.)
 */
async function attentionCentre(state: ImageState, box: { width: number; height: number }): Promise<{ x: number; y: number }> {
  const scale = Math.max(box.width / state.width, box.height / state.height);
  const { info } = await withinDeadline(state.image.clone(), state.deadline)
    .resize(box.width, box.height, { fit: 'cover', position: sharp.strategy.attention })
    .raw()
    .toBuffer({ resolveWithObject: true });
  const left = Math.abs(info.cropOffsetLeft ?? 0);
  const top = Math.abs(info.cropOffsetTop ?? 0);
  return { x: (left + box.width / 2) / scale, y: (top + box.height / 2) / scale };
}

/** `cm-extract` / `cm-pad_extract`: a box cut out of the input without scaling. */
async function extractRegion(state: ImageState, step: TransformStep): Promise<ImageState> {
  const box = requestedBox(step, state.width, state.height) as { width: number; height: number };
  checkOutputSize(box.width, box.height, state);
  const settled = await settle(state);
  const pad = step.cropMode === 'pad_extract';
  const salient = step.focus === 'auto' || step.focus === 'face';
  const needsCentre = salient && (step.x === undefined || step.y === undefined) && step.xCenter === undefined && step.yCenter === undefined;
  const centre = needsCentre && box.width <= state.width && box.height <= state.height ? await attentionCentre(settled, box) : undefined;

  const axis = (name: 'x' | 'y') => {
    const size = name === 'x' ? state.width : state.height;
    const want = name === 'x' ? box.width : box.height;
    if (want > size && pad) return { offset: 0, length: size };
    const corner = name === 'x' ? step.x : step.y;
    const middle = name === 'x' ? step.xCenter : step.yCenter;
    let offset: number;
    if (corner !== undefined) offset = corner;
    else if (middle !== undefined) offset = middle - Math.floor(want / 2);
    else if (centre) offset = Math.min(Math.max(0, Math.round(centre[name] - want / 2)), size - want);
    else offset = placement(step.focus, name, size - want);
    if (offset < 0 || offset + want > size) {
      throw badRequest(`Invalid transformation: the ${box.width}x${box.height} region at ${name === 'x' ? 'x' : 'y'}=${offset} is outside the ${state.width}x${state.height} input${pad ? '' : ' (cm-pad_extract pads instead)'}`);
    }
    return { offset, length: want };
  };
  const x = axis('x');
  const y = axis('y');
  let image = settled.image;
  if (x.length !== state.width || y.length !== state.height) {
    image = image.extract({ left: x.offset, top: y.offset, width: x.length, height: y.length });
  }
  const background = step.background ?? WHITE;
  if (x.length < box.width || y.length < box.height) {
    image = padTo(settled, image, { width: x.length, height: y.length }, box, step.focus, background);
    return { ...settled, image, width: box.width, height: box.height, ...withPadding(settled, background) };
  }
  return { ...settled, image, width: box.width, height: box.height, pending: 'scale' };
}

/** Clockwise; right angles swap the sides, other angles grow the canvas and fill it with `bg` (transparent by default). */
export const rotate: StepOperation = async (state, step) => {
  if (step.rotate === undefined) return state;
  const angle = step.rotate;
  if (angle % 90 === 0) {
    // sharp turns after a plain resize or extract, as the spec does; before a cover crop or padding.
    const settled = await settle(state, 'scale');
    const swap = angle % 180 !== 0;
    return {
      ...settled,
      image: settled.image.rotate(angle),
      width: swap ? settled.height : settled.width,
      height: swap ? settled.width : settled.height,
      pending: after(settled, 'geometry'),
    };
  }
  // The grown canvas is checked before anything pending or the rotation itself is run.
  const bounds = rotatedBounds(state.width, state.height, angle);
  checkOutputSize(bounds.width, bounds.height, state);
  const settled = await settle(state);
  const background = step.background ?? TRANSPARENT;
  const image = background.alpha < 1 && !settled.hasAlpha ? settled.image.ensureAlpha() : settled.image;
  return materialise({ ...settled, image: image.rotate(angle, { background: sharpColour(background) }), pending: 'final' });
};

/** `fl-h` mirrors left-right, `fl-v` top-bottom. sharp mirrors after a plain resize or extract, as the spec does. */
export const flip: StepOperation = async (state, step) => {
  if (!step.flip) return state;
  const settled = await settle(state, 'scale');
  let image = settled.image;
  if (step.flip.includes('h')) image = image.flop();
  if (step.flip.includes('v')) image = image.flip();
  return { ...settled, image, pending: after(settled, 'geometry') };
};

const LUMA: [number, number, number] = [0.2126, 0.7152, 0.0722];

/**
 * Blur, greyscale, sharpen, contrast stretch, unsharp mask, in that order. sharp runs all of
 * them after the step's geometry, so they join its pipeline.
 */
export const effects: StepOperation = async (state, step) => {
  const { blur, grayscale, sharpen, contrast, unsharpMask } = step;
  if (blur === undefined && !grayscale && sharpen === undefined && !contrast && !unsharpMask) return state;
  let settled = await settle(state, 'geometry');
  let image = settled.image;
  // bl-n is a radius; sharp takes a sigma (sigma = 1 + radius / 2).
  if (blur !== undefined) image = image.blur(1 + blur / 2);
  // Rec. 709 luma into all three channels (not sharp's one-channel greyscale), so the image
  // stays sRGB and a later border or padding keeps its colour.
  if (grayscale) image = image.recomb([LUMA, LUMA, LUMA]);
  if (sharpen !== undefined) image = image.sharpen({ sigma: 0.5 + sharpen / 40 });
  if (contrast) image = image.normalise();
  if (unsharpMask) {
    // A pipeline has one sharpen, run before normalise: after either, the mask needs their result.
    if (sharpen !== undefined || contrast) {
      settled = await materialise({ ...settled, image, pending: 'final' });
      image = settled.image;
    }
    // Below the threshold nothing is sharpened (m1 = 0); above it, `amount` is the slope.
    image = image.sharpen({ sigma: unsharpMask.sigma, m1: 0, m2: unsharpMask.amount, x1: unsharpMask.threshold * 100 });
  }
  return { ...settled, image, pending: 'final' };
};

/** `r-<n>` / `r-max`: everything outside the rounded rectangle (or ellipse) becomes transparent. */
export const roundCorners: StepOperation = async (state, step) => {
  if (step.radius === undefined || state.animated) return state;
  const settled = await settle(state);
  const { width, height } = settled;
  const rx = step.radius === 'max' ? width / 2 : Math.min(step.radius, width / 2);
  const ry = step.radius === 'max' ? height / 2 : Math.min(step.radius, height / 2);
  const mask = Buffer.from(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}"><rect x="0" y="0" width="${width}" height="${height}" rx="${rx}" ry="${ry}" fill="#fff"/></svg>`);
  const image = settled.image.ensureAlpha().composite([{ input: mask, blend: 'dest-in' }]);
  return { ...settled, image, hasAlpha: true, pending: 'final' };
};

/** `b-<width>_<colour>`: a border around the result; it adds to the output size. */
export const border: StepOperation = async (state, step) => {
  if (!step.border || state.animated) return state;
  const { width: size, colour } = step.border;
  checkOutputSize(state.width + 2 * size, state.height + 2 * size, state);
  const settled = await settle(state);
  const image = colour.alpha < 1 && !settled.hasAlpha ? settled.image.ensureAlpha() : settled.image;
  return {
    ...settled,
    image: image.extend({ top: size, bottom: size, left: size, right: size, background: sharpColour(colour) }),
    width: settled.width + 2 * size,
    height: settled.height + 2 * size,
    hasAlpha: settled.hasAlpha || colour.alpha < 1,
    pending: 'final',
  };
};

/** Applied to every step, in this order (spec section 2). */
export const STEP_OPERATIONS: readonly StepOperation[] = [trim, cropAndResize, rotate, flip, effects, roundCorners, border];

/**
 * Whether every step can run on all frames of an animation in one sharp pipeline. Otherwise
 * the first frame is rendered (and documented as such). sharp turns and flips an animation
 * as one tall strip of frames, so `rt-180` and `fl-v` would also reverse the frame order.
 */
export function supportsAnimation(steps: readonly TransformStep[]): boolean {
  return steps.every(
    (step) =>
      step.trim === undefined &&
      step.cropMode === undefined &&
      step.focus !== 'auto' &&
      step.focus !== 'face' &&
      step.rotate === undefined &&
      (step.flip === undefined || step.flip === 'h') &&
      step.radius === undefined &&
      step.border === undefined,
  );
}
