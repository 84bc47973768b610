// Spec section 4 at the edge: the CloudFront Function reduces Accept to three values, and must
// read q values as the runtime does, so the bucket never changes the negotiated format.

import fs from 'node:fs';
import path from 'node:path';
import { chooseFormat, type InputDescription } from '../lambda/image/format';

type Header = { value: string; multiValue?: { value: string }[] };
type Request = { headers: Record<string, Header>; querystring: Record<string, { value: string }> };

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
    ['image/avif;q=0.001', 'image/avif,image/webp'],
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
  ])('the bucket of %j negotiates what the header itself does', (accept) => {
    expect(negotiated(bucketOf(accept))).toBe(negotiated(accept));
  });
});
