// The geometry of one transformation step, in pixels and without pixels: the box a step asks
// for, the size a resize gives, where an image goes in a larger box, the region a crop cuts and
// the canvas a rotation grows to. Pure; the operations (operations.ts) and the cost model
// (cost.ts) size their work with it before anything is decoded.

import type { Dimension, Focus, TransformStep } from '../request/plan-types';

export interface Size {
  width: number;
  height: number;
}

/** Which sides a step gave; with `ar`, the missing one is filled in. */
export interface RequestedBox {
  width?: number;
  height?: number;
}

/** The size of a resize, and whether it is a cover crop to that box (`fit: cover`) or a plain scale. */
export interface ResizeTarget extends Size {
  cover: boolean;
}

function resolveDimension(dimension: Dimension | undefined, inputSize: number, dpr: number): number | undefined {
  if (!dimension) return undefined;
  const size = 'px' in dimension ? dimension.px : dimension.fraction * inputSize;
  return Math.max(1, Math.round(size * dpr));
}

/**
 * The box a step asks for, in pixels, and which sides were given. With `ar` and one side, the
 * other side follows the ratio; with `ar` alone, the box is the largest of that ratio in the input.
 */
export function requestedBox(step: TransformStep, width: number, height: number): RequestedBox | undefined {
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

/** Target size of a resize given the strategy (README "Parameters"); `cover` crops to the box. */
export function resizeTarget(step: TransformStep, width: number, height: number): ResizeTarget | undefined {
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

/** `cm-pad_resize`: the scale that fits the input inside the box; never above 1 with `c-at_max`. */
export function padResizeScale(step: TransformStep, box: Size, width: number, height: number): number {
  const fit = Math.min(box.width / width, box.height / height);
  return step.crop === 'at_max' ? Math.min(fit, 1) : fit;
}

/** `cm-pad_resize`: the size the input is scaled to inside the box, before the padding. */
export function padResizeInner(step: TransformStep, box: Size, width: number, height: number): Size {
  const scale = padResizeScale(step, box, width, height);
  return {
    width: Math.min(box.width, Math.max(1, Math.round(width * scale))),
    height: Math.min(box.height, Math.max(1, Math.round(height * scale))),
  };
}

/** Where an image goes along one axis of a larger box, for a focus: the offset of its start, given the free length. */
export function placement(focus: Focus | undefined, axis: 'x' | 'y', free: number): number {
  const name = focus ?? 'center';
  const start = axis === 'x' ? name.includes('left') : name.includes('top');
  const end = axis === 'x' ? name.includes('right') : name.includes('bottom');
  return start ? 0 : end ? free : Math.floor(free / 2);
}

/** The padding that puts `inner` in `box` by the focus; `fo-left` puts the image on the left, so all the padding on the right. */
export function padding(inner: Size, box: Size, focus: Focus | undefined): { left: number; right: number; top: number; bottom: number } {
  const dx = Math.max(0, box.width - inner.width);
  const dy = Math.max(0, box.height - inner.height);
  const left = placement(focus, 'x', dx);
  const top = placement(focus, 'y', dy);
  return { left, right: dx - left, top, bottom: dy - top };
}

/** One axis of a region cut out of the input: where it starts and how long it is. */
export interface Span {
  offset: number;
  length: number;
}

/**
 * `cm-extract` / `cm-pad_extract` along one axis: the span of the input the region covers. The
 * offset comes from `x`/`y` (the corner), else `xc`/`yc` (the middle), else the salient centre
 * when one was found, else the focus. With `cm-pad_extract`, a region longer than the input
 * takes all of it (the rest is padding). The span may fall outside the input: the caller refuses it.
 */
export function extractSpan(step: TransformStep, axis: 'x' | 'y', size: number, want: number, salientCentre?: { x: number; y: number }): Span {
  if (want > size && step.cropMode === 'pad_extract') return { offset: 0, length: size };
  const corner = axis === 'x' ? step.x : step.y;
  const middle = axis === 'x' ? step.xCenter : step.yCenter;
  let offset: number;
  if (corner !== undefined) offset = corner;
  else if (middle !== undefined) offset = middle - Math.floor(want / 2);
  else if (salientCentre) offset = Math.min(Math.max(0, Math.round(salientCentre[axis] - want / 2)), size - want);
  else offset = placement(step.focus, axis, size - want);
  return { offset, length: want };
}

/** Whether a span lies within an axis of `size` pixels. */
export function spanFits(span: Span, size: number): boolean {
  return span.offset >= 0 && span.offset + span.length <= size;
}

/** The canvas a rotation by `degrees` grows to: the rotated bounding box, rounded as libvips rounds it. */
export function rotatedBounds(width: number, height: number, degrees: number): Size {
  const radians = (degrees * Math.PI) / 180;
  const cos = Math.abs(Math.cos(radians));
  const sin = Math.abs(Math.sin(radians));
  return { width: Math.round(width * cos + height * sin), height: Math.round(height * cos + width * sin) };
}

/** `r-<n>` / `r-max`: the corner radii on each axis, at most half the side (`max` makes an ellipse). */
export function cornerRadii(radius: number | 'max', width: number, height: number): { rx: number; ry: number } {
  return {
    rx: radius === 'max' ? width / 2 : Math.min(radius, width / 2),
    ry: radius === 'max' ? height / 2 : Math.min(radius, height / 2),
  };
}

/**
 * The scale the first step asks of an SVG's declared size, as sharp would draw it: the size of
 * the first resize. 1 (the declared size) when the step measures anything in the input's own
 * pixels (fractions, trim, regions), so those keep their meaning.
 */
export function svgScale(step: TransformStep | undefined, width: number, height: number): number {
  if (!step || step.trim !== undefined || step.cropMode === 'extract' || step.cropMode === 'pad_extract') return 1;
  if ((step.width && 'fraction' in step.width) || (step.height && 'fraction' in step.height)) return 1;
  if (step.cropMode === 'pad_resize') {
    const box = requestedBox(step, width, height);
    if (box?.width === undefined || box.height === undefined) return 1;
    return padResizeScale(step, { width: box.width, height: box.height }, width, height);
  }
  const target = resizeTarget(step, width, height);
  return target ? Math.max(target.width / width, target.height / height) : 1;
}
