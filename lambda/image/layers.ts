// Layers (README "Layers"): each layer is drawn to RGBA pixels (an image layer through its own
// steps, a text layer by Pango), its opacity multiplied into its alpha, cut to the part that falls
// on the image, and composited over (or, for an underlay, under) the step's result.

import sharp from 'sharp';
import { badRequest, type HttpError } from '../errors';
import { TRANSPARENT, type Colour } from '../request/colour';
import type { Dimension, ImageLayer, Layer, LayerPlacement, TextLayer, TransformStep } from '../request/plan-types';
import { withinDeadline } from './deadline';
import { faceFor } from './fonts';
import { materialise, settle, type ImageState } from './state';
import { rasteriseSvg } from './svg';

/** A layer's pixels: straight (not premultiplied) RGBA. */
interface Pixels {
  data: Buffer;
  width: number;
  height: number;
}

type ApplyStep = (state: ImageState, step: TransformStep) => Promise<ImageState>;

/** The side of a solid colour layer: pixels, a share of the image's side, or the image's side. */
function canvasSide(dimension: Dimension | undefined, side: number): number {
  if (!dimension) return side;
  return 'px' in dimension ? dimension.px : Math.max(1, Math.round(dimension.fraction * side));
}

/** `i-ik_canvas`: a block of the first step's `bg`, `w`×`h`; the rest of its steps run on it. */
async function canvasPixels(layer: ImageLayer, state: ImageState, applyStep: ApplyStep): Promise<Pixels> {
  const [{ width, height, background, ...rest }, ...later] = layer.steps;
  const size = { width: canvasSide(width, state.width), height: canvasSide(height, state.height) };
  checkLayerSize('a solid colour layer', size.width, size.height, state);
  let layerState: ImageState = {
    ...state,
    image: sharp({ create: { ...size, channels: 4, background: sharpColour(background ?? TRANSPARENT) } }),
    ...size,
    frames: 1,
    hasAlpha: true,
    animated: false,
    pending: 'none',
  };
  for (const step of [rest, ...later]) layerState = await applyStep(await materialise(layerState), step);
  return rgba(layerState.image, state);
}

/** Runs an image layer's own steps on its image (first frame only), as the pipeline runs a chain. */
async function imageLayerPixels(layer: ImageLayer, state: ImageState, applyStep: ApplyStep): Promise<Pixels> {
  if (layer.canvas) return canvasPixels(layer, state, applyStep);
  const source = state.layerAssets?.images.get(layer.path);
  if (!source) throw new Error(`layer image "${layer.path}" was not read`); // the service reads every one before the render
  const { bytes, input } = source;
  let layerState: ImageState =
    input.format === 'svg'
      ? await rasteriseSvg(bytes, input, layer.steps[0], state.limits, state.deadline)
      : {
          image: sharp(bytes, { limitInputPixels: state.limits.maxInputPixels, failOn: 'error' }).autoOrient(),
          width: input.width,
          height: input.height,
          frames: 1,
          hasAlpha: input.hasAlpha,
          animated: false,
          limits: state.limits,
          pending: 'none',
          materialised: false,
          deadline: state.deadline,
        };
  for (let i = 0; i < layer.steps.length; i++) {
    if (i > 0) layerState = await materialise(layerState);
    layerState = await applyStep(layerState, layer.steps[i]);
  }
  return rgba(layerState.image, state);
}

async function rgba(image: sharp.Sharp, state: ImageState): Promise<Pixels> {
  const { data, info } = await withinDeadline(image.toColourspace('srgb').ensureAlpha(), state.deadline).raw().toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height };
}

/** Text is plain text: Pango markup in a URL is shown as written. Control characters Pango refuses are dropped. */
export function escapeMarkup(text: string): string {
  return [...text]
    .filter((c) => c === '\n' || c === '\t' || c === '\r' || (c >= ' ' && c !== '\x7f'))
    .join('')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;');
}

const PANGO_ALIGN = { left: 'left', center: 'centre', right: 'right' } as const;

/** Draws a text layer: Pango's coverage mask in the text colour, aligned in its box, padded on its background. */
async function textLayerPixels(layer: TextLayer, state: ImageState): Promise<Pixels> {
  const font = state.layerAssets?.fonts.get(layer.font);
  if (!font) throw new Error(`font "${layer.font}" was not loaded`); // the plan only names known fonts
  const face = faceFor(font, layer.bold, layer.italic);
  const style = `${layer.bold ? ' Bold' : ''}${layer.italic ? ' Italic' : ''}`;
  const markup = escapeMarkup(layer.text);
  // Pango draws nothing for blank text (libvips refuses it): the box is then its padding alone.
  const glyphs = markup.trim() === '' ? { data: Buffer.alloc(0), info: { width: 0, height: 0 } } : await drawGlyphs(markup, `${face.family}${style} ${layer.fontSize}`, face.file, layer, state);
  const { info } = glyphs;
  const [top, right, bottom, left] = layer.padding;
  const boxWidth = Math.max(info.width, layer.wrapWidth ?? 0);
  const inBox = layer.align === 'left' ? 0 : layer.align === 'right' ? boxWidth - info.width : Math.floor((boxWidth - info.width) / 2);
  const width = boxWidth + left + right;
  const height = info.height + top + bottom;
  if (width === 0 || height === 0) return { data: Buffer.alloc(0), width, height };
  checkLayerSize('a text layer', width, height, state);
  const background = layer.background ?? TRANSPARENT;
  const box = sharp({ create: { width, height, channels: 4, background: sharpColour(background) } });
  if (info.width === 0) return rgba(box, state);
  return rgba(box.composite([{ input: glyphs.data, raw: { width: info.width, height: info.height, channels: 4 }, left: left + inBox, top }]), state);
}

/** cairo's largest image side, over any limits.maxOutputDimension (at most 16383). */
const CAIRO_MAX_SIDE = 32767;

/** libvips' `text` failing on cairo's CAIRO_STATUS_INVALID_SIZE: the text's box is over CAIRO_MAX_SIDE on a side. */
const CAIRO_TOO_LARGE = /^text: invalid value \(typically too big\) for the size of the input/;

/** Pango's coverage mask of the text, in the text colour: RGBA. */
async function drawGlyphs(markup: string, font: string, fontfile: string, layer: TextLayer, state: ImageState): Promise<{ data: Buffer; info: { width: number; height: number } }> {
  // At 72 dpi a point is a pixel: `fs-` is the font size in pixels.
  const text = sharp({
    text: {
      text: markup,
      font,
      fontfile,
      dpi: 72,
      align: PANGO_ALIGN[layer.align],
      wrap: 'word-char',
      ...(layer.wrapWidth !== undefined ? { width: layer.wrapWidth } : {}),
    },
  });
  let drawn: { data: Buffer; info: sharp.OutputInfo };
  try {
    drawn = await withinDeadline(text.extractChannel(0), state.deadline).raw().toBuffer({ resolveWithObject: true });
  } catch (error) {
    // Pango lays the text out, then cairo refuses a surface over its largest side: a box that
    // large fails here, before its size is known, and is the 400 checkLayerSize gives (README "Layers").
    if (CAIRO_TOO_LARGE.test(String((error as Error)?.message ?? ''))) throw layerTooLarge('a text layer', `more than ${CAIRO_MAX_SIDE} pixels on a side`, state);
    throw error;
  }
  const { data: mask, info } = drawn;
  const { colour } = layer;
  const data = Buffer.alloc(info.width * info.height * 4);
  for (let i = 0; i < info.width * info.height; i++) {
    data[i * 4] = colour.r;
    data[i * 4 + 1] = colour.g;
    data[i * 4 + 2] = colour.b;
    data[i * 4 + 3] = Math.round(mask[i] * colour.alpha);
  }
  return { data, info: { width: info.width, height: info.height } };
}

const sharpColour = (c: Colour) => ({ r: c.r, g: c.g, b: c.b, alpha: c.alpha });

/** A layer as large as an output: the same limits (a text box can grow with its text and padding). */
function checkLayerSize(what: string, width: number, height: number, state: ImageState): void {
  const { maxOutputDimension, maxOutputPixels } = state.limits;
  if (width > maxOutputDimension || height > maxOutputDimension || width * height > maxOutputPixels) throw layerTooLarge(what, `${width}x${height}`, state);
}

/** The 400 for a layer over the output limits; `size` is its size, or what is known of it. */
function layerTooLarge(what: string, size: string, state: ImageState): HttpError {
  const { maxOutputDimension, maxOutputPixels } = state.limits;
  return badRequest(`Invalid transformation: ${what} would be ${size}; the limit is ${maxOutputDimension} per side and ${maxOutputPixels} pixels (limits.maxOutputDimension, limits.maxOutputPixels)`);
}

/** `o-`: the alpha of every pixel multiplied by the opacity. */
function applyOpacity(pixels: Pixels, opacity: number | undefined): void {
  if (opacity === undefined || opacity >= 100) return;
  for (let i = 3; i < pixels.data.length; i += 4) pixels.data[i] = Math.round((pixels.data[i] * opacity) / 100);
}

/**
 * Where a layer's top-left corner goes on a `width`×`height` image. `lx`/`ly` place an edge: the
 * left (top) one from the image's left (top), or, negative, the right (bottom) one from the image's
 * right (bottom). `lxc`/`lyc` place its centre. An axis without them follows `lfo` (centre by default).
 */
export function layerOrigin(placement: LayerPlacement, width: number, height: number, layerWidth: number, layerHeight: number): { left: number; top: number } {
  const focus = placement.focus ?? 'center';
  const axis = (offset: number | undefined, centre: number | undefined, size: number, layerSize: number, start: boolean, end: boolean) => {
    if (offset !== undefined) return offset < 0 || Object.is(offset, -0) ? size - layerSize + offset : offset;
    if (centre !== undefined) return centre - Math.floor(layerSize / 2);
    return start ? 0 : end ? size - layerSize : Math.round((size - layerSize) / 2);
  };
  return {
    left: axis(placement.x, placement.xCenter, width, layerWidth, focus.endsWith('left'), focus.endsWith('right')),
    top: axis(placement.y, placement.yCenter, height, layerHeight, focus.startsWith('top'), focus.startsWith('bottom')),
  };
}

/** The part of a layer that falls on the image, as a composite input; undefined when none does. */
async function onImage(layer: Layer, pixels: Pixels, width: number, height: number): Promise<sharp.OverlayOptions | undefined> {
  const { left, top } = layerOrigin(layer, width, height, pixels.width, pixels.height);
  const x0 = Math.max(0, left);
  const y0 = Math.max(0, top);
  const x1 = Math.min(width, left + pixels.width);
  const y1 = Math.min(height, top + pixels.height);
  if (x1 <= x0 || y1 <= y0) return undefined;
  let { data } = pixels;
  const raw = { width: x1 - x0, height: y1 - y0, channels: 4 as const };
  if (raw.width !== pixels.width || raw.height !== pixels.height) {
    data = await sharp(data, { raw: { width: pixels.width, height: pixels.height, channels: 4 } })
      .extract({ left: x0 - left, top: y0 - top, width: raw.width, height: raw.height })
      .raw()
      .toBuffer();
  }
  return { input: data, raw, left: x0, top: y0, blend: layer.under ? 'dest-over' : 'over' };
}

/** Draws a step's layers, in order, over (or under) its result. */
export async function drawLayers(state: ImageState, layers: readonly Layer[], applyStep: ApplyStep): Promise<ImageState> {
  const settled = await settle(state);
  const inputs: sharp.OverlayOptions[] = [];
  for (const layer of layers) {
    const pixels = layer.type === 'image' ? await imageLayerPixels(layer, settled, applyStep) : await textLayerPixels(layer, settled);
    applyOpacity(pixels, layer.opacity);
    const input = await onImage(layer, pixels, settled.width, settled.height);
    if (input) inputs.push(input);
  }
  if (inputs.length === 0) return settled;
  // In sRGB, so a colour layer keeps its colour on a greyscale image.
  const composited = settled.image.toColourspace('srgb').composite(inputs);
  // Compositing adds an alpha channel; an image that had none stays opaque.
  return { ...settled, image: settled.hasAlpha ? composited : composited.removeAlpha(), pending: 'final' };
}
