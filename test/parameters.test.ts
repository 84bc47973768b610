// README "URL reference" and "Parameters": the request plan, built before any I/O. One describe per rule; every 400
// path names the parameter and what it would have accepted.

import { parseConfig, type AfterimageConfig, type AfterimageConfigInput } from '../lambda/config';
import { HttpError } from '../lambda/errors';
import { parseChain, splitParameter } from '../lambda/request/chain';
import { buildPlan, type RequestPlan } from '../lambda/request/plan';
import { PARAMETER_LIST } from '../lambda/request/parameters';
import { parseRequestUrl } from '../lambda/request/parse-url';

function configWith(extra: Partial<AfterimageConfigInput> = {}): AfterimageConfig {
  return parseConfig({ origins: [{ name: 'main', type: 's3', bucket: 'b' }], ...extra });
}

const defaultConfig = configWith({ namedTransformations: { thumb: 'w-100,h-100', two: 'w-200:rt-90' } });

function plan(chain: string, config = defaultConfig, query = ''): RequestPlan {
  return buildPlan(parseRequestUrl(config.endpoints, `/tr:${chain}/a.jpg`, query), config);
}

/** The 400 message of a chain (fails the test when the chain is accepted). */
function rejection(chain: string, config = defaultConfig): string {
  try {
    plan(chain, config);
  } catch (error) {
    expect(error).toBeInstanceOf(HttpError);
    expect((error as HttpError).status).toBe(400);
    expect((error as HttpError).code).toBe('EINVAL');
    return (error as HttpError).message;
  }
  throw new Error(`expected "${chain}" to be rejected`);
}

const step = (chain: string) => plan(chain).steps[0];

describe('the registry has one entry per parameter of README "Parameters"', () => {
  it('lists every key once', () => {
    const keys = PARAMETER_LIST.map((p) => p.key);
    expect(new Set(keys).size).toBe(keys.length);
    expect([...keys].sort()).toEqual(
      ['w', 'h', 'ar', 'dpr', 'c', 'cm', 'fo', 'x', 'y', 'xc', 'yc', 'q', 'f', 'pr', 'lo', 'md', 'cp', 'bg', 'b', 'r', 'bl',
        'e-grayscale', 'e-sharpen', 'e-contrast', 'e-usm', 'rt', 'fl', 't', 'orig', 'di'].sort(),
    );
  });

  it('the plan is a plain JSON value', () => {
    const p = plan('w-300,h-200,bg-red,b-2_000000,e-usm-2-2-0.8-0.024:rt-N90');
    expect(JSON.parse(JSON.stringify(p))).toEqual(p);
  });
});

describe('grammar: steps split on ":", parameters on ",", the key before the first "-"', () => {
  it('splits steps on ":" and parameters on ","', () => {
    const steps = parseChain('w-300,h-200:rt-90', { namedTransformations: {} });
    expect(steps.map((s) => s.map((p) => p.raw))).toEqual([['w-300', 'h-200'], ['rt-90']]);
  });

  it('values may contain "-"', () => {
    expect(splitParameter('ar-16-9')).toMatchObject({ key: 'ar', value: '16-9' });
    expect(splitParameter('b-5-FF0000')).toMatchObject({ key: 'b', value: '5-FF0000' });
    expect(splitParameter('rt-N90')).toMatchObject({ key: 'rt', value: 'N90' });
    expect(step('ar-16-9,w-160')).toEqual({ aspectRatio: { width: 16, height: 9 }, width: { px: 160 } });
    expect(step('b-5-FF0000').border).toEqual({ width: 5, colour: { r: 255, g: 0, b: 0, alpha: 1 } });
  });

  it('effects keep their name in the key', () => {
    expect(splitParameter('e-grayscale')).toMatchObject({ key: 'e-grayscale', value: '' });
    expect(splitParameter('e-sharpen-8')).toMatchObject({ key: 'e-sharpen', value: '8' });
    expect(splitParameter('e-usm-2-2-0.8-0.024')).toMatchObject({ key: 'e-usm', value: '2-2-0.8-0.024' });
    expect(step('e-sharpen-8').sharpen).toBe(8);
    expect(step('e-usm-2-2-0.8-0.024').unsharpMask).toEqual({ radius: 2, sigma: 2, amount: 0.8, threshold: 0.024 });
  });

  it('N writes a negative number', () => {
    expect(step('rt-N90').rotate).toBe(270);
  });

  it('steps run in order; the path chain before the query chain, as separate steps', () => {
    const p = plan('w-400', defaultConfig, 'tr=h-100');
    expect(p.steps).toEqual([{ width: { px: 400 } }, { height: { px: 100 } }]);
    expect(plan('w-300', defaultConfig, 'tr=w-100').steps).toEqual([{ width: { px: 300 } }, { width: { px: 100 } }]);
  });

  it('the order written inside a step does not matter', () => {
    expect(step('rt-90,w-300')).toEqual(step('w-300,rt-90'));
  });
});

describe('the plan: the pixel work in steps, the encoder\'s options in the output', () => {
  it('plans w, h, c, q and f', () => {
    const p = plan('w-300,h-0.5,c-maintain_ratio,q-60,f-jpg');
    expect(p.steps).toEqual([{ width: { px: 300 }, height: { fraction: 0.5 }, crop: 'maintain_ratio' }]);
    expect(p.output).toEqual({ quality: 60, format: 'jpeg' });
    expect(p.transformed).toBe(true);
  });

  it('plans nothing for a bare path', () => {
    const p = buildPlan(parseRequestUrl(defaultConfig.endpoints, '/a.jpg', ''), defaultConfig);
    expect(p).toMatchObject({ steps: [], output: {}, original: false, transformed: false });
  });
});

describe('w, h: integer ≥ 1 or a fraction', () => {
  it('pixels and fractions', () => {
    expect(step('w-300,h-0.5')).toEqual({ width: { px: 300 }, height: { fraction: 0.5 } });
  });

  it.each(['w-abc', 'w-0', 'w-1.5', 'w-N3', 'h-'])('%s is a 400 naming the parameter and what it accepts', (chain) => {
    const key = chain[0];
    expect(rejection(chain)).toBe(`Invalid transformation "${chain}": ${key} must be a positive integer up to 8192 (limits.maxOutputDimension) or a fraction between 0 and 1`);
  });

  it('a dimension over limits.maxOutputDimension is a 400 naming the limit', () => {
    expect(rejection('w-8193')).toContain('w must be a positive integer up to 8192 (limits.maxOutputDimension)');
    expect(rejection('w-9000')).toMatch(/^Invalid transformation "w-9000": w must be a positive integer up to 8192 \(limits.maxOutputDimension\)/);
    const small = configWith({ limits: { maxOutputDimension: 1000 } });
    expect(rejection('h-1001', small)).toContain('h must be a positive integer up to 1000 (limits.maxOutputDimension)');
    expect(plan('h-1000', small).steps[0].height).toEqual({ px: 1000 });
  });
});

describe('ar: with exactly one of w/h; ignored when both are given', () => {
  it('is kept with one side', () => {
    expect(step('w-300,ar-4-3').aspectRatio).toEqual({ width: 4, height: 3 });
    expect(step('ar-1.5-1').aspectRatio).toEqual({ width: 1.5, height: 1 });
  });

  it('is dropped with both sides', () => {
    expect(step('w-300,h-100,ar-4-3')).toEqual({ width: { px: 300 }, height: { px: 100 } });
  });

  it.each(['ar-16', 'ar-0-9', 'ar-a-b', 'ar-16-9-1'])('%s is a 400', (chain) => {
    expect(rejection(chain)).toContain(`Invalid transformation "${chain}": ar must be two positive numbers, width and height, as in ar-16-9`);
  });
});

describe('dpr: 0.1-5, multiplies w and h', () => {
  it('is kept with w or h', () => {
    expect(step('w-100,dpr-2').dpr).toBe(2);
  });

  it.each(['dpr-0', 'dpr-5.5', 'dpr-x'])('%s is out of range', (chain) => {
    expect(rejection(`w-100,${chain}`)).toContain(`Invalid transformation "${chain}": dpr must be a number from 0.1 to 5`);
  });

  it('without w or h is a 400 (conflicting options)', () => {
    expect(rejection('dpr-2')).toBe('Invalid transformation "dpr-2": dpr must be used with w or h in the same step');
  });

  it('w × dpr over the limit is a 400', () => {
    expect(rejection('w-5000,dpr-2')).toBe('Invalid transformation "dpr-2": dpr must be small enough that w × dpr stays within 8192 (limits.maxOutputDimension) (w-5000 × dpr-2 = 10000)');
  });
});

describe('c: crop strategies', () => {
  it.each(['maintain_ratio', 'maintain_ratio_limit', 'force', 'at_max', 'at_max_enlarge', 'at_least'])('c-%s', (c) => {
    expect(step(`w-10,h-10,c-${c}`).crop).toBe(c);
  });

  it('anything else is a 400 listing the strategies', () => {
    expect(rejection('c-fill')).toBe('Invalid transformation "c-fill": c must be one of maintain_ratio, maintain_ratio_limit, force, at_max, at_max_enlarge, at_least');
  });
});

describe('cm: crop modes need a complete box', () => {
  it.each(['pad_resize', 'extract', 'pad_extract'])('cm-%s', (cm) => {
    expect(step(`w-10,h-10,cm-${cm}`).cropMode).toBe(cm);
    expect(step(`w-10,ar-1-1,cm-${cm}`).cropMode).toBe(cm);
  });

  it('an unknown mode is a 400', () => {
    expect(rejection('w-1,h-1,cm-fill')).toBe('Invalid transformation "cm-fill": cm must be one of pad_resize, extract, pad_extract');
  });

  it.each(['cm-extract', 'w-100,cm-extract', 'h-100,cm-pad_resize', 'cm-pad_extract,ar-1-1'])('%s (no complete box) is a 400', (chain) => {
    expect(rejection(chain)).toMatch(/^Invalid transformation "cm-[a-z_]+": cm must be used with both w and h \(or one of them and ar\)$/);
  });

  it('c-force or c-at_least with cm-pad_resize conflict; c-at_max means no enlargement', () => {
    expect(rejection('w-10,h-10,cm-pad_resize,c-force')).toBe('Invalid transformation "c-force": c must be maintain_ratio, at_max or at_max_enlarge when used with cm-pad_resize');
    expect(step('w-10,h-10,cm-pad_resize,c-at_max')).toMatchObject({ cropMode: 'pad_resize', crop: 'at_max' });
  });

  it('c-maintain_ratio_limit crops, so it conflicts with cm-pad_resize', () => {
    expect(rejection('w-10,h-10,cm-pad_resize,c-maintain_ratio_limit')).toBe('Invalid transformation "c-maintain_ratio_limit": c must be maintain_ratio, at_max or at_max_enlarge when used with cm-pad_resize');
  });

  it('a scaling strategy with cm-extract conflicts', () => {
    expect(rejection('w-10,h-10,cm-extract,c-at_max')).toBe('Invalid transformation "c-at_max": c must be left out with cm-extract, which never scales');
  });
});

describe('fo: focus', () => {
  it.each(['center', 'top', 'bottom', 'left', 'right', 'top_left', 'top_right', 'bottom_left', 'bottom_right', 'auto', 'face'])('fo-%s', (fo) => {
    expect(step(`w-10,h-10,fo-${fo}`).focus).toBe(fo);
  });

  it('anything else is a 400', () => {
    expect(rejection('fo-north')).toContain('fo must be one of center, top, bottom, left, right, top_left, top_right, bottom_left, bottom_right, auto, face');
  });
});

describe('x, y, xc, yc: the region of cm-extract', () => {
  it('top-left corner or centre', () => {
    expect(step('w-10,h-10,cm-extract,x-5,y-6')).toMatchObject({ x: 5, y: 6 });
    expect(step('w-10,h-10,cm-pad_extract,xc-50,yc-60')).toMatchObject({ xCenter: 50, yCenter: 60 });
  });

  it.each(['x-N1', 'y-1.5', 'xc-a'])('%s is a 400', (chain) => {
    expect(rejection(`w-10,h-10,cm-extract,${chain}`)).toContain(`must be an integer from 0 to 49999999 (limits.maxInputPixels - 1)`);
  });

  it('x/y with xc/yc conflict', () => {
    expect(rejection('w-10,h-10,cm-extract,x-1,yc-5')).toBe(`Invalid transformation "yc-5": yc must be left out when x is given: give the region's top-left corner (x, y) or its centre (xc, yc), not both`);
  });

  it('without cm-extract or cm-pad_extract is a 400', () => {
    expect(rejection('w-10,h-10,x-5')).toBe('Invalid transformation "x-5": x must be used with cm-extract or cm-pad_extract');
    expect(rejection('w-10,h-10,cm-pad_resize,yc-5')).toBe('Invalid transformation "yc-5": yc must be used with cm-extract or cm-pad_extract');
  });
});

describe('output options: q, f, pr, lo, md, cp apply to the final image', () => {
  it('are collected from any step', () => {
    const p = plan('w-10,q-50:f-jpg,pr-true:lo-true,md-true,cp-false');
    expect(p.output).toEqual({ quality: 50, format: 'jpeg', progressive: true, lossless: true, keepMetadata: true, keepColourProfile: false });
    expect(p.steps).toEqual([{ width: { px: 10 } }]);
  });

  it.each([
    ['q-0', 'q must be an integer from 1 to 100, auto or auto_best, auto_good, auto_eco, auto_low'],
    ['q-101', 'q must be an integer from 1 to 100, auto or auto_best, auto_good, auto_eco, auto_low'],
    ['f-bmp', 'f must be one of auto, webp, avif, jpg, jpeg, png, gif, orig'],
    ['pr-yes', 'pr must be true or false'],
    ['lo-1', 'lo must be true or false'],
    ['md-', 'md must be true or false'],
    ['cp-on', 'cp must be true or false'],
  ])('%s is a 400', (chain, message) => {
    expect(rejection(chain)).toBe(`Invalid transformation "${chain}": ${message}`);
  });
});

describe('bg: RRGGBB, RRGGBBAA (opacity 00-99) or a CSS name', () => {
  it.each([
    ['bg-FF0000', { r: 255, g: 0, b: 0, alpha: 1 }],
    ['bg-00ff0050', { r: 0, g: 255, b: 0, alpha: 0.5 }],
    ['bg-FFFFFF00', { r: 255, g: 255, b: 255, alpha: 0 }],
    ['bg-rebeccapurple', { r: 0x66, g: 0x33, b: 0x99, alpha: 1 }],
  ])('%s', (chain, colour) => {
    const p = plan(chain);
    expect(p.steps[0].background).toEqual(colour);
    expect(p.output.background).toEqual(colour);
  });

  it.each(['bg-F00', 'bg-GG0000', 'bg-FF0000AA', 'bg-notacolour'])('%s is a 400', (chain) => {
    expect(rejection(chain)).toBe(`Invalid transformation "${chain}": bg must be RRGGBB, RRGGBBAA (AA = opacity 00-99) or a CSS colour name`);
  });
});

describe('b: border <width>_<colour>', () => {
  it('accepts "_" and "-"', () => {
    expect(step('b-3_00FF00').border).toEqual({ width: 3, colour: { r: 0, g: 255, b: 0, alpha: 1 } });
    expect(step('b-3-blue').border).toEqual({ width: 3, colour: { r: 0, g: 0, b: 255, alpha: 1 } });
  });

  it.each(['b-3', 'b-0_FF0000', 'b-x_FF0000', 'b-3_nope'])('%s is a 400', (chain) => {
    expect(rejection(chain)).toContain(`Invalid transformation "${chain}": b must be <width>_<colour>`);
  });
});

describe('r: rounded corners', () => {
  it('radius or max', () => {
    expect(step('r-20').radius).toBe(20);
    expect(step('r-max').radius).toBe('max');
  });

  it.each(['r-0', 'r-a', 'r-1.5'])('%s is a 400', (chain) => {
    expect(rejection(chain)).toBe(`Invalid transformation "${chain}": r must be an integer from 1 to 8192 (limits.maxOutputDimension), or max`);
  });
});

describe('effects: bl, e-grayscale, e-sharpen, e-contrast, e-usm', () => {
  it('values and flags', () => {
    expect(step('bl-10,e-grayscale,e-sharpen,e-contrast')).toEqual({ blur: 10, grayscale: true, sharpen: 50, contrast: true });
    expect(step('e-sharpen-80').sharpen).toBe(80);
    expect(step('e-contrast-1').contrast).toBe(true); // the Node SDK's README writes effectContrast: "1"
    expect(plan('e-grayscale-false').steps).toEqual([]);
  });

  it.each([
    ['bl-0', 'bl must be an integer from 1 to 100'],
    ['bl-101', 'bl must be an integer from 1 to 100'],
    ['e-grayscale-yes', 'e-grayscale must be written without a value (e-grayscale), or e-grayscale-true / -false'],
    ['e-sharpen-0', 'e-sharpen must be written without a value (e-sharpen) or with a strength from 1 to 100 (e-sharpen-60)'],
    ['e-contrast-9', 'e-contrast must be written without a value (e-contrast), or e-contrast-true / -false'],
    ['e-usm-2-2-0.8', 'e-usm must be e-usm-<radius>-<sigma>-<amount>-<threshold>: radius 0-100, sigma 0.01-10, amount above 0 up to 100, threshold 0-1'],
    ['e-usm-2-2-0-0.1', 'e-usm must be e-usm-<radius>-<sigma>-<amount>-<threshold>'],
    ['e-usm-2-2-1-2', 'e-usm must be e-usm-<radius>-<sigma>-<amount>-<threshold>'],
  ])('%s is a 400', (chain, message) => {
    expect(rejection(chain)).toContain(`Invalid transformation "${chain}": ${message}`);
  });

  it('an unknown effect is an unknown parameter', () => {
    expect(rejection('e-shadow')).toContain('Invalid transformation "e-shadow": unknown parameter "e-shadow" (known: w, h, ar, dpr');
  });
});

describe('rt: clockwise degrees, N for negative, auto', () => {
  it.each([
    ['rt-90', 90],
    ['rt-N90', 270],
    ['rt-450', 90],
    ['rt-45.5', 45.5],
  ])('%s', (chain, angle) => {
    expect(step(chain).rotate).toBe(angle);
  });

  it('rt-0 and rt-auto leave nothing to do (every image is auto-oriented first)', () => {
    expect(plan('rt-0').steps).toEqual([]);
    expect(plan('rt-auto').steps).toEqual([]);
  });

  it.each(['rt-x', 'rt--90', 'rt-99999'])('%s is a 400', (chain) => {
    expect(rejection(chain)).toBe(`Invalid transformation "${chain}": rt must be 0, 90, 180, 270, N90 (negative), any angle in degrees, or auto`);
  });
});

describe('fl: flips', () => {
  it('h, v, h_v, v_h', () => {
    expect(step('fl-h').flip).toBe('h');
    expect(step('fl-v').flip).toBe('v');
    expect(step('fl-h_v').flip).toBe('h_v');
    expect(step('fl-v_h').flip).toBe('h_v');
  });

  it('anything else is a 400', () => {
    expect(rejection('fl-x')).toBe('Invalid transformation "fl-x": fl must be one of h, v, h_v, v_h');
  });
});

describe('t: trim', () => {
  it('true or a threshold', () => {
    expect(step('t-true').trim).toBe(10);
    expect(step('t-40').trim).toBe(40);
  });

  it.each(['t-0', 't-100', 't-false'])('%s is a 400', (chain) => {
    expect(rejection(chain)).toBe(`Invalid transformation "${chain}": t must be true or a threshold from 1 to 99`);
  });
});

describe('orig, di, n', () => {
  it('orig-true asks for the stored bytes', () => {
    expect(plan('orig-true,w-10').original).toBe(true);
    expect(rejection('orig-false')).toBe('Invalid transformation "orig-false": orig must be true');
  });

  it('di writes "/" as "@@"', () => {
    expect(plan('di-defaults@@missing.jpg').defaultImage).toBe('defaults/missing.jpg');
    expect(rejection('di-@@..@@x.jpg')).toContain('di must be an image path');
  });

  it('n expands a named transformation in place', () => {
    const steps = parseChain('n-thumb,q-50:n-twostep', { namedTransformations: { thumb: 'w-100,h-100', twostep: 'w-400:w-100' } });
    expect(steps.map((s) => s.map((p) => p.raw))).toEqual([['w-100', 'h-100', 'q-50'], ['w-400'], ['w-100']]);
    expect(plan('n-thumb,f-png').steps).toEqual([{ width: { px: 100 }, height: { px: 100 } }]);
    expect(plan('n-two').steps).toEqual([{ width: { px: 200 } }, { rotate: 90 }]);
    expect(rejection('n-nope')).toBe('Invalid transformation "n-nope": no named transformation "nope" is configured (known: thumb, two)');
  });
});

describe('unknown keys, limits', () => {
  it('an unknown key is a 400 listing the known ones', () => {
    expect(rejection('zoom-2')).toBe(
      'Invalid transformation "zoom-2": unknown parameter "zoom" (known: w, h, ar, dpr, c, cm, fo, x, y, xc, yc, q, f, pr, lo, md, cp, bg, b, r, bl, e-grayscale, e-sharpen, e-contrast, e-usm, rt, fl, t, orig, di, l, n)',
    );
    expect(rejection('zz-1')).toMatch(/^Invalid transformation "zz-1": unknown parameter "zz" \(known: /);
  });

  it('more steps than limits.maxSteps is a 400', () => {
    const tooMany = Array.from({ length: defaultConfig.limits.maxSteps + 1 }, () => 'w-10').join(':');
    expect(rejection(tooMany)).toMatch(/limit is 10 \(limits.maxSteps\)/);
    const config = configWith({ limits: { maxSteps: 3 } });
    expect(plan('w-1:w-2:w-3', config).steps).toHaveLength(3);
    expect(rejection('w-1:w-2:w-3:w-4', config)).toBe('Invalid transformation: more than 3 steps; the limit is 3 (limits.maxSteps)');
  });

  it('a chain longer than limits.maxChainLength is a 400', () => {
    const config = configWith({ limits: { maxChainLength: 20 } });
    expect(rejection('w-100,h-100,q-50,f-png', config)).toBe('Invalid transformation: the chain is 22 characters long; the limit is 20 (limits.maxChainLength)');
  });
});
