// README "URL reference": endpoints, the transformation segment and query, path decoding, the signature
// text. The chain grammar and the plan are in parameters.test.ts.

import { parseConfig } from '../lambda/config';
import { HttpError } from '../lambda/errors';
import { parseRequestUrl } from '../lambda/request/parse-url';

const config = parseConfig({
  origins: [{ name: 'a', type: 's3', bucket: 'b' }],
  endpoints: [
    { prefix: '', origins: ['a'] },
    { prefix: '/shop', origins: ['a'] },
    { prefix: '/shop/images', origins: ['a'] },
  ],
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
