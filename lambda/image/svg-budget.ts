// The memory budget in words, and an SVG's own costs held to it before drawing: its filters'
// surfaces and the images it embeds. Apart from the cost model (cost.ts), which the SVG drawing
// cannot import (cost.ts reads the operations, which draw layers, which draw SVGs).

import { PROCESS_BASELINE_MB, renderBudgetMB, type LimitsConfig } from '../config';
import { limitExceeded } from '../errors';
import { SVG_FILTER_PRIMITIVE, type SvgEmbeds } from './svg-embeds';

/**
 * The budget a request's estimate is held to, in words: `limits.memoryBudgetMB`, less what
 * the cache of originals may hold across requests (its bytes are not part of the estimate).
 */
export function budgetText(limits: LimitsConfig): string {
  const cache = limits.originalCacheMB;
  return cache === 0
    ? `the budget is ${limits.memoryBudgetMB} MB (limits.memoryBudgetMB)`
    : `the budget is ${renderBudgetMB(limits)} MB (limits.memoryBudgetMB ${limits.memoryBudgetMB} less limits.originalCacheMB ${cache})`;
}

/** librsvg's peak per pixel of an image an SVG embeds: a 7000×7000 PNG in a 10×10 SVG peaked 527 MiB above the process (10.8 bytes a pixel). */
const EMBEDDED_BYTES_PER_PIXEL = 11;

/**
 * librsvg keeps each filter primitive's result as a surface of the whole drawing (4 bytes a
 * pixel), plus the source and the result: measured, a 2048² drawing with 60 primitives peaked
 * at 1176 MiB and with 110 at 1970 MiB. The model's pixel costs do not see that, so an SVG
 * with filters is held to the memory budget here, before it is drawn.
 */
export function checkSvgFilters(svg: Buffer, drawnPixels: number, limits: LimitsConfig, embeds?: SvgEmbeds): void {
  const primitives = (svg.toString('utf8').match(SVG_FILTER_PRIMITIVE)?.length ?? 0) + (embeds?.nestedFilterPrimitives ?? 0);
  const embedded = embeds?.pixels ?? 0;
  if (primitives === 0 && embedded === 0) return;
  // The images an SVG embeds are decoded whole (svg-embeds.ts), beside the filters' surfaces.
  const filterBytes = primitives > 0 ? drawnPixels * 4 * (primitives + 2) : 0;
  const memoryMiB = PROCESS_BASELINE_MB + (svg.length + filterBytes + embedded * EMBEDDED_BYTES_PER_PIXEL) / 2 ** 20;
  if (memoryMiB > renderBudgetMB(limits)) {
    const what = [primitives > 0 && `the SVG's ${primitives} filter primitives, drawn at ${drawnPixels} pixels`, embedded > 0 && `the ${embedded} pixels of the images it embeds`].filter(Boolean).join(', and ');
    throw limitExceeded(`This request is over the cost limits: ${what}, would need about ${Math.ceil(memoryMiB)} MB at peak; ${budgetText(limits)}`, true);
  }
}
