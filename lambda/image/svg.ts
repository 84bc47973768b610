// SVG rasterisation, bounded on its own. An SVG has no stored pixels: it is drawn at a density,
// and sharp would pick that density from the first resize (`w-4000` on a 1000×1000 SVG draws
// 4000×4000) past every input limit. So the density is chosen here, the size it gives is checked
// against `limits.maxSvgPixels`, and the drawing runs once, within the deadline; every step then
// works on those pixels.

import sharp from 'sharp';
import type { LimitsConfig } from '../config';
import { limitExceeded } from '../errors';
import { checkSvgFilters } from './svg-budget';
import { checkEmbeddedPixels, svgEmbeds } from './svg-embeds';
import type { TransformStep } from '../request/plan-types';
import type { Deadline } from './deadline';
import { svgScale } from './geometry';
import { rawPixels, type ImageState } from './state';

/** librsvg draws at 72 dpi by default: the declared size. */
const BASE_DENSITY = 72;

/** Draws the SVG at the density its first step needs, after checking the size against `limits.maxSvgPixels`. */
export async function rasteriseSvg(
  bytes: Buffer,
  declared: { width: number; height: number },
  firstStep: TransformStep | undefined,
  limits: LimitsConfig,
  deadline: Deadline | undefined,
): Promise<ImageState> {
  const density = Math.min(100_000, Math.max(1, BASE_DENSITY * svgScale(firstStep, declared.width, declared.height)));
  const scale = density / BASE_DENSITY;
  const width = Math.max(1, Math.round(declared.width * scale));
  const height = Math.max(1, Math.round(declared.height * scale));
  // Within maxInputPixels too, should an operator set that one lower.
  const [limit, setting] = limits.maxSvgPixels <= limits.maxInputPixels ? [limits.maxSvgPixels, 'limits.maxSvgPixels'] : [limits.maxInputPixels, 'limits.maxInputPixels'];
  if (width * height > limit) {
    const at = scale === 1 ? '' : ` (declared ${declared.width}x${declared.height}, drawn ${scale > 1 ? 'larger' : 'smaller'} for the requested size)`;
    // Not cached: the answer depends on a limit an operator may raise.
    throw limitExceeded(`The SVG would be drawn at ${width}x${height} = ${width * height} pixels${at}; the limit is ${limit} (${setting})`, true);
  }
  // What it embeds is decoded whole whatever the drawn size: counted as an input, and with its
  // filters held to the memory budget (a layer's SVG meets these checks here only).
  const embeds = await svgEmbeds(bytes, limits);
  checkEmbeddedPixels(embeds, limits);
  checkSvgFilters(bytes, width * height, limits, embeds);
  // sharp's own pixel check guards the drawing too, with room for the loader's rounding.
  const limitInputPixels = (Math.ceil(declared.width * scale) + 1) * (Math.ceil(declared.height * scale) + 1);
  const drawing = sharp(bytes, { density, limitInputPixels, failOn: 'error' });
  return {
    ...(await rawPixels(drawing, deadline)),
    frames: 1,
    animated: false,
    limits,
    pending: 'none',
    materialised: true,
    deadline,
  };
}
