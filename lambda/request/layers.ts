// README "Layers": the `l-image,…,l-end` and `l-text,…,l-end` parameter. A layer's own
// transformations go through the same parameter registry as a step's; its placement and text
// settings are the table below. Pure: the layer image is only named here, fetched by the service.

import { badRequest } from '../errors';
import type { RawParameter } from './chain';
import { COLOUR_ACCEPTS, parseColour, type Colour } from './colour';
import { checkStep, invalidParameter, parseIntegerIn, parseNumber, parseOneOf, PARAMETERS, type ParameterContext, type ParameterDefinition } from './parameters';
import { LAYER_FOCI, TEXT_ALIGNMENTS, type ImageLayer, type Layer, type PlanDraft, type TextLayer, type TransformStep } from './plan-types';

/** The fonts every deployment has (TTF files shipped with the function); configured fonts add to them. */
export const BUILT_IN_FONTS = ['sans', 'serif'] as const;

/**
 * Font names as ImageKit and Cloudinary URLs write them (lower-case, without spaces, `-` or `_`),
 * mapped to the built-in font of the same kind.
 */
const FONT_ALIASES: ReadonlyMap<string, 'sans' | 'serif'> = new Map([
  ...'sans sansserif dejavusans arial helvetica helveticaneue verdana tahoma trebuchet trebuchetms calibri segoeui roboto opensans lato montserrat sourcesanspro sourcesans3 notosans ubuntu inter poppins raleway oswald nunito ptsans firasans worksans ibmplexsans firamono abeezee' .split(' ').map((n) => [n, 'sans'] as const),
  ...'serif dejavuserif times timesnewroman timesroman georgia garamond ebgaramond palatino baskerville librebaskerville cambria merriweather lora playfairdisplay ptserif notoserif sourceserifpro sourceserif4 ibmplexserif crimsontext' .split(' ').map((n) => [n, 'serif'] as const),
]);

/** Default `co-`. */
const BLACK: Colour = { r: 0, g: 0, b: 0, alpha: 1 };
/** Default `fs-`, in pixels. */
export const DEFAULT_FONT_SIZE = 14;
/** Most pixels of padding on one side of a text layer (`pa-`). */
const MAX_PADDING = 1000;

/** The font an `ff-` value names: a configured font by its exact name, else a built-in one by alias. */
export function resolveFont(value: string, ctx: ParameterContext): string | undefined {
  if (ctx.fonts?.includes(value)) return value;
  return FONT_ALIASES.get(value.toLowerCase().replace(/[\s_+-]/g, ''));
}

/** `ie-`: base64 (standard or URL-safe, padding optional) of UTF-8 text; undefined when it is not. */
function decodeBase64Text(value: string): string | undefined {
  const normalised = value.replace(/-/g, '+').replace(/_/g, '/').replace(/=+$/, '');
  if (normalised === '' || !/^[A-Za-z0-9+/]+$/.test(normalised) || normalised.length % 4 === 1) return undefined;
  const bytes = Buffer.from(normalised, 'base64');
  const text = bytes.toString('utf8');
  return Buffer.from(text, 'utf8').equals(bytes) ? text : undefined;
}

/** A layer image's path: `@@` for `/`, no `.` or `..` segments, at most an S3 key long. */
function layerPath(text: string): string | undefined {
  const path = text.replace(/@@/g, '/').replace(/^\/+/, '');
  if (path === '' || path.includes('\0') || Buffer.byteLength(path) > 1024) return undefined;
  return path.split('/').some((s) => s === '.' || s === '..') ? undefined : path;
}

/** `pa-10`, `pa-10_20` (vertical, horizontal), `pa-10_20_30`, `pa-10_20_30_40` (top, right, bottom, left), as in CSS. */
function parsePadding(value: string): [number, number, number, number] | undefined {
  const parts = value.split('_').map((p) => parseIntegerIn(p, 0, MAX_PADDING));
  if (parts.length > 4 || parts.some((p) => p === undefined)) return undefined;
  const [t, r = t, b = t, l = r] = parts as number[];
  return [t, r, b, l];
}

/** A layer while its parameters are read. */
type LayerDraft = { type: Layer['type'] } & Partial<Omit<ImageLayer, 'type'>> & Partial<Omit<TextLayer, 'type'>>;

/** The layer-level parameters: what they accept and what they set. */
interface LayerKey {
  accepts: string | ((ctx: ParameterContext) => string);
  /** Which layers take it. */
  on: 'image' | 'text' | 'both';
  /** Reads the value into the layer; false when it is not one the key accepts. */
  set(layer: LayerDraft, value: string, ctx: ParameterContext): boolean;
}

/** A layer-level parameter from a parser (undefined = invalid) and a setter, as defineParameter makes a step's. */
function layerKey<T>(on: LayerKey['on'], accepts: LayerKey['accepts'], parse: (value: string, ctx: ParameterContext, layer: LayerDraft) => T | undefined, assign: (layer: LayerDraft, value: T) => void): LayerKey {
  return {
    accepts,
    on,
    set(layer, value, ctx) {
      const parsed = parse(value, ctx, layer);
      if (parsed === undefined) return false;
      assign(layer, parsed);
      return true;
    },
  };
}

const positionAccepts = (ctx: ParameterContext) => `an integer from 0 to ${ctx.limits.maxOutputDimension}, N for negative (from the right or bottom edge), as in lx-N20`;
const parsePosition = (value: string, ctx: ParameterContext) => {
  const n = parseNumber(value, true);
  return n !== undefined && Number.isInteger(n) && Math.abs(n) <= ctx.limits.maxOutputDimension ? n : undefined;
};

/** `i-`/`ie-`: the text of a text layer, or the path of an image layer's image. */
const parseInput = (text: string | undefined, layer: LayerDraft) => (text === undefined || text === '' ? undefined : layer.type === 'text' ? text : layerPath(text));
const assignInput = (layer: LayerDraft, value: string) => {
  if (layer.type === 'text') layer.text = value;
  else layer.path = value;
};

const LAYER_KEYS: ReadonlyMap<string, LayerKey> = new Map<string, LayerKey>([
  ['i', layerKey('both', 'the layer image path with "@@" for "/" (l-image), or the text (l-text)', (v, _ctx, layer) => parseInput(v, layer), assignInput)],
  ['ie', layerKey('both', 'base64 of the layer image path (l-image) or of the text (l-text)', (v, _ctx, layer) => parseInput(decodeBase64Text(v), layer), assignInput)],
  ['lx', layerKey('both', positionAccepts, parsePosition, (layer, v) => { layer.x = v; })],
  ['ly', layerKey('both', positionAccepts, parsePosition, (layer, v) => { layer.y = v; })],
  ['lxc', layerKey('both', (ctx) => `an integer from 0 to ${ctx.limits.maxOutputDimension}: the layer's centre from the left edge`, (v, ctx) => parseIntegerIn(v, 0, ctx.limits.maxOutputDimension), (layer, v) => { layer.xCenter = v; })],
  ['lyc', layerKey('both', (ctx) => `an integer from 0 to ${ctx.limits.maxOutputDimension}: the layer's centre from the top edge`, (v, ctx) => parseIntegerIn(v, 0, ctx.limits.maxOutputDimension), (layer, v) => { layer.yCenter = v; })],
  ['lfo', layerKey('both', `one of ${LAYER_FOCI.join(', ')}`, (v) => parseOneOf(v, LAYER_FOCI), (layer, v) => { layer.focus = v; })],
  ['o', layerKey('both', "an integer from 1 to 100 (the layer's opacity in %)", (v) => parseIntegerIn(v, 1, 100), (layer, v) => { layer.opacity = v; })],
  // ImageKit's other layer modes (multiply, cutout, cutter, displace) are not supported.
  ['lm', layerKey('image', 'under: the layer is drawn under the image, showing where the image is transparent (what Cloudinary\'s u_ becomes)', (v) => (v === 'under' ? true : undefined), (layer, v) => { layer.under = v; })],
  ['fs', layerKey('text', (ctx) => `a font size in pixels from 1 to ${ctx.limits.maxOutputDimension}`, (v, ctx) => parseIntegerIn(v, 1, ctx.limits.maxOutputDimension), (layer, v) => { layer.fontSize = v; })],
  ['ff', layerKey(
    'text',
    (ctx) => `a configured font (${ctx.fonts?.length ? ctx.fonts.join(', ') : 'none configured'}) or one of ${[...FONT_ALIASES.keys()].join(', ')}`,
    (v, ctx) => resolveFont(v, ctx),
    (layer, v) => { layer.font = v; },
  )],
  ['co', layerKey('text', COLOUR_ACCEPTS, parseColour, (layer, v) => { layer.colour = v; })],
  ['bg', layerKey('text', COLOUR_ACCEPTS, parseColour, (layer, v) => { layer.background = v; })],
  ['pa', layerKey('text', `1 to 4 paddings in pixels (0-${MAX_PADDING}) joined by "_", as in pa-10 or pa-5_10`, parsePadding, (layer, v) => { layer.padding = v; })],
  ['w', layerKey('text', (ctx) => `the text box width in pixels, from 1 to ${ctx.limits.maxOutputDimension}`, (v, ctx) => parseIntegerIn(v, 1, ctx.limits.maxOutputDimension), (layer, v) => { layer.wrapWidth = v; })],
  ['ia', layerKey('text', `one of ${TEXT_ALIGNMENTS.join(', ')}`, (v) => parseOneOf(v, TEXT_ALIGNMENTS), (layer, v) => { layer.align = v; })],
  ['tg', layerKey('text', 'b (bold), i (italic) or b_i', (v) => TYPOGRAPHY.get(v), (layer, v) => {
    layer.bold = v.bold;
    layer.italic = v.italic;
  })],
]);

/** `tg-`: bold, italic or both (either order). */
const TYPOGRAPHY: ReadonlyMap<string, { bold: boolean; italic: boolean }> = new Map([
  ['b', { bold: true, italic: false }],
  ['i', { bold: false, italic: true }],
  ['b_i', { bold: true, italic: true }],
  ['i_b', { bold: true, italic: true }],
]);

/** `i-ik_canvas`: ImageKit's solid colour layer, of the colour `bg` names. */
const CANVAS = 'ik_canvas';

/** Step parameters that describe the response, not pixels: they have no meaning inside a layer. */
const NOT_IN_LAYER = new Set(['q', 'f', 'pr', 'lo', 'md', 'cp', 'orig', 'di', 'n']);

const TYPES = ['image', 'text'] as const;

function parseLayer(param: RawParameter, ctx: ParameterContext): Layer {
  const type = parseOneOf(param.value, TYPES);
  if (type === undefined || param.layer === undefined) {
    const detail = param.value === 'end' ? 'l-end closes a layer that was never opened' : `there is no layer type "${param.value}"`;
    throw invalidParameter({ ...param, raw: param.raw.slice(0, 100) }, 'l-image or l-text, then the layer\'s parameters, then l-end', detail);
  }
  const layer: LayerDraft = type === 'image'
    ? { type, steps: [] }
    : { type, fontSize: DEFAULT_FONT_SIZE, font: 'sans', bold: false, italic: false, colour: BLACK, padding: [0, 0, 0, 0], align: 'center' };
  const steps: TransformStep[] = [];
  for (const rawStep of param.layer) {
    const draft: PlanDraft = { step: {}, output: {}, request: { original: false }, given: new Map() };
    for (const inner of rawStep) {
      const key = LAYER_KEYS.get(inner.key);
      if (key && (key.on === 'both' || key.on === type)) {
        if (!key.set(layer, inner.value, ctx)) throw invalidParameter(inner, typeof key.accepts === 'function' ? key.accepts(ctx) : key.accepts);
        continue;
      }
      if (type === 'text') {
        const keys = [...LAYER_KEYS].filter(([, k]) => k.on !== 'image').map(([name]) => name);
        throw badRequest(`Invalid transformation "${inner.raw}": "${inner.key}" is not supported in a text layer (supported: ${keys.join(', ')})`);
      }
      if (inner.key === 'n') throw badRequest(`Invalid transformation "${inner.raw}": a named transformation cannot be used inside a layer`);
      if (NOT_IN_LAYER.has(inner.key)) throw badRequest(`Invalid transformation "${inner.raw}": "${inner.key}" applies to the whole response and cannot be used inside a layer`);
      const definition = PARAMETERS.get(inner.key);
      if (!definition) {
        throw badRequest(`Invalid transformation "${inner.raw}": unknown parameter "${inner.key}" in an image layer (known: ${[...LAYER_KEYS].filter(([, k]) => k.on !== 'text').map(([n]) => n).join(', ')}, ${[...PARAMETERS.keys()].filter((k) => !NOT_IN_LAYER.has(k)).join(', ')})`);
      }
      definition.apply(inner, draft, ctx);
      draft.given.set(inner.key, inner);
    }
    checkStep(draft, ctx);
    if (Object.keys(draft.step).length > 0) steps.push(draft.step);
  }
  const opening = `l-${type}`;
  for (const [edge, centre] of [['lx', 'lxc'], ['ly', 'lyc']] as const) {
    if (layer[edge === 'lx' ? 'x' : 'y'] !== undefined && layer[centre === 'lxc' ? 'xCenter' : 'yCenter'] !== undefined) {
      throw badRequest(`Invalid transformation "${opening}": give ${edge} (an edge) or ${centre} (the centre) of the layer, not both`);
    }
  }
  if (type === 'image') {
    if (layer.path === undefined) throw badRequest(`Invalid transformation "${opening}": an image layer needs its image, i-<path> (with "@@" for "/") or ie-<base64 path>`);
    if (layer.path === CANVAS) {
      if (steps[0]?.background === undefined) throw badRequest(`Invalid transformation "${opening},i-${CANVAS}": a solid colour layer needs its colour, bg-<colour>, in its first step`);
      return { ...(layer as ImageLayer), canvas: true, steps };
    }
    return { ...(layer as ImageLayer), steps };
  }
  if (layer.text === undefined) throw badRequest(`Invalid transformation "${opening}": a text layer needs its text, i-<text> or ie-<base64 text>`);
  const length = [...layer.text].length;
  if (length > ctx.limits.maxLayerText) {
    throw badRequest(`Invalid transformation "${opening}": the text is ${length} characters long; the limit is ${ctx.limits.maxLayerText} (limits.maxLayerText)`);
  }
  return layer as TextLayer;
}

/** `l-image,…,l-end` / `l-text,…,l-end`: one layer, drawn over the step's result. */
export const LAYER_PARAMETER: ParameterDefinition = {
  key: 'l',
  accepts: 'l-image or l-text, then the layer\'s parameters, then l-end',
  apply(param, draft, ctx) {
    const layer = parseLayer(param, ctx);
    draft.step.layers = [...(draft.step.layers ?? []), layer];
  },
};

/** The layers of a plan's steps, every step. */
export function countLayers(steps: readonly TransformStep[]): number {
  return steps.reduce((sum, step) => sum + (step.layers?.length ?? 0), 0);
}
