// The geometry of a step, without pixels: the box a step asks for, the size each crop strategy
// gives, where padding and extracted regions go, and the canvas a rotation grows to. The pixel
// tests (transformations.test.ts) check that sharp produces these sizes.

import {
  cornerRadii,
  extractSpan,
  padding,
  padResizeInner,
  padResizeScale,
  placement,
  requestedBox,
  resizeTarget,
  rotatedBounds,
  spanFits,
} from '../lambda/image/geometry';

type Step = Parameters<typeof requestedBox>[0];

const px = (n: number) => ({ px: n });

describe('the box a step asks for', () => {
  it('is undefined when the step names no side', () => {
    expect(requestedBox({}, 800, 600)).toBeUndefined();
    expect(requestedBox({ blur: 5 }, 800, 600)).toBeUndefined();
  });

  it('takes pixels as given and fractions of the input, each side rounded and at least 1', () => {
    expect(requestedBox({ width: px(300) }, 800, 600)).toEqual({ width: 300, height: undefined });
    expect(requestedBox({ width: { fraction: 0.5 }, height: { fraction: 0.25 } }, 801, 600)).toEqual({ width: 401, height: 150 });
    expect(requestedBox({ width: { fraction: 0.0001 } }, 800, 600)).toEqual({ width: 1, height: undefined });
  });

  it('multiplies both sides by dpr', () => {
    expect(requestedBox({ width: px(300), height: px(200), dpr: 2 }, 800, 600)).toEqual({ width: 600, height: 400 });
    expect(requestedBox({ width: { fraction: 0.5 }, dpr: 1.5 }, 800, 600)).toEqual({ width: 600, height: undefined });
  });

  it('with ar and one side, the other side follows the ratio', () => {
    const ar = { width: 16, height: 9 };
    expect(requestedBox({ width: px(320), aspectRatio: ar }, 800, 600)).toEqual({ width: 320, height: 180 });
    expect(requestedBox({ height: px(90), aspectRatio: ar }, 800, 600)).toEqual({ width: 160, height: 90 });
  });

  it('with ar alone, is the largest box of that ratio inside the input', () => {
    expect(requestedBox({ aspectRatio: { width: 1, height: 1 } }, 800, 600)).toEqual({ width: 600, height: 600 });
    expect(requestedBox({ aspectRatio: { width: 1, height: 2 } }, 800, 600)).toEqual({ width: 300, height: 600 });
    expect(requestedBox({ aspectRatio: { width: 4, height: 1 } }, 800, 600)).toEqual({ width: 800, height: 200 });
  });

  it('with ar and both sides, keeps both sides', () => {
    expect(requestedBox({ width: px(100), height: px(100), aspectRatio: { width: 16, height: 9 } }, 800, 600)).toEqual({ width: 100, height: 100 });
  });
});

describe('the size of a resize, by crop strategy', () => {
  // An 800x600 input into a 400x400 box.
  const box = { width: px(400), height: px(400) };
  const target = (crop: Step['crop'], w = 800, h = 600) => resizeTarget({ ...box, crop }, w, h);

  it('maintain_ratio (the default) covers the box exactly and crops', () => {
    expect(target(undefined)).toEqual({ width: 400, height: 400, cover: true });
    expect(target('maintain_ratio')).toEqual({ width: 400, height: 400, cover: true });
  });

  it('force stretches to the box', () => {
    expect(target('force')).toEqual({ width: 400, height: 400, cover: false });
  });

  it('at_max fits inside the box and never enlarges', () => {
    expect(target('at_max')).toEqual({ width: 400, height: 300, cover: false });
    expect(target('at_max', 200, 100)).toEqual({ width: 200, height: 100, cover: false });
  });

  it('at_max_enlarge fits inside the box, enlarging a smaller input', () => {
    expect(target('at_max_enlarge', 200, 100)).toEqual({ width: 400, height: 200, cover: false });
  });

  it('at_least covers the box without cropping', () => {
    expect(target('at_least')).toEqual({ width: 533, height: 400, cover: false });
  });

  it('maintain_ratio_limit covers the box at a scale of at most 1; a smaller side stays as it is', () => {
    expect(target('maintain_ratio_limit')).toEqual({ width: 400, height: 400, cover: true });
    // 300x500 into 400x400: no enlargement, so the width stays 300 and only the height is cropped.
    expect(target('maintain_ratio_limit', 300, 500)).toEqual({ width: 300, height: 400, cover: true });
  });

  it('with one side, the other follows the aspect ratio; at_max and maintain_ratio_limit never enlarge', () => {
    expect(resizeTarget({ width: px(400) }, 800, 600)).toEqual({ width: 400, height: 300, cover: false });
    expect(resizeTarget({ height: px(1200) }, 800, 600)).toEqual({ width: 1600, height: 1200, cover: false });
    expect(resizeTarget({ width: px(1600), crop: 'at_max' }, 800, 600)).toEqual({ width: 800, height: 600, cover: false });
    expect(resizeTarget({ width: px(1600), crop: 'maintain_ratio_limit' }, 800, 600)).toEqual({ width: 800, height: 600, cover: false });
    expect(resizeTarget({ width: px(400), crop: 'at_max' }, 800, 600)).toEqual({ width: 400, height: 300, cover: false });
  });

  it('is undefined when the step asks for no box', () => {
    expect(resizeTarget({ crop: 'force' }, 800, 600)).toBeUndefined();
  });
});

describe('cm-pad_resize: the input fits inside the box', () => {
  it('scales to fit, enlarging unless c-at_max', () => {
    expect(padResizeScale({}, { width: 400, height: 400 }, 800, 600)).toBe(0.5);
    expect(padResizeScale({}, { width: 400, height: 400 }, 200, 100)).toBe(2);
    expect(padResizeScale({ crop: 'at_max' }, { width: 400, height: 400 }, 200, 100)).toBe(1);
  });

  it('the scaled input never exceeds the box, and is at least 1 pixel', () => {
    expect(padResizeInner({}, { width: 400, height: 400 }, 800, 600)).toEqual({ width: 400, height: 300 });
    expect(padResizeInner({ crop: 'at_max' }, { width: 400, height: 400 }, 200, 100)).toEqual({ width: 200, height: 100 });
    expect(padResizeInner({}, { width: 400, height: 400 }, 4000, 1)).toEqual({ width: 400, height: 1 });
  });
});

describe('placement and padding follow the focus', () => {
  it('places an image at the start, the end or the middle (rounded down) of the free length', () => {
    expect(placement('left', 'x', 11)).toBe(0);
    expect(placement('right', 'x', 11)).toBe(11);
    expect(placement(undefined, 'x', 11)).toBe(5);
    expect(placement('top_right', 'y', 11)).toBe(0);
    expect(placement('bottom_left', 'y', 11)).toBe(11);
    expect(placement('left', 'y', 11)).toBe(5);
  });

  it('fo-left puts all the padding on the right; the default centres it', () => {
    const inner = { width: 300, height: 200 };
    const box = { width: 400, height: 301 };
    expect(padding(inner, box, 'left')).toEqual({ left: 0, right: 100, top: 50, bottom: 51 });
    expect(padding(inner, box, undefined)).toEqual({ left: 50, right: 50, top: 50, bottom: 51 });
    expect(padding(inner, box, 'bottom_right')).toEqual({ left: 100, right: 0, top: 101, bottom: 0 });
  });
});

describe('cm-extract and cm-pad_extract: the region cut along one axis', () => {
  it('starts at x/y, else centres on xc/yc, else follows the focus', () => {
    expect(extractSpan({ cropMode: 'extract', x: 10 }, 'x', 800, 100)).toEqual({ offset: 10, length: 100 });
    expect(extractSpan({ cropMode: 'extract', xCenter: 400 }, 'x', 800, 101)).toEqual({ offset: 350, length: 101 });
    expect(extractSpan({ cropMode: 'extract', focus: 'right' }, 'x', 800, 100)).toEqual({ offset: 700, length: 100 });
    expect(extractSpan({ cropMode: 'extract' }, 'y', 600, 100)).toEqual({ offset: 250, length: 100 });
  });

  it('centres on the salient point, kept inside the input', () => {
    expect(extractSpan({ cropMode: 'extract', focus: 'auto' }, 'x', 800, 100, { x: 300, y: 0 })).toEqual({ offset: 250, length: 100 });
    expect(extractSpan({ cropMode: 'extract', focus: 'auto' }, 'x', 800, 100, { x: 790, y: 0 })).toEqual({ offset: 700, length: 100 });
    expect(extractSpan({ cropMode: 'extract', focus: 'auto' }, 'y', 600, 100, { x: 0, y: 10 })).toEqual({ offset: 0, length: 100 });
  });

  it('cm-pad_extract takes the whole axis when the region is longer than the input', () => {
    expect(extractSpan({ cropMode: 'pad_extract', x: 50 }, 'x', 300, 400)).toEqual({ offset: 0, length: 300 });
  });

  it('a region outside the input does not fit (the operation refuses it)', () => {
    const outside = extractSpan({ cropMode: 'extract', x: 750 }, 'x', 800, 100);
    expect(spanFits(outside, 800)).toBe(false);
    expect(spanFits(extractSpan({ cropMode: 'extract' }, 'x', 300, 400), 300)).toBe(false);
    expect(spanFits(extractSpan({ cropMode: 'extract', x: 700 }, 'x', 800, 100), 800)).toBe(true);
    expect(spanFits({ offset: -1, length: 10 }, 800)).toBe(false);
  });
});

describe('rt: the canvas a rotation grows to', () => {
  it('right angles keep or swap the sides', () => {
    expect(rotatedBounds(800, 600, 90)).toEqual({ width: 600, height: 800 });
    expect(rotatedBounds(800, 600, 180)).toEqual({ width: 800, height: 600 });
    expect(rotatedBounds(800, 600, 270)).toEqual({ width: 600, height: 800 });
  });

  it('other angles grow to the rotated bounding box', () => {
    // 100x100 at 45°: the diagonal, 141.42.
    expect(rotatedBounds(100, 100, 45)).toEqual({ width: 141, height: 141 });
    expect(rotatedBounds(100, 50, 30)).toEqual({ width: Math.round(100 * Math.cos(Math.PI / 6) + 50 * 0.5), height: Math.round(50 * Math.cos(Math.PI / 6) + 100 * 0.5) });
  });
});

describe('r: rounded corners', () => {
  it('a radius is at most half of each side; r-max is an ellipse', () => {
    expect(cornerRadii(20, 400, 300)).toEqual({ rx: 20, ry: 20 });
    expect(cornerRadii(500, 400, 300)).toEqual({ rx: 200, ry: 150 });
    expect(cornerRadii('max', 401, 300)).toEqual({ rx: 200.5, ry: 150 });
  });
});
