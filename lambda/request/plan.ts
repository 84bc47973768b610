// The request plan: a plain, fully validated value built before any I/O (spec sections 2-4).
// The image pipeline executes it; tests inspect it without pixels.

import type { AfterimageConfig, EndpointConfig, OutputFormat } from '../config';
import { badRequest } from '../errors';
import { parseChain } from './chain';
import { PARAMETERS, type ParameterContext } from './parameters';
import type { ParsedUrl } from './parse-url';

/** A width or height: pixels, or a share of the step's input. */
export type Dimension = { px: number } | { fraction: number };

export type CropStrategy = 'maintain_ratio' | 'force' | 'at_max' | 'at_max_enlarge' | 'at_least';

/** One `:`-separated step. Fields are added by parameters; the pipeline applies them in a fixed order. */
export interface TransformStep {
  width?: Dimension;
  height?: Dimension;
  crop?: CropStrategy;
}

export interface OutputOptions {
  /** Explicit `f-` format; absent = the configured default (section 4). */
  format?: Exclude<OutputFormat, 'jpeg'> | 'jpeg';
  quality?: number;
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

  for (const chain of parsed.chains) {
    if (chain.length > config.limits.maxChainLength) {
      throw badRequest(`Invalid transformation: the chain is ${chain.length} characters long; the limit is ${config.limits.maxChainLength}`);
    }
    for (const rawStep of parseChain(chain, ctx)) {
      const draft: PlanDraft = { step: {}, output, request };
      for (const param of rawStep) {
        const definition = PARAMETERS.get(param.key);
        if (!definition) {
          throw badRequest(`Invalid transformation "${param.raw}": unknown parameter "${param.key}" (known: ${[...PARAMETERS.keys()].join(', ')})`);
        }
        definition.apply(param, draft, ctx);
        transformed = true;
      }
      if (Object.keys(draft.step).length > 0) steps.push(draft.step);
    }
  }
  if (steps.length > config.limits.maxSteps) {
    throw badRequest(`Invalid transformation: ${steps.length} steps; the limit is ${config.limits.maxSteps} (limits.maxSteps)`);
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
