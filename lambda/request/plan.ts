// The request plan: a plain, fully validated value built before any I/O (spec sections 2-4).
// The image pipeline executes it; tests inspect it without pixels.

import type { AfterimageConfig, EndpointConfig, OutputFormat } from '../config';
import { badRequest } from '../errors';
import { parseChain, type RawParameter } from './chain';
import { checkNamedOnly, snapToAllowedWidth } from './endpoint-rules';
import type { Colour } from './colour';
import { PARAMETERS, checkStep, type ParameterContext } from './parameters';
import type { ParsedUrl } from './parse-url';

export type { Colour } from './colour';

/** A width or height: pixels, or a share of the step's input. */
export type Dimension = { px: number } | { fraction: number };

/** `maintain_ratio_limit` is `maintain_ratio` that never enlarges (Cloudinary's `c_lfill`; not an ImageKit value). */
export type CropStrategy = 'maintain_ratio' | 'maintain_ratio_limit' | 'force' | 'at_max' | 'at_max_enlarge' | 'at_least';
export type CropMode = 'pad_resize' | 'extract' | 'pad_extract';
export type Focus =
  | 'center' | 'top' | 'bottom' | 'left' | 'right'
  | 'top_left' | 'top_right' | 'bottom_left' | 'bottom_right'
  | 'auto' | 'face';
export type Flip = 'h' | 'v' | 'h_v';

export interface UnsharpMask {
  radius: number;
  sigma: number;
  amount: number;
  /** 0-1, a share of the full tonal range. */
  threshold: number;
}

/**
 * One `:`-separated step. Fields are added by parameters; the pipeline applies them in the
 * fixed order of spec section 2: trim, crop/resize, rotate, flip, effects, rounded corners, border.
 */
export interface TransformStep {
  width?: Dimension;
  height?: Dimension;
  /** `ar-W-H`: the missing side of the box follows this ratio. */
  aspectRatio?: { width: number; height: number };
  /** `dpr`: multiplies the box. */
  dpr?: number;
  crop?: CropStrategy;
  cropMode?: CropMode;
  focus?: Focus;
  /** `x`, `y`: top-left corner of an extracted region. */
  x?: number;
  y?: number;
  /** `xc`, `yc`: centre of an extracted region. */
  xCenter?: number;
  yCenter?: number;
  /** `bg`: padding, rotation fill and (the last one given) JPEG flattening. */
  background?: Colour;
  border?: { width: number; colour: Colour };
  radius?: number | 'max';
  /** `bl`, 1-100. */
  blur?: number;
  grayscale?: true;
  /** `e-sharpen[-n]`: strength 1-100. */
  sharpen?: number;
  contrast?: true;
  unsharpMask?: UnsharpMask;
  /** Degrees clockwise, 0 < rotate < 360. */
  rotate?: number;
  flip?: Flip;
  /** `t`: trim uniform borders with this threshold. */
  trim?: number;
}

export interface OutputOptions {
  /** Explicit `f-` format; absent = the configured default (section 4). */
  format?: Exclude<OutputFormat, 'jpeg'> | 'jpeg';
  quality?: number;
  /** `pr`: progressive JPEG, interlaced PNG. */
  progressive?: boolean;
  /** `lo`: lossless WebP / AVIF. */
  lossless?: boolean;
  /** `md`: keep EXIF and XMP metadata. */
  keepMetadata?: boolean;
  /** `cp`: attach an (sRGB) ICC profile. */
  keepColourProfile?: boolean;
  /** The last `bg` of the chain: what a format without alpha is flattened on. */
  background?: Colour;
}

export interface RequestPlan {
  endpoint: EndpointConfig;
  /** Decoded image path after the prefix and the `tr:` segment. */
  path: string;
  steps: TransformStep[];
  output: OutputOptions;
  /** `orig-true`: the stored bytes, untouched. */
  original: boolean;
  /** `di-`: served, with the same transformations, when the file is in no origin. */
  defaultImage?: string;
  /** True when the URL asked for any transformation or output option. */
  transformed: boolean;
}

/** The parts of a plan that parameters write to while a chain is parsed. */
export interface PlanDraft {
  step: TransformStep;
  output: OutputOptions;
  request: { original: boolean; defaultImage?: string };
  /** Parameters of the current step, by key, for messages about combinations. */
  given: Map<string, RawParameter>;
}

/**
 * Builds the plan for a parsed URL. Throws a 400 naming the first bad parameter; never
 * touches an origin.
 */
export function buildPlan(parsed: ParsedUrl, config: AfterimageConfig): RequestPlan {
  const output: OutputOptions = {};
  const request: PlanDraft['request'] = { original: false };
  const steps: TransformStep[] = [];
  const ctx: ParameterContext = { limits: config.limits, namedTransformations: config.namedTransformations };
  let transformed = false;
  checkNamedOnly(parsed.chains, parsed.endpoint);

  for (const chain of parsed.chains) {
    if (chain.length > config.limits.maxChainLength) {
      throw badRequest(`Invalid transformation: the chain is ${chain.length} characters long; the limit is ${config.limits.maxChainLength} (limits.maxChainLength)`);
    }
    for (const rawStep of parseChain(chain, ctx)) {
      const draft: PlanDraft = { step: {}, output, request, given: new Map() };
      for (const param of rawStep) {
        const definition = PARAMETERS.get(param.key);
        if (!definition) {
          throw badRequest(`Invalid transformation "${param.raw}": unknown parameter "${param.key}" (known: ${[...PARAMETERS.keys(), 'n'].join(', ')})`);
        }
        definition.apply(param, draft, ctx);
        draft.given.set(param.key, param);
        transformed = true;
      }
      checkStep(draft, ctx);
      snapToAllowedWidth(draft, parsed.endpoint, config.limits);
      if (Object.keys(draft.step).length > 0) steps.push(draft.step);
      if (steps.length > config.limits.maxSteps) {
        throw badRequest(`Invalid transformation: more than ${config.limits.maxSteps} steps; the limit is ${config.limits.maxSteps} (limits.maxSteps)`);
      }
    }
  }
  return {
    endpoint: parsed.endpoint,
    path: parsed.path,
    steps,
    output,
    original: request.original,
    ...(request.defaultImage !== undefined ? { defaultImage: request.defaultImage } : {}),
    transformed,
  };
}
