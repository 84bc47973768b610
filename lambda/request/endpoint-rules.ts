// Abuse controls of an endpoint: what an unsigned endpoint agrees to
// render. Every distinct URL is a render someone pays for; these rules bound that set. Pure,
// checked while the plan is built, before any I/O.

import type { EndpointConfig, LimitsConfig } from '../config';
import { badRequest } from '../errors';
import { splitParameter } from './chain';
import type { PlanDraft } from './plan-types';

const NAMED_ONLY_RULE = 'this endpoint renders only named transformations (n-<name>, Cloudinary t_<name>) and orig-true (endpoints[].transformations is "named-only")';

/**
 * `transformations: "named-only"`: every parameter written in the URL is `n-<name>` or
 * `orig-true`. Checked on the chains as written, before named transformations are expanded
 * (their content comes from the configuration). A Cloudinary `t_<name>` arrives here as `n-<name>`.
 */
export function checkNamedOnly(chains: readonly string[], endpoint: EndpointConfig): void {
  if (endpoint.transformations !== 'named-only') return;
  for (const chain of chains) {
    for (const raw of chain.split(/[:,]/)) {
      if (raw === '' || raw === 'orig-true') continue;
      if (splitParameter(raw).key === 'n') continue;
      throw badRequest(`Invalid transformation "${raw.slice(0, 100)}": ${NAMED_ONLY_RULE}`);
    }
  }
}

/**
 * `widths: [320, 640, …]`: the width a step resizes to, `w × dpr`, is rounded up to the next
 * allowed width; `dpr` is folded into it, and an `h` given with `w` is scaled by the same
 * factor, so the box keeps its shape. Refused (400): a width above the largest, a fraction
 * (`w-0.5`: its size is known only from the input), and `h` without `w`. Applies to every step,
 * named transformations included.
 */
export function snapToAllowedWidth(draft: PlanDraft, endpoint: EndpointConfig, limits: LimitsConfig): void {
  const widths = endpoint.widths;
  if (!widths) return;
  const { step, given } = draft;
  const list = `one of ${widths.join(', ')} (endpoints[].widths)`;
  const refuse = (key: string, rule: string) => badRequest(`Invalid transformation "${given.get(key)?.raw ?? key}": ${rule}`);

  // Both would make the render wider than the width on the list: c-at_least covers the box
  // (w-320,h-8000 renders 8000 wide), a border adds to every side.
  if (step.crop === 'at_least') throw refuse('c', `c-at_least is not available on this endpoint: it renders wider than w, and the widths are ${list}`);
  if (step.border) throw refuse('b', `borders are not available on this endpoint: they render wider than w, and the widths are ${list}`);
  if (step.width === undefined) {
    if (step.height !== undefined) throw refuse('h', `h needs a w in the same step on this endpoint, whose widths are ${list}`);
    return;
  }
  if ('fraction' in step.width) throw refuse('w', `w must be a width in pixels on this endpoint: ${list}`);
  if (step.height && 'fraction' in step.height) throw refuse('h', `h must be in pixels on this endpoint, whose widths are ${list}`);

  const dpr = step.dpr ?? 1;
  const requested = Math.round(step.width.px * dpr);
  const allowed = widths.find((w) => w >= requested);
  if (allowed === undefined) {
    const asked = step.dpr === undefined ? `w-${step.width.px}` : `w-${step.width.px} × dpr-${step.dpr} = ${requested}`;
    throw refuse(step.dpr === undefined ? 'w' : 'dpr', `the width must be at most ${widths[widths.length - 1]}, the largest of this endpoint's widths, ${list} (${asked})`);
  }
  if (step.height) {
    const height = Math.max(1, Math.round((step.height.px * dpr * allowed) / requested));
    if (height > limits.maxOutputDimension) {
      throw refuse('h', `small enough that the box, scaled to the width ${allowed} of this endpoint's widths, stays within ${limits.maxOutputDimension} (limits.maxOutputDimension): h would be ${height}`);
    }
    step.height = { px: height };
  }
  step.width = { px: allowed };
  delete step.dpr;
}
