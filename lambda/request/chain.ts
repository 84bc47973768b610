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
}

export interface ChainContext {
  namedTransformations: Record<string, string>;
}

/** Splits one parameter into key and value (README "URL reference"). */
export function splitParameter(raw: string): RawParameter {
  if (raw.startsWith('e-')) {
    const dash = raw.indexOf('-', 2);
    return dash < 0
      ? { key: raw, value: '', raw }
      : { key: raw.slice(0, dash), value: raw.slice(dash + 1), raw };
  }
  const dash = raw.indexOf('-');
  return dash < 0 ? { key: raw, value: '', raw } : { key: raw.slice(0, dash), value: raw.slice(dash + 1), raw };
}

function splitSteps(chain: string): string[][] {
  return chain.split(':').map((step) => step.split(',').filter((p) => p !== ''));
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
