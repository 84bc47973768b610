// The parameter registry (README "Parameters"): one entry per URL parameter, each a value parser
// with its limits and what the value does to the plan. Adding a parameter = adding one entry.
// Combinations within a step are checked once the whole step is read (`checkStep`).

import type { LimitsConfig } from '../config';
import { badRequest } from '../errors';
import type { ChainContext, RawParameter } from './chain';
import { COLOUR_ACCEPTS, parseColour } from './colour';
import { AUTO_QUALITY_LEVELS, CROP_MODES, CROP_STRATEGIES, FLIPS, FOCI, OUTPUT_FORMATS, type AutoQualityLevel, type Dimension, type PlanDraft, type UnsharpMask } from './plan-types';

export interface ParameterContext extends ChainContext {
  limits: LimitsConfig;
  /** The configured fonts' names, for `ff-` in text layers (README "Layers"). */
  fonts?: readonly string[];
}

/** What a parameter accepts, completing "<key> must be …"; a function when it names a configured limit. */
export type Accepts = string | ((ctx: ParameterContext) => string);

export interface ParameterDefinition {
  key: string;
  accepts: Accepts;
  apply(param: RawParameter, draft: PlanDraft, ctx: ParameterContext): void;
}

/** The one way a bad value is reported: names the parameter and what it accepts. */
export function invalidParameter(param: RawParameter, accepts: string, detail?: string): Error {
  return badRequest(`Invalid transformation "${param.raw}": ${param.key} must be ${accepts}${detail ? ` (${detail})` : ''}`);
}

export function describeAccepts(accepts: Accepts, ctx: ParameterContext): string {
  return typeof accepts === 'function' ? accepts(ctx) : accepts;
}

/** Defines a parameter from a parser (undefined = invalid) and a setter. */
export function defineParameter<T>(
  key: string,
  accepts: Accepts,
  parse: (value: string, ctx: ParameterContext) => T | undefined,
  set: (draft: PlanDraft, value: T, ctx: ParameterContext, param: RawParameter) => void,
): ParameterDefinition {
  return {
    key,
    accepts,
    apply(param, draft, ctx) {
      const value = parse(param.value, ctx);
      if (value === undefined) throw invalidParameter(param, describeAccepts(accepts, ctx));
      set(draft, value, ctx, param);
    },
  };
}

// --- value parsers, shared by every entry -------------------------------------------------

const NUMBER = /^\d+(\.\d+)?$|^\.\d+$/;

/** A decimal number; `N` prefix = negative (README "URL reference"). */
export function parseNumber(value: string, allowNegative = false): number | undefined {
  const negative = allowNegative && value.startsWith('N');
  const digits = negative ? value.slice(1) : value;
  if (!NUMBER.test(digits)) return undefined;
  const n = Number(digits);
  return negative ? -n : n;
}

export function parseNumberIn(value: string, min: number, max: number): number | undefined {
  const n = parseNumber(value);
  return n !== undefined && n >= min && n <= max ? n : undefined;
}

export function parseIntegerIn(value: string, min: number, max: number): number | undefined {
  if (!/^\d+$/.test(value)) return undefined;
  const n = Number(value);
  return n >= min && n <= max ? n : undefined;
}

export function parseBoolean(value: string): boolean | undefined {
  return value === 'true' ? true : value === 'false' ? false : undefined;
}

/**
 * An effect flag: `e-grayscale` (or `-true`) turns it on, `-false` leaves it off. `-1` is on
 * too, because ImageKit's Node SDK documents `effectContrast: "1"`.
 */
export function parseFlag(value: string): boolean | undefined {
  if (value === '' || value === 'true' || value === '1') return true;
  return value === 'false' ? false : undefined;
}

/** One of a plan's listed values (plan-types.ts), typed as that value. */
export function parseOneOf<T extends string>(value: string, allowed: readonly T[]): T | undefined {
  return allowed.find((candidate) => candidate === value);
}

/** `q-80`, or `q-auto` (= `q-auto_good`) / `q-auto_best` … `q-auto_low`: a perceptual target. */
function parseQuality(value: string): number | AutoQualityLevel | undefined {
  if (value === 'auto') return 'good';
  if (value.startsWith('auto_')) return parseOneOf(value.slice(5), AUTO_QUALITY_LEVELS);
  return parseIntegerIn(value, 1, 100);
}

/** `w`/`h`: an integer ≥ 1 up to the configured maximum, or a fraction 0 < v < 1. */
function parseDimension(value: string, ctx: ParameterContext): Dimension | undefined {
  const n = parseNumber(value);
  if (n === undefined || n <= 0) return undefined;
  if (n < 1) return { fraction: n };
  if (!Number.isInteger(n) || n > ctx.limits.maxOutputDimension) return undefined;
  return { px: n };
}

const DIMENSION_ACCEPTS = (ctx: ParameterContext) =>
  `a positive integer up to ${ctx.limits.maxOutputDimension} (limits.maxOutputDimension) or a fraction between 0 and 1`;

/** `x`, `y`, `xc`, `yc`: a pixel coordinate in the input, which has at most limits.maxInputPixels pixels. */
const COORDINATE_ACCEPTS = (ctx: ParameterContext) => `an integer from 0 to ${ctx.limits.maxInputPixels - 1} (limits.maxInputPixels - 1)`;
const parseCoordinate = (value: string, ctx: ParameterContext) => parseIntegerIn(value, 0, ctx.limits.maxInputPixels - 1);

const SIZE_ACCEPTS = (ctx: ParameterContext) => `an integer from 1 to ${ctx.limits.maxOutputDimension} (limits.maxOutputDimension)`;

/** An effect switched on by its bare name (`e-grayscale`), or explicitly with `-true` / `-false`. */
function effectFlag(key: string, field: 'grayscale' | 'contrast'): ParameterDefinition {
  return defineParameter(key, `written without a value (${key}), or ${key}-true / -false`, parseFlag, (d, v) => {
    if (v) d.step[field] = true;
    else delete d.step[field];
  });
}

// Spellings the URL accepts beyond the plan's values: `f-jpg` is `f-jpeg` (listed just before
// it), `fl-v_h` is `fl-h_v`.
const FORMAT_SPELLINGS = OUTPUT_FORMATS.flatMap((format) => (format === 'jpeg' ? ['jpg', format] : [format]));
const parseFormat = (value: string) => parseOneOf(value === 'jpg' ? 'jpeg' : value, OUTPUT_FORMATS);
const FLIP_SPELLINGS = [...FLIPS, 'v_h'];
const parseFlip = (value: string) => parseOneOf(value === 'v_h' ? 'h_v' : value, FLIPS);

/** `ar-16-9`: two positive numbers. */
function parseAspectRatio(value: string): { width: number; height: number } | undefined {
  const match = /^([\d.]+)-([\d.]+)$/.exec(value);
  if (!match) return undefined;
  const width = parseNumber(match[1]);
  const height = parseNumber(match[2]);
  return width && height ? { width, height } : undefined;
}

/** The widest border: one around a 1-pixel image still fits in limits.maxOutputDimension. */
const maxBorderWidth = (ctx: ParameterContext) => Math.max(1, Math.floor((ctx.limits.maxOutputDimension - 1) / 2));

/** `b-5_FF0000` or `b-5-FF0000`. */
function parseBorder(value: string, ctx: ParameterContext) {
  const match = /^(\d+)[_-](.+)$/.exec(value);
  if (!match) return undefined;
  const width = parseIntegerIn(match[1], 1, maxBorderWidth(ctx));
  const colour = parseColour(match[2]);
  return width !== undefined && colour ? { width, colour } : undefined;
}

/**
 * The largest sigma of `e-usm`: sharp's sharpen() takes at most 10, and a value it refuses must be
 * a 400 here, before the origin is read, not a 422 after the work.
 */
export const MAX_UNSHARP_SIGMA = 10;

/** `e-usm-<radius>-<sigma>-<amount>-<threshold>`. */
function parseUnsharpMask(value: string): UnsharpMask | undefined {
  const parts = value.split('-');
  if (parts.length !== 4) return undefined;
  const [radius, sigma, amount, threshold] = parts.map((p) => parseNumber(p));
  if (radius === undefined || sigma === undefined || amount === undefined || threshold === undefined) return undefined;
  if (radius > 100 || sigma < 0.01 || sigma > MAX_UNSHARP_SIGMA || amount <= 0 || amount > 100 || threshold > 1) return undefined;
  return { radius, sigma, amount, threshold };
}

/** `rt-90`, `rt-N90`, `rt-45.5`, `rt-auto` (= the EXIF orientation, which every image gets anyway). */
function parseRotation(value: string): number | 'auto' | undefined {
  if (value === 'auto') return 'auto';
  const n = parseNumber(value, true);
  if (n === undefined || Math.abs(n) > 3600) return undefined;
  return ((n % 360) + 360) % 360;
}

/** Default strength of a bare `e-sharpen`. */
export const DEFAULT_SHARPEN = 50;
/** Default threshold of `t-true` (the same as sharp's). */
export const DEFAULT_TRIM_THRESHOLD = 10;

export const PARAMETER_LIST: ParameterDefinition[] = [
  // --- size and crop
  defineParameter('w', DIMENSION_ACCEPTS, parseDimension, (d, v) => {
    d.step.width = v;
  }),
  defineParameter('h', DIMENSION_ACCEPTS, parseDimension, (d, v) => {
    d.step.height = v;
  }),
  defineParameter('ar', 'two positive numbers, width and height, as in ar-16-9', parseAspectRatio, (d, v) => {
    d.step.aspectRatio = v;
  }),
  defineParameter('dpr', 'a number from 0.1 to 5', (v) => parseNumberIn(v, 0.1, 5), (d, v) => {
    d.step.dpr = v;
  }),
  defineParameter('c', `one of ${CROP_STRATEGIES.join(', ')}`, (v) => parseOneOf(v, CROP_STRATEGIES), (d, v) => {
    d.step.crop = v;
  }),
  defineParameter('cm', `one of ${CROP_MODES.join(', ')}`, (v) => parseOneOf(v, CROP_MODES), (d, v) => {
    d.step.cropMode = v;
  }),
  defineParameter('fo', `one of ${FOCI.join(', ')}`, (v) => parseOneOf(v, FOCI), (d, v) => {
    d.step.focus = v;
  }),
  defineParameter('x', COORDINATE_ACCEPTS, parseCoordinate, (d, v) => {
    d.step.x = v;
  }),
  defineParameter('y', COORDINATE_ACCEPTS, parseCoordinate, (d, v) => {
    d.step.y = v;
  }),
  defineParameter('xc', COORDINATE_ACCEPTS, parseCoordinate, (d, v) => {
    d.step.xCenter = v;
  }),
  defineParameter('yc', COORDINATE_ACCEPTS, parseCoordinate, (d, v) => {
    d.step.yCenter = v;
  }),
  // --- output options (apply to the final image, whichever step names them)
  defineParameter('q', `an integer from 1 to 100, auto or ${AUTO_QUALITY_LEVELS.map((l) => `auto_${l}`).join(', ')}`, parseQuality, (d, v) => {
    if (typeof v === 'number') {
      d.output.quality = v;
      delete d.output.autoQuality;
    } else {
      d.output.autoQuality = v;
      delete d.output.quality;
    }
  }),
  defineParameter('f', `one of ${FORMAT_SPELLINGS.join(', ')}`, parseFormat, (d, v) => {
    d.output.format = v;
  }),
  defineParameter('pr', 'true or false', parseBoolean, (d, v) => {
    d.output.progressive = v;
  }),
  defineParameter('lo', 'true or false', parseBoolean, (d, v) => {
    d.output.lossless = v;
  }),
  defineParameter('md', 'true or false', parseBoolean, (d, v) => {
    d.output.keepMetadata = v;
  }),
  defineParameter('cp', 'true or false', parseBoolean, (d, v) => {
    d.output.keepColourProfile = v;
  }),
  // --- colour, decoration, effects
  defineParameter('bg', COLOUR_ACCEPTS, parseColour, (d, v) => {
    d.step.background = v;
    d.output.background = v;
  }),
  defineParameter('b', (ctx) => `<width>_<colour>: a width from 1 to ${maxBorderWidth(ctx)} (the border is on both sides, within limits.maxOutputDimension), then ${COLOUR_ACCEPTS}, as in b-5_FF0000`, parseBorder, (d, v) => {
    d.step.border = v;
  }),
  defineParameter('r', (ctx) => `${SIZE_ACCEPTS(ctx)}, or max`, (v, ctx) => (v === 'max' ? 'max' : parseIntegerIn(v, 1, ctx.limits.maxOutputDimension)), (d, v) => {
    d.step.radius = v;
  }),
  defineParameter('bl', 'an integer from 1 to 100', (v) => parseIntegerIn(v, 1, 100), (d, v) => {
    d.step.blur = v;
  }),
  effectFlag('e-grayscale', 'grayscale'),
  defineParameter(
    'e-sharpen',
    'written without a value (e-sharpen) or with a strength from 1 to 100 (e-sharpen-60)',
    (v) => (v === '' || v === 'true' ? DEFAULT_SHARPEN : parseIntegerIn(v, 1, 100)),
    (d, v) => {
      d.step.sharpen = v;
    },
  ),
  effectFlag('e-contrast', 'contrast'),
  defineParameter(
    'e-usm',
    `e-usm-<radius>-<sigma>-<amount>-<threshold>: radius 0-100, sigma 0.01-${MAX_UNSHARP_SIGMA}, amount above 0 up to 100, threshold 0-1`,
    parseUnsharpMask,
    (d, v) => {
      d.step.unsharpMask = v;
    },
  ),
  // --- geometry after the resize
  defineParameter('rt', '0, 90, 180, 270, N90 (negative), any angle in degrees, or auto', parseRotation, (d, v) => {
    if (v === 'auto' || v === 0) delete d.step.rotate; // auto-orientation always happens first
    else d.step.rotate = v;
  }),
  defineParameter('fl', `one of ${FLIP_SPELLINGS.join(', ')}`, parseFlip, (d, v) => {
    d.step.flip = v;
  }),
  defineParameter('t', 'true or a threshold from 1 to 99', (v) => (v === 'true' ? DEFAULT_TRIM_THRESHOLD : parseIntegerIn(v, 1, 99)), (d, v) => {
    d.step.trim = v;
  }),
  // --- request options
  defineParameter('orig', 'true', (v) => (v === 'true' ? true : undefined), (d) => {
    d.request.original = true;
  }),
  defineParameter(
    'di',
    'an image path with "@@" for "/", e.g. di-defaults@@missing.jpg',
    (v) => {
      const path = v.replace(/@@/g, '/').replace(/^\/+/, '');
      return path === '' || path.includes('\0') || path.split('/').some((s) => s === '.' || s === '..') ? undefined : path;
    },
    (d, v) => {
      d.request.defaultImage = v;
    },
  ),
];

export const PARAMETERS: ReadonlyMap<string, ParameterDefinition> = new Map(PARAMETER_LIST.map((p) => [p.key, p]));

/**
 * Rules about parameters written together in one step (README "Parameters"). Conflicts are a 400
 * in the same shape as a bad value: "<key> must be <how it can be used>".
 */
export function checkStep(draft: PlanDraft, ctx: ParameterContext): void {
  const { step, given } = draft;
  const param = (key: string) => given.get(key)!;
  const hasWidth = step.width !== undefined;
  const hasHeight = step.height !== undefined;

  // ar is used with exactly one of w/h; with both it is ignored (README "Parameters").
  if (step.aspectRatio && hasWidth && hasHeight) delete step.aspectRatio;

  if (step.dpr !== undefined) {
    if (!hasWidth && !hasHeight) throw invalidParameter(param('dpr'), 'used with w or h in the same step');
    for (const [key, dimension] of [['w', step.width], ['h', step.height]] as const) {
      if (dimension && 'px' in dimension && Math.round(dimension.px * step.dpr) > ctx.limits.maxOutputDimension) {
        throw invalidParameter(param('dpr'), `small enough that ${key} × dpr stays within ${ctx.limits.maxOutputDimension} (limits.maxOutputDimension)`, `${key}-${dimension.px} × dpr-${step.dpr} = ${Math.round(dimension.px * step.dpr)}`);
      }
    }
  }

  // With one side in pixels, ar fixes the other: a side over the limit is known now, before the fetch.
  if (step.aspectRatio && hasWidth !== hasHeight) {
    const [key, other, dimension] = hasWidth ? (['w', 'h', step.width!] as const) : (['h', 'w', step.height!] as const);
    if ('px' in dimension) {
      const side = Math.max(1, Math.round(dimension.px * (step.dpr ?? 1)));
      const ratio = step.aspectRatio.width / step.aspectRatio.height;
      const follows = Math.max(1, Math.round(hasWidth ? side / ratio : side * ratio));
      if (follows > ctx.limits.maxOutputDimension) {
        throw invalidParameter(param('ar'), `a ratio that keeps ${other} within ${ctx.limits.maxOutputDimension} (limits.maxOutputDimension)`, `${key}-${dimension.px}${step.dpr !== undefined ? ` × dpr-${step.dpr}` : ''} with ${param('ar').raw} gives ${other} = ${follows}`);
      }
    }
  }

  if (step.cropMode) {
    const boxComplete = (hasWidth && hasHeight) || ((hasWidth || hasHeight) && step.aspectRatio !== undefined);
    if (!boxComplete) throw invalidParameter(param('cm'), 'used with both w and h (or one of them and ar)');
    const crop = step.crop ?? 'maintain_ratio';
    if (step.cropMode === 'pad_resize' && (crop === 'force' || crop === 'at_least' || crop === 'maintain_ratio_limit')) {
      throw invalidParameter(param('c'), 'maintain_ratio, at_max or at_max_enlarge when used with cm-pad_resize');
    }
    if (step.cropMode !== 'pad_resize' && crop !== 'maintain_ratio') {
      throw invalidParameter(param('c'), `left out with cm-${step.cropMode}, which never scales`);
    }
  }

  const corner = ['x', 'y'].filter((k) => given.has(k));
  const centre = ['xc', 'yc'].filter((k) => given.has(k));
  for (const key of [...corner, ...centre]) {
    if (step.cropMode !== 'extract' && step.cropMode !== 'pad_extract') {
      throw invalidParameter(param(key), 'used with cm-extract or cm-pad_extract');
    }
  }
  if (corner.length > 0 && centre.length > 0) {
    throw invalidParameter(param(centre[0]), `left out when ${corner.join(', ')} is given: give the region's top-left corner (x, y) or its centre (xc, yc), not both`);
  }
}
