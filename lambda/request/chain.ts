// README "URL reference": the chain grammar. `a-1,b-2:c-3` → [[a=1, b=2], [c=3]].
// Named transformations (`n-<name>`) are expanded here, in place, from the configuration.

import { badRequest } from '../errors';

export interface RawParameter {
  /** `w`, `c`, or for effects the key with the effect name: `e-sharpen`, `e-usm`. */
  key: string;
  /** Everything after the key and its `-`; '' for flags such as `e-grayscale`. */
  value: string;
  /** As written, for error messages. */
  raw: string;
  /** A layer (`l-image,…,l-end`): its own parameters, in steps (`:` inside a layer separates its own steps). */
  layer?: RawParameter[][];
}

export interface ChainContext {
  namedTransformations: Record<string, string>;
}

/** Splits one parameter into key and value (README "URL reference"); a whole layer is one parameter. */
export function splitParameter(raw: string): RawParameter {
  const layer = LAYER_TEXT.exec(raw);
  if (layer) {
    const inner = layer[2] === undefined ? [] : splitSteps(layer[2]).map((step) => step.map(splitParameter));
    return { key: 'l', value: layer[1], raw, layer: inner };
  }
  if (raw.startsWith('e-')) {
    const dash = raw.indexOf('-', 2);
    return dash < 0
      ? { key: raw, value: '', raw }
      : { key: raw.slice(0, dash), value: raw.slice(dash + 1), raw };
  }
  const dash = raw.indexOf('-');
  return dash < 0 ? { key: raw, value: '', raw } : { key: raw.slice(0, dash), value: raw.slice(dash + 1), raw };
}

/** `l-<type>`, its parameters, `l-end`, as splitSteps keeps them together. */
const LAYER_TEXT = /^l-([^,:]*)(?:[,:](.*))?[,:]l-end$/s;

/**
 * Splits a chain into steps of parameters. A layer, from `l-<type>` to `l-end`, is one
 * parameter whatever `,` and `:` it holds (ImageKit's SDK writes a layer's own steps with `:`).
 */
function splitSteps(chain: string): string[][] {
  const steps: string[][] = [[]];
  let layer: string | undefined;
  for (const token of chain.split(/([,:])/)) {
    if (layer !== undefined) {
      if (token.startsWith('l-') && token !== 'l-end') {
        throw badRequest(`Invalid transformation "${token}": a layer cannot contain another layer (in "${layer.slice(0, 100)}")`);
      }
      layer += token;
      if (token === 'l-end') {
        steps[steps.length - 1].push(layer);
        layer = undefined;
      }
    } else if (token === ':') steps.push([]);
    else if (token.startsWith('l-') && token !== 'l-end') layer = token;
    else if (token !== ',' && token !== '') steps[steps.length - 1].push(token);
  }
  if (layer !== undefined) throw badRequest(`Invalid transformation "${layer.slice(0, 100)}": a layer must end with l-end`);
  return steps;
}

/** Parses a chain into steps of raw parameters, expanding `n-<name>`. */
export function parseChain(chain: string, ctx: ChainContext): RawParameter[][] {
  const steps: RawParameter[][] = [];
  for (const step of splitSteps(chain)) {
    // A named transformation stands for its own chain: its first step merges into the
    // current one, any further steps follow it.
    let current: RawParameter[] = [];
    for (const raw of step) {
      const param = splitParameter(raw);
      if (param.key !== 'n') {
        current.push(param);
        continue;
      }
      const named = Object.hasOwn(ctx.namedTransformations, param.value) ? ctx.namedTransformations[param.value] : undefined;
      if (named === undefined) {
        const known = Object.keys(ctx.namedTransformations);
        throw badRequest(`Invalid transformation "${raw}": no named transformation "${param.value}" is configured${known.length ? ` (known: ${known.join(', ')})` : ''}`);
      }
      const namedSteps = splitSteps(named).map((s) => s.map(splitParameter));
      if (namedSteps.some((s) => s.some((p) => p.key === 'n'))) {
        throw badRequest(`Invalid transformation "${raw}": a named transformation cannot use another one`);
      }
      current.push(...namedSteps[0]);
      for (const extra of namedSteps.slice(1)) {
        steps.push(current);
        current = [...extra];
      }
    }
    if (current.length > 0) steps.push(current);
  }
  return steps;
}
