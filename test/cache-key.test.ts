// README "Fixing a stale image": the CloudFront Function rewrites every request image first, so
// one invalidation path (`/<prefix>/<image path>/!*`) reaches every cached variant of an image.
// The rules are CloudFront's ("What you need to know when invalidating paths", CloudFront
// Developer Guide): `*` only at the end, case-sensitive paths, every header value of a path
// invalidated together, and with `*` every query string. The function is run as CloudFront runs
// it (its filled-in code, a plain script), and the runtime reads its output back.

import fs from 'node:fs';
import path from 'node:path';
import { parseConfig } from '../lambda/config';
import { CANONICAL_HEADER, invalidationPathOf, viewerPathOf } from '../lambda/request/cache-key';
import { parseRequestUrl } from '../lambda/request/parse-url';
import { buildPlan } from '../lambda/request/plan';
import { type EdgeRequest, loadViewerRequest } from '../lib/edge/viewer-request-code';
import { viewerRequestCode } from '../lib/image-delivery';

const config = parseConfig({
  origins: [{ name: 'o', type: 's3', bucket: 'b' }, { name: 'cld', type: 'cloudinary-backup', bucket: 'c', folder: '/res/demo/' }],
  endpoints: [
    { prefix: '', origins: ['o'] },
    { prefix: 'sized', origins: ['o'], widths: [320, 640, 960] },
    { prefix: 'private', origins: ['o'], requireSignedUrls: true },
    { prefix: 'demo', origins: ['cld'], cloudinaryUrls: true },
  ],
  namedTransformations: { thumb: 'w-200,h-200' },
});
const edge = loadViewerRequest(viewerRequestCode(config));

const ACCEPT_CLASSES = [
  'image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8',
  'image/avif,image/webp;q=0',
  'image/webp,*/*',
  '*/*',
];

interface Sent {
  uri: string;
  query: string;
  canonical: boolean;
  accept: string;
}

/** One viewer request through the function: what CloudFront then caches and forwards. */
function viaEdge(url: string, accept = ACCEPT_CLASSES[0], headers: Record<string, string> = {}): Sent {
  const q = url.indexOf('?');
  const querystring: EdgeRequest['querystring'] = {};
  if (q >= 0) {
    for (const pair of url.slice(q + 1).split('&')) {
      const eq = pair.indexOf('=');
      querystring[eq < 0 ? pair : pair.slice(0, eq)] = { value: eq < 0 ? '' : pair.slice(eq + 1) };
    }
  }
  const request: EdgeRequest = {
    uri: q >= 0 ? url.slice(0, q) : url,
    querystring,
    headers: Object.fromEntries(Object.entries({ accept, ...headers }).map(([k, v]) => [k, { value: v }])),
  };
  const out = edge({ request });
  const query = Object.entries(out.querystring).map(([k, v]) => `${k}=${v.value}`).join('&');
  return { uri: out.uri, query, canonical: out.headers[CANONICAL_HEADER]?.value === '1', accept: out.headers.accept.value };
}

/** Whether CloudFront would invalidate this cached URI (and query) with the path: `*` only at the end. */
function covers(invalidationPath: string, sent: Sent): boolean {
  const key = sent.uri + (sent.query ? `?${sent.query}` : '');
  return invalidationPath.endsWith('*') ? key.startsWith(invalidationPath.slice(0, -1)) : key === invalidationPath;
}

describe('every form of one image shares one invalidation path', () => {
  const forms: Record<string, string[]> = {
    '/products/shoe.jpg/!*': [
      '/products/shoe.jpg',
      '/tr:w-300/products/shoe.jpg',
      '/tr:w-300,h-300:rt-90/products/shoe.jpg',
      '/products/shoe.jpg?tr=w-300,h-300',
      '/tr:w-300/products/shoe.jpg?tr=bl-2',
      '/tr:n-thumb/products/shoe.jpg',
      '/tr%3Aw-300/products/shoe.jpg',
      '/products/sh%6Fe.jpg',
      '/products/shoe.jpg?utm_source=news&tr=q-50',
      '/tr:orig-true/products/shoe.jpg',
      '/products/shoe.jpg?tr=w-300&ik-t=9999999999&ik-s=0123456789abcdef',
    ],
    '/sized/products/shoe.jpg/!*': ['/sized/products/shoe.jpg', '/sized/tr:w-333/products/shoe.jpg', '/sized/products/shoe.jpg?tr=w-333', '/sized/tr:w-5000/products/shoe.jpg'],
    '/private/contracts/a.jpg/!*': ['/private/contracts/a.jpg?ik-s=abc', '/private/tr:w-100/contracts/a.jpg?ik-t=1700000000&ik-s=abc'],
    '/demo/image/upload/products/shoe.jpg/!*': [
      '/demo/image/upload/products/shoe.jpg',
      '/demo/image/upload/v1700000000/products/shoe.jpg',
      '/demo/image/upload/v1600000000/products/shoe.jpg',
      '/demo/image/upload/c_fill,g_auto,h_300,w_400/e_grayscale/v1700000000/products/shoe.jpg',
      '/demo/image/upload/w_300/dpr_2.0/products/shoe.jpg',
      '/demo/image/upload/s--AbCdEfGh--/w_300/v1/products/shoe.jpg',
      '/demo/image/upload/t_thumb/products/shoe.jpg',
      '/demo/tr:w-300/image/upload/products/shoe.jpg',
      '/demo/tr:w-300/image/upload/c_fill,w_100/v1/products/shoe.jpg?tr=q-50',
      '/demo/image/upload/products/shoe.jpg?tr=w-300',
      // Before a version every segment is a component, as the runtime reads it (its 400 names a malformed one).
      '/demo/image/upload/foo_bar/v1/products/shoe.jpg',
      '/demo/image/upload/W_300/v1/products/shoe.jpg',
    ],
    '/demo/image/upload/my%20photo.jpg/!*': ['/demo/image/upload/w_100/my%20photo.jpg', '/demo/image/upload/v1/my%20photo.jpg'],
    '/caf%C3%A9/a@2x,b.jpg/!*': ['/caf%C3%A9/a@2x,b.jpg', '/tr:w-10/caf%c3%a9/a%402x%2Cb.jpg'],
  };

  for (const [invalidation, urls] of Object.entries(forms)) {
    test(`${invalidation} covers ${urls.length} URL forms, each in every Accept class`, () => {
      for (const url of urls) {
        for (const accept of ACCEPT_CLASSES) {
          const sent = viaEdge(url, accept);
          expect([url, sent.canonical, covers(invalidation, sent)]).toEqual([url, true, true]);
          // The one path the purge command computes for the URL is that one too.
          expect([url, invalidationPathOf(sent.uri)]).toEqual([url, invalidation]);
        }
      }
    });
  }

  test('the four Accept classes are four cache entries under the one path (the header, not the URI, tells them apart)', () => {
    const sent = ACCEPT_CLASSES.map((accept) => viaEdge('/tr:w-300/products/shoe.jpg', accept));
    expect(new Set(sent.map((s) => s.accept)).size).toBe(4);
    expect(new Set(sent.map((s) => s.uri))).toEqual(new Set(['/products/shoe.jpg/!tr:w-300']));
  });

  test('another image is not covered: a longer name, a case change, a file in a folder of that name (unless it starts with "!")', () => {
    const path = '/products/shoe.jpg/!*';
    expect(covers(path, viaEdge('/products/shoe.jpg2'))).toBe(false);
    expect(covers(path, viaEdge('/tr:w-300/products/Shoe.jpg'))).toBe(false);
    expect(covers(path, viaEdge('/products/shoe.jpg/side.jpg'))).toBe(false);
    expect(covers(path, viaEdge('/shoe.jpg'))).toBe(false);
    // The one overlap, documented: a key under `products/shoe.jpg/` whose name starts with `!`.
    expect(covers(path, viaEdge('/products/shoe.jpg/!x.jpg'))).toBe(true);
  });

  test('a literal * in a key is encoded, since an invalidation path takes * only at its end', () => {
    const sent = viaEdge('/tr:w-1/stars/a*b.jpg');
    expect(invalidationPathOf(sent.uri)).toBe('/stars/a%2Ab.jpg/!*');
    expect(invalidationPathOf(sent.uri).indexOf('*')).toBe(invalidationPathOf(sent.uri).length - 1);
  });

  test('signed and unsigned requests for one URL are separate cache entries: ik-s and ik-t stay in the key', () => {
    const unsigned = viaEdge('/private/tr:w-100/contracts/a.jpg');
    const signed = viaEdge('/private/tr:w-100/contracts/a.jpg?ik-s=abc');
    expect(unsigned.uri).toBe(signed.uri);
    expect(signed.query).toBe('ik-s=abc');
    expect(unsigned.query).toBe('');
  });
});

describe('the runtime reads the canonical URI back into the URL the viewer sent', () => {
  it.each([
    '/products/shoe.jpg',
    '/tr:w-300/products/shoe.jpg',
    '/tr%3aw-300/products/sh%6Fe.jpg',
    '/caf%C3%A9/a@2x,b.jpg',
    '/tr:w-10/caf%c3%a9/a%402x%2Cb.jpg',
    '/dir%2Fwith%2Fslashes/x!y%21z.jpg',
    '/tr:l-text,i-a%2Fb!c,l-end/p/x.jpg',
    '/~user/100%25.jpg',
    '/demo/image/upload/c_fill,g_auto,h_300,w_400/e_grayscale/v1700000000/products/shoe.jpg',
    '/demo/tr:w-300/image/upload/s--AbCdEfGh--/w_300/v1/my%20photo.jpg',
    '/demo/image/upload/w_300/v1/a/v2/b.jpg',
    '/demo/image/upload/products/shoe.jpg',
    '/demo/products/shoe.jpg',
    '/sized/tr:w-5000/products/shoe.jpg',
    '/private/tr:w-100/contracts/a.jpg',
  ])('%s', (url) => {
    const sent = viaEdge(url);
    expect(sent.canonical).toBe(true);
    expect(viewerPathOf(config.endpoints, sent.uri)).toBe(url);
  });

  test('the plan made from the canonical URI is the plan of the viewer URL (widths snapped first)', () => {
    for (const url of ['/sized/tr:w-333/products/shoe.jpg', '/demo/image/upload/c_fill,w_333/v1/products/shoe.jpg', '/tr:w-300:rt-90/a.jpg?tr=bl-2']) {
      const sent = viaEdge(url);
      const plan = (path: string, query: string) => JSON.stringify(buildPlan(parseRequestUrl(config.endpoints, path, query), config));
      const q = url.indexOf('?');
      const snapped = url.replace('w-333', 'w-640');
      expect(plan(viewerPathOf(config.endpoints, sent.uri), sent.query)).toBe(plan(q < 0 ? snapped : snapped.slice(0, q), q < 0 ? '' : url.slice(q + 1)));
    }
  });

  test('a viewer cannot claim a URI is canonical: the header it sends is removed, and set only on a rewritten URI', () => {
    const spoofed = viaEdge('/tr:w-300/', ACCEPT_CLASSES[0], { [CANONICAL_HEADER]: '1' });
    expect(spoofed).toMatchObject({ uri: '/tr:w-300/', canonical: false });
    // A URI that is already image-first is just a path: it is moved once more, not trusted.
    expect(viaEdge('/products/shoe.jpg/!tr:w-300', ACCEPT_CLASSES[0], { [CANONICAL_HEADER]: '1' }).uri).toBe('/products/shoe.jpg/!tr:w-300/!');
  });

  test('malformed percent-encoding and paths outside every endpoint are left as written, for the runtime to refuse', () => {
    expect(viaEdge('/tr:w-1/bad%ZZ.jpg')).toMatchObject({ uri: '/tr:w-1/bad%ZZ.jpg', canonical: false });
    const narrow = parseConfig({ origins: [{ name: 'o', type: 's3', bucket: 'b' }], endpoints: [{ prefix: 'only', origins: ['o'] }] });
    const out = loadViewerRequest(viewerRequestCode(narrow))({ request: { uri: '/elsewhere/a.jpg', headers: {}, querystring: {} } });
    expect(out.uri).toBe('/elsewhere/a.jpg');
    expect(out.headers[CANONICAL_HEADER]).toBeUndefined();
  });

  test('a path that reaches another endpoint once decoded is left as written (the runtime refuses it), never moved under that endpoint', () => {
    const nested = parseConfig({ origins: [{ name: 'o', type: 's3', bucket: 'b' }], endpoints: [{ prefix: '', origins: ['o'] }, { prefix: 'a/b', origins: ['o'], requireSignedUrls: true }] });
    const out = loadViewerRequest(viewerRequestCode(nested))({ request: { uri: '/%61/b/x.jpg', headers: {}, querystring: {} } });
    expect(out.uri).toBe('/%61/b/x.jpg');
    expect(out.headers[CANONICAL_HEADER]).toBeUndefined();
    expect(() => parseRequestUrl(nested.endpoints, out.uri, '')).toThrow(/must be written without percent-encoding/);
    // And a canonical URI that would do it is refused by the runtime.
    expect(() => viewerPathOf(nested.endpoints, '/a/b/x.jpg/!!%2561%2Fb%2Fx.jpg')).toThrow(/its image path is not the one written after it/);
  });

  test('a canonical path that the edge could not have made is a 400, not a guess', () => {
    expect(() => viewerPathOf(config.endpoints, '/products/shoe.jpg')).toThrow(/must end with a \/!<variant> segment/);
    expect(() => viewerPathOf(config.endpoints, '/products/shoe.jpg/!a!b!c')).toThrow(/more than two parts/);
    expect(() => viewerPathOf(config.endpoints, '/demo/x.jpg/!w_100')).toThrow(/Cloudinary components without/);
  });
});

describe("the README's cache-key table is what the function does", () => {
  test('each viewer URL becomes the URI the table shows', () => {
    const readme = fs.readFileSync(path.join(__dirname, '..', 'README.md'), 'utf8');
    const table = readme.slice(readme.indexOf('#### The cache key: one prefix per image'), readme.indexOf('#### Cache-Control: CloudFront and browsers'));
    const rows = [...table.matchAll(/^\| `([^`]+)`[^|]*\| `([^`]+)`/gm)].map((m) => [m[1].replace(/…/g, '1'), m[2]]);
    expect(rows.length).toBeGreaterThanOrEqual(5);
    const documented = parseConfig({
      origins: [{ name: 'o', type: 's3', bucket: 'b' }, { name: 'cld', type: 'cloudinary-backup', bucket: 'c', folder: '/res/demo/' }],
      endpoints: [{ prefix: '', origins: ['o'] }, { prefix: 'img', origins: ['o'] }, { prefix: 'demo', origins: ['cld'], cloudinaryUrls: true }],
    });
    const run = loadViewerRequest(viewerRequestCode(documented));
    for (const [url, uri] of rows) {
      const q = url.indexOf('?');
      const querystring = Object.fromEntries((q < 0 ? [] : url.slice(q + 1).split('&')).map((p) => [p.split('=')[0], { value: p.split('=')[1] }]));
      const out = run({ request: { uri: q < 0 ? url : url.slice(0, q), headers: {}, querystring } });
      expect([url, out.uri]).toEqual([url, uri]);
    }
  });
});

describe('the playground page (README "The playground in a deployment")', () => {
  test('its signed link reaches the function as written: not rewritten, its signature kept', () => {
    const sent = viaEdge('/_afterimage/playground?ik-t=1900000000&ik-s=abc123', ACCEPT_CLASSES[0], { [CANONICAL_HEADER]: '1' });
    expect(sent.uri).toBe('/_afterimage/playground');
    expect(sent.query).toBe('ik-t=1900000000&ik-s=abc123');
    // A viewer's own canonical flag is still removed.
    expect(sent.canonical).toBe(false);
  });
});
