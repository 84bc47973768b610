// Spec sections 1 and 2: endpoints, the transformation segment and query, path decoding, chain grammar.

import { parseConfig } from '../lambda/config';
import { HttpError } from '../lambda/errors';
import { parseChain, splitParameter } from '../lambda/request/chain';
import { parseRequestUrl } from '../lambda/request/parse-url';
import { buildPlan } from '../lambda/request/plan';

const config = parseConfig({
  origins: [{ name: 'a', type: 's3', bucket: 'b' }],
  endpoints: [
    { prefix: '', origins: ['a'] },
    { prefix: '/shop', origins: ['a'] },
    { prefix: '/shop/images', origins: ['a'] },
  ],
  namedTransformations: { thumb: 'w-100,h-100', twostep: 'w-400:w-100' },
});
const endpoints = config.endpoints;

function parse(path: string, query = '') {
  return parseRequestUrl(endpoints, path, query);
}

function rejection(fn: () => unknown): HttpError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(HttpError);
    return error as HttpError;
  }
  throw new Error('expected an HttpError');
}

describe('1. endpoint prefix: the longest prefix matching whole segments wins', () => {
  it('refuses a percent-encoded prefix that would reach another endpoint (e.g. around a signature requirement)', () => {
    expect(rejection(() => parse('/%73hop/a.jpg')).message).toMatch(/^Invalid path: the endpoint prefix "\/shop" must be written without percent-encoding/);
    expect(rejection(() => parse('/shop%2Fimages/a.jpg')).status).toBe(400);
    expect(parse('/shop/im%61ges.jpg').path).toBe('images.jpg');
  });

  it('picks the longest matching prefix', () => {
    expect(parse('/shop/images/a.jpg').endpoint.prefix).toBe('shop/images');
    expect(parse('/shop/a.jpg').endpoint.prefix).toBe('shop');
    expect(parse('/a.jpg').endpoint.prefix).toBe('');
  });

  it('matches whole segments only', () => {
    const parsed = parse('/shopping/a.jpg');
    expect(parsed.endpoint.prefix).toBe('');
    expect(parsed.path).toBe('shopping/a.jpg');
  });

  it('answers 404 when no endpoint matches', () => {
    const only = parseConfig({ origins: [{ name: 'a', type: 's3', bucket: 'b' }], endpoints: [{ prefix: '/img', origins: ['a'] }] });
    expect(rejection(() => parseRequestUrl(only.endpoints, '/other/a.jpg', '')).status).toBe(404);
  });
});

describe('1. transformation segment and query form', () => {
  it('takes the first segment after the prefix when it starts with tr:', () => {
    const parsed = parse('/shop/tr:w-300,h-200/products/shoe.jpg');
    expect(parsed.chains).toEqual(['w-300,h-200']);
    expect(parsed.path).toBe('products/shoe.jpg');
  });

  it('does not treat a later tr: segment as a chain', () => {
    expect(parse('/products/tr:w-300/shoe.jpg').path).toBe('products/tr:w-300/shoe.jpg');
  });

  it('accepts ?tr= and runs the path chain first, then the query chain', () => {
    expect(parse('/tr:w-300/a.jpg', 'tr=rt-90').chains).toEqual(['w-300', 'rt-90']);
    expect(parse('/a.jpg', 'tr=w-100%2Ch-50').chains).toEqual(['w-100,h-50']);
  });

  it('ignores other query parameters (Cloudinary SDKs append ?_a=...)', () => {
    const parsed = parse('/a.jpg', '_a=BAMAK+Ri0&tr=w-10');
    expect(parsed.chains).toEqual(['w-10']);
    expect(parsed.path).toBe('a.jpg');
  });
});

describe('1. path decoding', () => {
  it('percent-decodes exactly once', () => {
    expect(parse('/my%20folder/a%2520b.jpg').path).toBe('my folder/a%20b.jpg');
  });

  it('keeps + as a literal plus', () => {
    expect(parse('/image+example.jpg').path).toBe('image+example.jpg');
    expect(parse('/image%2Bexample.jpg').path).toBe('image+example.jpg');
  });

  it('decodes unicode', () => {
    expect(parse('/caf%C3%A9/%E5%86%99%E7%9C%9F.jpg').path).toBe('café/写真.jpg');
  });

  it.each([
    ['a .. segment', '/a/../b.jpg'],
    ['an encoded .. segment', '/a/%2e%2e/b.jpg'],
    ['a . segment', '/./b.jpg'],
    ['a NUL byte', '/a%00.jpg'],
    ['an empty path', '/'],
    ['an empty path after the chain', '/tr:w-10/'],
    ['malformed percent-encoding', '/a%zz.jpg'],
    ['a path longer than an S3 key can be', `/${'%C3%A9'.repeat(513)}.jpg`],
  ])('answers 400 for %s', (_what, path) => {
    const error = rejection(() => parse(path));
    expect(error.status).toBe(400);
    expect(error.code).toBe('EINVAL');
    expect(error.message).toMatch(/^Invalid path/);
  });
});

describe('1. signature text: the URL after the prefix, with the tr query and nothing else', () => {
  it('keeps the tr segment and the tr query as received; drops what CloudFront drops', () => {
    const parsed = parse('/shop/tr:w-300/a%20b.jpg', 'tr=h-10&ik-t=123&x=1&ik-s=abc');
    expect(parsed.signedText).toBe('tr:w-300/a%20b.jpg?tr=h-10');
    expect(parsed.signature).toBe('abc');
    expect(parsed.expires).toBe('123');
  });
});

describe('2. chain grammar', () => {
  it('splits steps on ":" and parameters on ","', () => {
    const steps = parseChain('w-300,h-200:rt-90', { namedTransformations: {} });
    expect(steps.map((s) => s.map((p) => p.raw))).toEqual([['w-300', 'h-200'], ['rt-90']]);
  });

  it('takes the key before the first "-", and keeps "-" in values', () => {
    expect(splitParameter('ar-16-9')).toMatchObject({ key: 'ar', value: '16-9' });
    expect(splitParameter('b-5-FF0000')).toMatchObject({ key: 'b', value: '5-FF0000' });
    expect(splitParameter('rt-N90')).toMatchObject({ key: 'rt', value: 'N90' });
  });

  it('includes the effect name in e- keys', () => {
    expect(splitParameter('e-grayscale')).toMatchObject({ key: 'e-grayscale', value: '' });
    expect(splitParameter('e-sharpen-8')).toMatchObject({ key: 'e-sharpen', value: '8' });
    expect(splitParameter('e-usm-2-2-0.8-0.024')).toMatchObject({ key: 'e-usm', value: '2-2-0.8-0.024' });
  });

  it('expands named transformations in place', () => {
    const steps = parseChain('n-thumb,q-50:n-twostep', { namedTransformations: config.namedTransformations });
    expect(steps.map((s) => s.map((p) => p.raw))).toEqual([['w-100', 'h-100', 'q-50'], ['w-400'], ['w-100']]);
  });

  it('answers 400 naming an unknown named transformation', () => {
    const error = rejection(() => parseChain('n-nope', { namedTransformations: config.namedTransformations }));
    expect(error.message).toBe('Invalid transformation "n-nope": no named transformation "nope" is configured (known: thumb, twostep)');
  });
});

describe('2-3. plan: the foundation parameters', () => {
  const plan = (path: string, query = '') => buildPlan(parse(path, query), config);

  it('plans w, h, c, q and f', () => {
    const p = plan('/tr:w-300,h-0.5,c-maintain_ratio,q-60,f-jpg/a.jpg');
    expect(p.steps).toEqual([{ width: { px: 300 }, height: { fraction: 0.5 }, crop: 'maintain_ratio' }]);
    expect(p.output).toEqual({ quality: 60, format: 'jpeg' });
    expect(p.transformed).toBe(true);
  });

  it('runs the path chain before the query chain, as separate steps', () => {
    expect(plan('/tr:w-300/a.jpg', 'tr=w-100').steps).toEqual([{ width: { px: 300 } }, { width: { px: 100 } }]);
  });

  it('plans nothing for a bare path', () => {
    const p = plan('/a.jpg');
    expect(p).toMatchObject({ steps: [], output: {}, original: false, transformed: false });
  });

  it.each([
    ['w-abc', 'Invalid transformation "w-abc": w must be a positive integer up to 8192 (limits.maxOutputDimension) or a fraction between 0 and 1'],
    ['w-0', 'Invalid transformation "w-0": w must be'],
    ['w-9000', 'Invalid transformation "w-9000": w must be'],
    ['q-101', 'Invalid transformation "q-101": q must be an integer from 1 to 100'],
    ['f-bmp', 'Invalid transformation "f-bmp": f must be one of auto, webp, avif, jpg, jpeg, png, gif, orig'],
    ['zz-1', 'Invalid transformation "zz-1": unknown parameter "zz"'],
  ])('answers 400 for %s, naming the parameter and what it accepts', (chain, message) => {
    const error = rejection(() => plan(`/tr:${chain}/a.jpg`));
    expect(error.status).toBe(400);
    expect(error.message.startsWith(message)).toBe(true);
  });

  it('answers 400 past the configured number of steps', () => {
    const chain = Array.from({ length: config.limits.maxSteps + 1 }, () => 'w-10').join(':');
    expect(rejection(() => plan(`/tr:${chain}/a.jpg`)).message).toMatch(/limit is 10 \(limits.maxSteps\)/);
  });
});
