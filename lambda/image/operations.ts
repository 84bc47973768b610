// The operations of one transformation step, in the fixed order of README "URL reference": trim,
// crop/resize (with dpr), rotate, flip, effects, rounded corners, border. Each is one entry:
// `apply`, a small function of the image state and the step (one that has nothing to do
// returns the state), and `animationSafe`, whether it can run on all frames of an animation.
// Sizes come from geometry.ts; settling and the output-size checks from state.ts.

import sharp from 'sharp';
import { badRequest } from '../errors';
import { TRANSPARENT, WHITE, type Colour } from '../request/colour';
import type { Focus, TransformStep } from '../request/plan-types';
import { withinDeadline } from './deadline';
import { drawLayers } from './layers';
import { cornerRadii, extractSpan, padding, padResizeInner, requestedBox, resizeTarget, rotatedBounds, spanFits, type Size } from './geometry';
import { after, checkOutputSize, materialise, settle, type ImageState } from './state';

export interface StepOperation {
  /** Applies the operation's part of the step to the image. */
  apply(state: ImageState, step: TransformStep): ImageState | Promise<ImageState>;
  /**
   * Whether this operation can run the step on all frames of an animation in one sharp
   * pipeline. sharp turns and flips an animation as one tall strip of frames, so `rt-180` and
   * `fl-v` would also reverse the frame order.
   */
  animationSafe(step: TransformStep): boolean;
}

const sharpColour = (c: Colour) => ({ r: c.r, g: c.g, b: c.b, alpha: c.alpha });

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

/** `fo-auto` and `fo-face`: the region is found in the pixels. */
function salient(focus: Focus | undefined): focus is 'auto' | 'face' {
  return focus === 'auto' || focus === 'face';
}

/** sharp's `position` for a focus. `face` uses the saliency strategy: no face detector is bundled. */
function position(focus: Focus | undefined): string | number {
  if (salient(focus)) return sharp.strategy.attention;
  return GRAVITY[focus ?? 'center'];
}

/** Pads an image to the box, placed by the focus. */
function padTo(state: ImageState, image: sharp.Sharp, inner: Size, box: Size, focus: Focus | undefined, background: Colour): sharp.Sharp {
  if (box.width <= inner.width && box.height <= inner.height) return image;
  const padded = background.alpha < 1 && !state.hasAlpha ? image.ensureAlpha() : image;
  return padded.extend({ ...padding(inner, box, focus), background: sharpColour(background) });
}

/**
 * After padding: whether the image has alpha, and what is pending. Padding that adds an alpha
 * channel is `final`: sharp would run a later effect without premultiplying that alpha.
 */
function withPadding(state: ImageState, background: Colour): Pick<ImageState, 'hasAlpha' | 'pending'> {
  const addsAlpha = background.alpha < 1 && !state.hasAlpha;
  return { hasAlpha: state.hasAlpha || background.alpha < 1, pending: addsAlpha ? 'final' : after(state, 'geometry') };
}

/** sharp (libvips' rank filter) finds a border only in an image at least this many pixels on each side. */
export const MIN_TRIM_SIZE = 3;

export const trim: StepOperation = {
  async apply(state, step) {
    if (step.trim === undefined || state.animated) return state;
    const settled = await settle(state);
    // Too small to hold a border and a content: left as it is, not a 422.
    if (settled.width < MIN_TRIM_SIZE || settled.height < MIN_TRIM_SIZE) return settled;
    // The trimmed size is known only from the pixels.
    return materialise({ ...settled, image: settled.image.trim({ threshold: step.trim }), pending: 'final' });
  },
  animationSafe: (step) => step.trim === undefined,
};

/** `cm-pad_resize`: fit inside the box (no enlargement with `c-at_max`), pad the rest with `bg`. */
async function padResize(state: ImageState, step: TransformStep): Promise<ImageState> {
  const box = requestedBox(step, state.width, state.height) as Size;
  checkOutputSize(box.width, box.height, state);
  const inner = padResizeInner(step, box, state.width, state.height);
  const settled = await settle(state);
  let image = settled.image;
  if (inner.width !== state.width || inner.height !== state.height) image = image.resize(inner.width, inner.height, { fit: 'fill' });
  const background = step.background ?? WHITE;
  image = padTo(settled, image, inner, box, step.focus, background);
  return { ...settled, image, width: box.width, height: box.height, ...withPadding(settled, background) };
}

/**
 * The centre of the most salient region of a box's shape, in input coordinates: sharp's
 * attention strategy crops a scaled copy, and the crop's centre is scaled back. (Cropping the
 * unscaled input in one pass, a cover resize with `withoutReduction`, holds the whole decoded
 * input in memory for the attention analysis: 3x the peak memory on a 100-megapixel input.)
 */
async function attentionCentre(state: ImageState, box: Size): Promise<{ x: number; y: number }> {
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
  const box = requestedBox(step, state.width, state.height) as Size;
  checkOutputSize(box.width, box.height, state);
  const settled = await settle(state);
  const needsCentre = salient(step.focus) && (step.x === undefined || step.y === undefined) && step.xCenter === undefined && step.yCenter === undefined;
  const centre = needsCentre && box.width <= state.width && box.height <= state.height ? await attentionCentre(settled, box) : undefined;

  const axis = (name: 'x' | 'y') => {
    const span = extractSpan(step, name, name === 'x' ? state.width : state.height, name === 'x' ? box.width : box.height, centre);
    if (!spanFits(span, name === 'x' ? state.width : state.height)) {
      // README "Decisions and details": cm-pad_extract pads a side the box is longer than, never a region placed past an edge.
      throw badRequest(
        `Invalid transformation: the ${box.width}x${box.height} region at ${name}=${span.offset} is outside the ${state.width}x${state.height} input; ` +
          'the region must lie within the input (cm-pad_extract pads only along a side where the box is larger than the input)',
      );
    }
    return span;
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

/** Resize or crop, by the step's strategy or crop mode. */
export const cropAndResize: StepOperation = {
  async apply(state, step) {
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
  },
  animationSafe: (step) => step.cropMode === undefined && !salient(step.focus),
};

/** Clockwise; right angles swap the sides, other angles grow the canvas and fill it with `bg` (transparent by default). */
export const rotate: StepOperation = {
  async apply(state, step) {
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
  },
  animationSafe: (step) => step.rotate === undefined,
};

/** `fl-h` mirrors left-right, `fl-v` top-bottom. sharp mirrors after a plain resize or extract, as the spec does. */
export const flip: StepOperation = {
  async apply(state, step) {
    if (!step.flip) return state;
    const settled = await settle(state, 'scale');
    let image = settled.image;
    if (step.flip.includes('h')) image = image.flop();
    if (step.flip.includes('v')) image = image.flip();
    return { ...settled, image, pending: after(settled, 'geometry') };
  },
  // A left-right mirror mirrors each frame in place; a top-bottom one reverses the frames.
  animationSafe: (step) => step.flip === undefined || step.flip === 'h',
};

const LUMA: [number, number, number] = [0.2126, 0.7152, 0.0722];

/**
 * Blur, greyscale, sharpen, contrast stretch, unsharp mask, in that order. sharp runs all of
 * them after the step's geometry, so they join its pipeline.
 */
export const effects: StepOperation = {
  async apply(state, step) {
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
  },
  animationSafe: () => true,
};

/** `r-<n>` / `r-max`: everything outside the rounded rectangle (or ellipse) becomes transparent. */
export const roundCorners: StepOperation = {
  async apply(state, step) {
    if (step.radius === undefined || state.animated) return state;
    const settled = await settle(state);
    const { width, height } = settled;
    const { rx, ry } = cornerRadii(step.radius, width, height);
    const mask = Buffer.from(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}"><rect x="0" y="0" width="${width}" height="${height}" rx="${rx}" ry="${ry}" fill="#fff"/></svg>`);
    const image = settled.image.ensureAlpha().composite([{ input: mask, blend: 'dest-in' }]);
    return { ...settled, image, hasAlpha: true, pending: 'final' };
  },
  animationSafe: (step) => step.radius === undefined,
};

/** `b-<width>_<colour>`: a border around the result; it adds to the output size. */
export const border: StepOperation = {
  async apply(state, step) {
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
  },
  animationSafe: (step) => step.border === undefined,
};

/** `l-image…l-end`, `l-text…l-end`: drawn over the step's result, in order (README "Layers"). First frame only. */
export const layers: StepOperation = {
  apply: (state, step) => (step.layers?.length ? drawLayers(state, step.layers, applyStep) : state),
  animationSafe: (step) => !step.layers?.length,
};

/** Applied to every step, in this order (README "URL reference"). A new operation is one more entry. */
export const STEP_OPERATIONS: readonly StepOperation[] = [trim, cropAndResize, rotate, flip, effects, roundCorners, border, layers];

/**
 * Whether every step can run on all frames of an animation in one sharp pipeline: every
 * operation says so for every step. Otherwise the first frame is rendered (and documented as such).
 */
export function supportsAnimation(steps: readonly TransformStep[]): boolean {
  return steps.every((step) => STEP_OPERATIONS.every((operation) => operation.animationSafe(step)));
}

/** Runs one step's operations in order. */
export async function applyStep(state: ImageState, step: TransformStep): Promise<ImageState> {
  for (const operation of STEP_OPERATIONS) state = await operation.apply(state, step);
  return state;
}
