// Which steps an animation survives: each operation says it for itself, and an animation stays
// animated only when every operation is safe for every step. Without pixels; the pixel tests
// (transformations.test.ts) check the frames sharp renders.

import { STEP_OPERATIONS, supportsAnimation } from '../lambda/image/operations';

type Step = Parameters<typeof supportsAnimation>[0][number];

const black = { r: 0, g: 0, b: 0, alpha: 1 };

describe('an animation stays animated only through steps every operation can run on all frames', () => {
  it('resizes, left-right mirrors and effects keep the frames', () => {
    const kept: Step[] = [
      {},
      { width: { px: 100 }, height: { px: 80 } },
      { width: { px: 100 }, crop: 'at_max', focus: 'top_left' },
      { flip: 'h' },
      { blur: 5, grayscale: true, sharpen: 10, contrast: true, unsharpMask: { radius: 2, sigma: 1, amount: 0.8, threshold: 0 } },
      { background: black },
    ];
    for (const step of kept) expect([step, supportsAnimation([step])]).toEqual([step, true]);
    expect(supportsAnimation(kept)).toBe(true);
    expect(supportsAnimation([])).toBe(true);
  });

  it('trim, crop modes, saliency, rotations, top-bottom mirrors, rounded corners and borders render the first frame', () => {
    const firstFrame: Step[] = [
      { trim: 10 },
      { width: { px: 100 }, height: { px: 80 }, cropMode: 'extract' },
      { width: { px: 100 }, height: { px: 80 }, cropMode: 'pad_extract' },
      { width: { px: 100 }, height: { px: 80 }, cropMode: 'pad_resize' },
      { width: { px: 100 }, height: { px: 80 }, focus: 'auto' },
      { width: { px: 100 }, height: { px: 80 }, focus: 'face' },
      { rotate: 90 },
      { rotate: 180 },
      { rotate: 45 },
      { flip: 'v' },
      { flip: 'h_v' },
      { radius: 10 },
      { radius: 'max' },
      { border: { width: 2, colour: black } },
    ];
    for (const step of firstFrame) {
      expect([step, supportsAnimation([step])]).toEqual([step, false]);
      // One unsafe step anywhere in the chain is enough.
      expect(supportsAnimation([{ width: { px: 100 } }, step])).toBe(false);
    }
  });

  it('each unsafe step is refused by exactly one operation: its own', () => {
    const refusals = (step: Step) => STEP_OPERATIONS.filter((operation) => !operation.animationSafe(step)).length;
    expect(refusals({ trim: 10 })).toBe(1);
    expect(refusals({ rotate: 90 })).toBe(1);
    expect(refusals({ flip: 'v' })).toBe(1);
    expect(refusals({ radius: 10 })).toBe(1);
    expect(refusals({ border: { width: 2, colour: black } })).toBe(1);
    expect(refusals({ cropMode: 'extract', focus: 'auto' })).toBe(1);
  });
});
