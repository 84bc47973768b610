// README "Output" at the edge: the CloudFront Function reduces Accept to four values, and must
// read q values as the runtime does, so the bucket never changes the negotiated format.

import fs from 'node:fs';
import path from 'node:path';
import { parseConfig } from '../lambda/config';
import { accepts, chooseFormat, type InputDescription } from '../lambda/image/format';
import { CANONICAL_HEADER, viewerPathOf } from '../lambda/request/cache-key';
import { buildPlan } from '../lambda/request/plan';
import { parseRequestUrl } from '../lambda/request/parse-url';
import { viewerRequestCode } from '../lib/image-delivery';

type Header = { value: string; multiValue?: { value: string }[] };
type Request = { uri?: string; headers: Record<string, Header>; querystring: Record<string, { value: string }> };

// Read as CloudFront runs it: the plain file, no module system.
const source = fs.readFileSync(path.join(__dirname, '..', 'lib', 'edge', 'viewer-request.js'), 'utf8');
const viewerRequest = new Function(`${source}\nreturn handler;`)() as (event: { request: Request }) => Request;
const bucketOf = (accept: string) => viewerRequest({ request: { headers: { accept: { value: accept } }, querystring: {} } }).headers.accept.value;

const jpeg: InputDescription = { format: 'jpeg', hasAlpha: false, animated: false };
const negotiated = (accept: string) => chooseFormat({ configured: 'auto', accept, input: jpeg }).format;

describe('viewer-request: q values are read as the runtime reads them', () => {
  it.each([
    ['image/avif;q=0,image/webp', 'image/webp'],
    ['image/avif;q=0', 'image/*'],
    ['image/avif;q=0, image/webp;q=0, image/*', 'image/*'],
    ['IMAGE/AVIF ; Q=0.000 , image/webp', 'image/webp'],
    ['image/avif;q=0.5,image/webp;q=0.9', 'image/webp'],
    ['image/avif;q=0.9,image/webp;q=0.5', 'image/avif,image/webp'],
    ['image/avif;q=0.001', 'image/avif'],
    ['image/avif;q=0.001,image/webp;q=0.001', 'image/avif,image/webp'],
    ['image/avifx,image/webpish', 'image/*'],
    ['image/avif;q=2,image/webp', 'image/webp'],
  ])('%j becomes %s', (accept, bucket) => {
    expect(bucketOf(accept)).toBe(bucket);
  });

  it.each([
    'image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8',
    'image/webp,image/avif,image/jxl,image/heic,image/heic-sequence,video/*;q=0.8,image/png,image/svg+xml,image/*;q=0.8,*/*;q=0.5',
    'image/png,image/svg+xml,image/*;q=0.8,video/*;q=0.8,*/*;q=0.5',
    'image/avif;q=0,image/webp',
    'image/avif;q=0',
    'image/avif; q=0.0, image/webp;q=0',
    'image/avif;Q=0.000,image/webp',
    'image/avif;q=0,image/avif',
    'image/avif;q=0.5,image/webp;q=0.9',
    'image/webp;q=0.5,image/avif;q=0.5',
    'image/avif;level=1;q=0.8',
    'image/*;q=0,image/avif',
    '*/*;q=0,image/webp',
    'image/avif-sequence',
    'image/avif;q=abc',
    'image/avif;q=,image/webp;q=0.5',
    '*',
    '',
    'image/avif,image/webp;q=0,*/*;q=0.8',
  ])('the bucket of %j negotiates what the header itself does, and steps down the same way', (accept) => {
    expect(negotiated(bucketOf(accept))).toBe(negotiated(accept));
    // An AVIF over the cost limits steps down to WebP only where the client takes WebP.
    expect(accepts(bucketOf(accept), 'image/webp')).toBe(accepts(accept, 'image/webp'));
  });
});

// Endpoints with `widths`: the edge snaps a written width as the runtime does, so every width
// that renders the same image is one cache entry. Checked against the runtime's own plan.
describe('viewer-request: widths are snapped at the edge exactly as the runtime snaps them', () => {
  const WIDTHS = [320, 640, 960, 1280, 1920];
  const config = parseConfig({
    origins: [{ name: 'o', type: 's3', bucket: 'b' }],
    endpoints: [
      { prefix: '', origins: ['o'] },
      { prefix: 'sized', origins: ['o'], widths: WIDTHS },
      { prefix: 'sized/raw', origins: ['o'] },
    ],
    namedTransformations: { thumb: 'w-100' },
  });
  const edge = new Function(`${viewerRequestCode(config)}\nreturn handler;`)() as (event: { request: Request }) => Request;
  // The URI as the runtime reads it back from the canonical, image-first form (lambda/request/cache-key.ts).
  const run = (uri: string, query: Record<string, string> = {}) => {
    const querystring = Object.fromEntries(Object.entries(query).map(([k, v]) => [k, { value: v }]));
    const out = edge({ request: { uri, headers: {}, querystring } as Request });
    return { uri: out.headers[CANONICAL_HEADER] ? viewerPathOf(config.endpoints, out.uri!) : out.uri!, tr: out.querystring.tr?.value };
  };
  /** The runtime's plan of a request, or its error: what the response is made from. */
  const planOf = (uri: string, tr?: string) => {
    try {
      return JSON.stringify(buildPlan(parseRequestUrl(config.endpoints, uri, tr === undefined ? '' : `tr=${tr}`), config).steps);
    } catch (error) {
      return `error ${(error as Error).message.replace(/"[^"]*"/g, '')}`;
    }
  };

  it('w-333 and w-334 become one URL: w-640', () => {
    expect(run('/sized/tr:w-333/a.jpg').uri).toBe('/sized/tr:w-640/a.jpg');
    expect(run('/sized/tr:w-334/a.jpg').uri).toBe('/sized/tr:w-640/a.jpg');
    expect(run('/sized/a.jpg', { tr: 'w-334' }).tr).toBe('w-640');
  });

  it('folds dpr in and scales h, as the runtime does', () => {
    expect(run('/sized/tr:w-320,dpr-2/a.jpg').uri).toBe('/sized/tr:w-640/a.jpg');
    expect(run('/sized/tr:w-333,h-200,c-force/a.jpg').uri).toBe('/sized/tr:w-640,h-384,c-force/a.jpg');
  });

  it('leaves alone what it must not touch: other endpoints, signed URLs, named transformations, widths above the list', () => {
    expect(run('/tr:w-333/a.jpg').uri).toBe('/tr:w-333/a.jpg');
    expect(run('/sized/raw/tr:w-333/a.jpg').uri).toBe('/sized/raw/tr:w-333/a.jpg');
    expect(run('/sized/tr:w-333/a.jpg', { 'ik-s': 'abc' }).uri).toBe('/sized/tr:w-333/a.jpg');
    expect(run('/sized/tr:n-thumb/a.jpg').uri).toBe('/sized/tr:n-thumb/a.jpg');
    expect(run('/sized/tr:w-5000/a.jpg').uri).toBe('/sized/tr:w-5000/a.jpg');
    expect(run('/sized/tr:w-0.5/a.jpg').uri).toBe('/sized/tr:w-0.5/a.jpg');
    expect(run('/sized/tr:w-333/').uri).toBe('/sized/tr:w-333/');
  });

  it('never changes what a URL renders (every combination checked against the runtime plan)', () => {
    const chains: string[] = [];
    for (const w of ['1', '100', '319', '320', '321', '639', '641', '1000', '1920', '1921', '8192', '8193', '99999', '0.5', 'abc'])
      for (const extra of ['', ',h-1', ',h-200', ',h-8000', ',h-9000', ',dpr-2', ',dpr-10', ',dpr-0.05', ',dpr-0.01,h-100', ',dpr-0.5,h-75', ',dpr-3,h-10', ',e-grayscale,e-contrast', ',c-at_max,h-300', ',c-at_least,h-8000', ',b-3000_000000', ',h-0.5'])
        chains.push(`w-${w}${extra}`);
    chains.push('w-333:w-100', 'n-thumb:w-500', 'h-200', 'dpr-2', 'w-333,w-334');
    // Layers (README "Layers"): a layer's own w- sizes the layer, not the response; a `:` inside a layer is the layer's own.
    chains.push('l-image,i-x.png,w-333:rt-90,l-end', 'w-333,l-image,i-x.png,w-50,l-end', 'l-image,i-x.png,rt-90:w-333,l-end:w-333', 'l-text,i-Hi,w-333,l-end');
    for (const chain of chains) {
      const path = run(`/sized/tr:${chain}/a.jpg`).uri!;
      expect([chain, planOf(path)]).toEqual([chain, planOf(`/sized/tr:${chain}/a.jpg`)]);
      const query = run('/sized/a.jpg', { tr: chain }).tr;
      expect([chain, planOf('/sized/a.jpg', query)]).toEqual([chain, planOf('/sized/a.jpg', chain)]);
    }
  });

  it('makes every width between two listed ones one cache entry', () => {
    const uris = new Set<string>();
    for (let w = 321; w <= 640; w++) uris.add(run(`/sized/tr:w-${w}/a.jpg`).uri);
    expect([...uris]).toEqual(['/sized/tr:w-640/a.jpg']);
  });
});
