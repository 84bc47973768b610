// The parameter registry (spec section 3): one entry per URL parameter, each a value parser
// with its limits and what the value does to the plan. Adding a parameter = adding one entry.

import type { LimitsConfig } from '../config';
import { badRequest } from '../errors';
import type { ChainContext, RawParameter } from './chain';
import type { CropStrategy, Dimension, OutputOptions, PlanDraft } from './plan';

export interface ParameterContext extends ChainContext {
  limits: LimitsConfig;
}

export interface ParameterDefinition {
  key: string;
  /** Completes "<key> must be …" in the 400 message: what would have been accepted. */
  accepts: string;
  apply(param: RawParameter, draft: PlanDraft, ctx: ParameterContext): void;
}

/** The one way a bad value is reported: names the parameter and what it accepts. */
export function invalidParameter(param: RawParameter, accepts: string, detail?: string): Error {
  return badRequest(`Invalid transformation "${param.raw}": ${param.key} must be ${accepts}${detail ? ` (${detail})` : ''}`);
}

/** Defines a parameter from a parser (undefined = invalid) and a setter. */
export function defineParameter<T>(
  key: string,
  accepts: string,
  parse: (value: string, ctx: ParameterContext) => T | undefined,
  set: (draft: PlanDraft, value: T, ctx: ParameterContext, param: RawParameter) => void,
): ParameterDefinition {
  return {
    key,
    accepts,
    apply(param, draft, ctx) {
      const value = parse(param.value, ctx);
      if (value === undefined) throw invalidParameter(param, accepts);
      set(draft, value, ctx, param);
    },
  };
}

// --- value parsers, shared by every entry -------------------------------------------------

const NUMBER = /^\d+(\.\d+)?$|^\.\d+$/;

/** A decimal number; `N` prefix = negative (spec section 2). */
export function parseNumber(value: string, allowNegative = false): number | undefined {
  const negative = allowNegative && value.startsWith('N');
  const digits = negative ? value.slice(1) : value;
  if (!NUMBER.test(digits)) return undefined;
  const n = Number(digits);
  return negative ? -n : n;
}

export function parseIntegerIn(value: string, min: number, max: number): number | undefined {
  if (!/^\d+$/.test(value)) return undefined;
  const n = Number(value);
  return n >= min && n <= max ? n : undefined;
}

export function parseBoolean(value: string): boolean | undefined {
  return value === 'true' ? true : value === 'false' ? false : undefined;
}

export function parseOneOf<T extends string>(value: string, allowed: readonly T[]): T | undefined {
  return (allowed as readonly string[]).includes(value) ? (value as T) : undefined;
}

/** `w`/`h`: an integer ≥ 1 up to the configured maximum, or a fraction 0 < v < 1. */
function parseDimension(value: string, ctx: ParameterContext): Dimension | undefined {
  const n = parseNumber(value);
  if (n === undefined || n <= 0) return undefined;
  if (n < 1) return { fraction: n };
  if (!Number.isInteger(n) || n > ctx.limits.maxOutputDimension) return undefined;
  return { px: n };
}

const CROP_STRATEGIES: readonly CropStrategy[] = ['maintain_ratio', 'force', 'at_max', 'at_max_enlarge', 'at_least'];
const FORMATS = ['auto', 'webp', 'avif', 'jpg', 'jpeg', 'png', 'gif', 'orig'] as const;

export const PARAMETER_LIST: ParameterDefinition[] = [
  defineParameter('w', 'a positive integer up to limits.maxOutputDimension or a fraction between 0 and 1', parseDimension, (d, v) => {
    d.step.width = v;
  }),
  defineParameter('h', 'a positive integer up to limits.maxOutputDimension or a fraction between 0 and 1', parseDimension, (d, v) => {
    d.step.height = v;
  }),
  defineParameter('c', `one of ${CROP_STRATEGIES.join(', ')}`, (v) => parseOneOf(v, CROP_STRATEGIES), (d, v) => {
    d.step.crop = v;
  }),
  defineParameter('q', 'an integer from 1 to 100', (v) => parseIntegerIn(v, 1, 100), (d, v) => {
    d.output.quality = v;
  }),
  defineParameter('f', `one of ${FORMATS.join(', ')}`, (v) => parseOneOf(v, FORMATS), (d, v) => {
    d.output.format = (v === 'jpg' ? 'jpeg' : v) as OutputOptions['format'];
  }),
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
