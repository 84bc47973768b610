// The request plan: a plain, fully validated value built before any I/O (README "URL reference", "Parameters" and "Output").
// The image pipeline executes it; tests inspect it without pixels. Its vocabulary (steps,
// output options, the values they take) is in plan-types.ts.

import type { AfterimageConfig, EndpointConfig } from '../config';
import { badRequest } from '../errors';
import { parseChain } from './chain';
import { LAYER_PARAMETER, countLayers } from './layers';
import { checkNamedOnly, snapToAllowedWidth } from './endpoint-rules';
import { PARAMETERS, checkStep, type ParameterContext, type ParameterDefinition } from './parameters';
import type { ParsedUrl } from './parse-url';
import type { OutputOptions, PlanDraft, TransformStep } from './plan-types';

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
  /** A Cloudinary fetch URL's remote URL: the file comes from there, not from the endpoint's origins. */
  fetchUrl?: string;
}

/** Every parameter a step takes: the registry, and layers (which read the registry for their own steps). */
const STEP_PARAMETERS: ReadonlyMap<string, ParameterDefinition> = new Map([...PARAMETERS, [LAYER_PARAMETER.key, LAYER_PARAMETER]]);

/**
 * Builds the plan for a parsed URL. Throws a 400 naming the first bad parameter; never
 * touches an origin.
 */
export function buildPlan(parsed: ParsedUrl, config: AfterimageConfig): RequestPlan {
  const output: OutputOptions = {};
  const request: PlanDraft['request'] = { original: false };
  const steps: TransformStep[] = [];
  const ctx: ParameterContext = { limits: config.limits, namedTransformations: config.namedTransformations, fonts: Object.keys(config.fonts ?? {}) };
  let transformed = false;
  checkNamedOnly(parsed.chains, parsed.endpoint);

  for (const chain of parsed.chains) {
    if (chain.length > config.limits.maxChainLength) {
      throw badRequest(`Invalid transformation: the chain is ${chain.length} characters long; the limit is ${config.limits.maxChainLength} (limits.maxChainLength)`);
    }
    for (const rawStep of parseChain(chain, ctx)) {
      const draft: PlanDraft = { step: {}, output, request, given: new Map() };
      for (const param of rawStep) {
        const definition = STEP_PARAMETERS.get(param.key);
        if (!definition) {
          throw badRequest(`Invalid transformation "${param.raw}": unknown parameter "${param.key}" (known: ${[...STEP_PARAMETERS.keys(), 'n'].join(', ')})`);
        }
        definition.apply(param, draft, ctx);
        draft.given.set(param.key, param);
        transformed = true;
      }
      checkStep(draft, ctx);
      snapToAllowedWidth(draft, parsed.endpoint, config.limits);
      if (Object.keys(draft.step).length > 0) steps.push(draft.step);
      if (countLayers(steps) > config.limits.maxLayers) {
        throw badRequest(`Invalid transformation: more than ${config.limits.maxLayers} layers; the limit is ${config.limits.maxLayers} (limits.maxLayers)`);
      }
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
    ...(parsed.fetchUrl ? { fetchUrl: parsed.fetchUrl } : {}),
  };
}
