// Abuse controls of unsigned endpoints. `transformations: "named-only"`
// and `widths` bound what an endpoint renders; a request outside the rules is a 400 naming the
// rule, decided in the plan before any origin is read. Both URL forms and Cloudinary URLs.

import { v2 as cloudinary } from 'cloudinary';
import { parseConfig, type AfterimageConfigInput } from '../lambda/config';
import { parseRequestUrl } from '../lambda/request/parse-url';
import { buildPlan } from '../lambda/request/plan';
import { BACKUP_BUCKET, UPLOAD, backupOrigin } from './helpers/cloudinary-fixture';
import { decode, s3Origin, solidImage, startHarness, type Harness } from '../tools/harness';

const WIDTHS = [320, 640, 960, 1280, 1920];

function configInput(s3Endpoint = 'http://127.0.0.1:1'): AfterimageConfigInput {
  return {
    origins: [
      s3Origin({ endpoint: s3Endpoint }, { name: 'main', bucket: 'images' }),
      backupOrigin(s3Endpoint, { name: 'backup' }),
    ],
    endpoints: [
      { prefix: '', origins: ['main'] },
      { prefix: '/named', origins: ['main'], transformations: 'named-only' },
      { prefix: '/sized', origins: ['main'], widths: WIDTHS },
      { prefix: '/cld-named', origins: ['backup'], cloudinaryUrls: true, transformations: 'named-only' },
      { prefix: '/cld-sized', origins: ['backup'], cloudinaryUrls: true, widths: WIDTHS },
    ],
    namedTransformations: { thumb: 'w-200,h-200', hero: 'w-1000', banner: 'w-1200:h-100' },
  } as AfterimageConfigInput;
}

const config = parseConfig(configInput());

/** The plan of a path and query, or the 400's message. */
function plan(path: string, query = '') {
  return buildPlan(parseRequestUrl(config.endpoints, path, query), config);
}
function refusal(path: string, query = ''): string {
  try {
    plan(path, query);
  } catch (error) {
    expect(error).toMatchObject({ status: 400, code: 'EINVAL' });
    return (error as Error).message;
  }
  throw new Error(`${path}?${query} was accepted`);
}

/** A Cloudinary URL written by Cloudinary's Node SDK, for the endpoint whose prefix stands for the cloud name. */
function cloudinaryPath(cloud: string, options: Record<string, unknown>): { path: string; query: string } {
  const url = new URL(cloudinary.url('products/shoe', { cloud_name: cloud, secure: true, ...options }));
  return { path: url.pathname, query: url.search.replace(/^\?/, '') };
}

describe('transformations: "named-only"', () => {
  const RULE = /this endpoint renders only named transformations \(n-<name>, Cloudinary t_<name>\) and orig-true \(endpoints\[\]\.transformations is "named-only"\)$/;

  it('accepts n-<name> (path and query form), orig-true, and no transformation', () => {
    expect(plan('/named/tr:n-thumb/shoe.jpg').steps).toEqual([{ width: { px: 200 }, height: { px: 200 } }]);
    expect(plan('/named/shoe.jpg', 'tr=n-thumb').steps).toEqual([{ width: { px: 200 }, height: { px: 200 } }]);
    expect(plan('/named/tr:n-thumb:n-hero/shoe.jpg').steps).toHaveLength(2);
    expect(plan('/named/tr:orig-true/shoe.jpg').original).toBe(true);
    expect(plan('/named/shoe.jpg').transformed).toBe(false);
  });

  it('refuses anything else with a 400 that names the rule, in both URL forms', () => {
    expect(refusal('/named/tr:w-300/shoe.jpg')).toMatch(/^Invalid transformation "w-300": /);
    expect(refusal('/named/tr:w-300/shoe.jpg')).toMatch(RULE);
    expect(refusal('/named/shoe.jpg', 'tr=w-300')).toMatch(RULE);
    expect(refusal('/named/tr:n-thumb,q-10/shoe.jpg')).toMatch(/^Invalid transformation "q-10": .*named-only/);
    expect(refusal('/named/tr:n-thumb/shoe.jpg', 'tr=f-avif')).toMatch(/^Invalid transformation "f-avif": /);
    expect(refusal('/named/tr:orig-false/shoe.jpg')).toMatch(RULE);
    expect(refusal('/named/tr:di-defaults@@x.jpg/shoe.jpg')).toMatch(RULE);
    // A name that is not configured is still the usual 400.
    expect(refusal('/named/tr:n-nope/shoe.jpg')).toMatch(/no named transformation "nope" is configured/);
    // The other endpoints are not affected.
    expect(plan('/tr:w-300/shoe.jpg').steps).toEqual([{ width: { px: 300 } }]);
  });

  it('Cloudinary URLs: t_<name> is accepted, any other component is a 400', () => {
    const named = cloudinaryPath('cld-named', { transformation: 'thumb' });
    expect(named.path).toContain('/t_thumb/');
    expect(plan(named.path, named.query).steps).toEqual([{ width: { px: 200 }, height: { px: 200 } }]);
    const sized = cloudinaryPath('cld-named', { width: 300, crop: 'fill' });
    expect(refusal(sized.path, sized.query)).toMatch(RULE);
    const both = cloudinaryPath('cld-named', { transformation: [{ transformation: 'thumb' }, { effect: 'grayscale' }] });
    expect(refusal(both.path, both.query)).toMatch(/^Invalid transformation "e-grayscale": .*named-only/);
    // The ImageKit forms on the same endpoint follow the same rule.
    expect(refusal('/cld-named/tr:w-10/image/upload/v1/products/shoe.jpg')).toMatch(RULE);
    expect(plan('/cld-named/image/upload/v1/products/shoe.jpg', 'tr=n-thumb').steps).toHaveLength(1);
  });
});

describe('widths: a requested w is rounded up to the next allowed width', () => {
  const width = (path: string, query = '') => plan(path, query).steps.map((s) => s.width);

  it('w-333 and w-334 give one plan, 640; a listed width stays; the smallest covers w-1', () => {
    expect(plan('/sized/tr:w-333/shoe.jpg')).toEqual({ ...plan('/sized/tr:w-334/shoe.jpg') });
    expect(width('/sized/tr:w-333/shoe.jpg')).toEqual([{ px: 640 }]);
    expect(width('/sized/shoe.jpg', 'tr=w-334')).toEqual([{ px: 640 }]);
    expect(width('/sized/tr:w-320/shoe.jpg')).toEqual([{ px: 320 }]);
    expect(width('/sized/tr:w-1/shoe.jpg')).toEqual([{ px: 320 }]);
    expect(width('/sized/tr:w-1920/shoe.jpg')).toEqual([{ px: 1920 }]);
    expect(width('/sized/tr:w-800:w-333/shoe.jpg')).toEqual([{ px: 960 }, { px: 640 }]);
    // Without w, nothing to round: the image keeps its own width.
    expect(plan('/sized/tr:bl-5/shoe.jpg').steps).toEqual([{ blur: 5 }]);
  });

  it('above the largest width is a 400 naming the rule', () => {
    const message = refusal('/sized/tr:w-1921/shoe.jpg');
    expect(message).toBe('Invalid transformation "w-1921": the width must be at most 1920, the largest of this endpoint\'s widths, one of 320, 640, 960, 1280, 1920 (endpoints[].widths) (w-1921)');
    expect(refusal('/sized/shoe.jpg', 'tr=w-4000')).toMatch(/endpoints\[\]\.widths/);
  });

  it('dpr is folded in: w × dpr is what is rounded, and above the largest is a 400', () => {
    expect(plan('/sized/tr:w-320,dpr-2/shoe.jpg').steps).toEqual([{ width: { px: 640 } }]);
    expect(plan('/sized/tr:w-300,dpr-1.01/shoe.jpg').steps).toEqual(plan('/sized/tr:w-303/shoe.jpg').steps);
    expect(refusal('/sized/tr:w-1000,dpr-2/shoe.jpg')).toMatch(/^Invalid transformation "dpr-2": the width must be at most 1920.*\(w-1000 × dpr-2 = 2000\)$/);
  });

  it('h with w is scaled by the same factor (the box keeps its shape); h alone and fractions are a 400', () => {
    expect(plan('/sized/tr:w-333,h-333/shoe.jpg').steps).toEqual([{ width: { px: 640 }, height: { px: 640 } }]);
    expect(plan('/sized/tr:w-300,h-150,dpr-2/shoe.jpg').steps).toEqual([{ width: { px: 640 }, height: { px: 320 } }]);
    expect(refusal('/sized/tr:h-300/shoe.jpg')).toBe('Invalid transformation "h-300": h needs a w in the same step on this endpoint, whose widths are one of 320, 640, 960, 1280, 1920 (endpoints[].widths)');
    expect(refusal('/sized/tr:w-0.5/shoe.jpg')).toMatch(/^Invalid transformation "w-0.5": w must be a width in pixels on this endpoint: one of 320, /);
    expect(refusal('/sized/tr:w-300,h-0.5/shoe.jpg')).toMatch(/^Invalid transformation "h-0.5": h must be in pixels/);
    expect(refusal('/sized/tr:w-1,h-30/shoe.jpg')).toMatch(/^Invalid transformation "h-30": .*limits\.maxOutputDimension\): h would be 9600$/);
  });

  it('c-at_least and borders are a 400: they would render wider than the list allows (w-320,h-8000,c-at_least is 8000 wide)', () => {
    expect(refusal('/sized/tr:w-320,h-8000,c-at_least/shoe.jpg')).toBe(
      'Invalid transformation "c-at_least": c-at_least is not available on this endpoint: it renders wider than w, and the widths are one of 320, 640, 960, 1280, 1920 (endpoints[].widths)',
    );
    expect(refusal('/sized/tr:w-320,b-3000_000000/shoe.jpg')).toMatch(/^Invalid transformation "b-3000_000000": borders are not available on this endpoint/);
    expect(() => plan('/tr:w-320,h-8000,c-at_least/shoe.jpg', '')).not.toThrow();
  });

  it('named transformations are rounded too', () => {
    expect(width('/sized/tr:n-hero/shoe.jpg')).toEqual([{ px: 1280 }]);
    expect(refusal('/sized/tr:n-banner/shoe.jpg')).toMatch(/^Invalid transformation "h-100": h needs a w/);
  });

  it('Cloudinary URLs: w_ is rounded (with dpr_ in its own component too), w_0.5 and h_ alone are a 400', () => {
    const odd = cloudinaryPath('cld-sized', { width: 334, crop: 'scale' });
    expect(plan(odd.path, odd.query).steps).toEqual([{ width: { px: 640 } }]);
    const filled = cloudinaryPath('cld-sized', { width: 300, height: 200, crop: 'fill' });
    expect(plan(filled.path, filled.query).steps).toEqual([{ width: { px: 320 }, height: { px: 213 }, crop: 'maintain_ratio' }]);
    const withDpr = cloudinaryPath('cld-sized', { transformation: [{ width: 300, crop: 'scale' }, { dpr: 2 }] });
    expect(plan(withDpr.path, withDpr.query).steps).toEqual([{ width: { px: 640 } }]);
    const share = cloudinaryPath('cld-sized', { width: 0.5, crop: 'scale' });
    expect(refusal(share.path, share.query)).toMatch(/^Invalid transformation "w-0.5": .*endpoints\[\]\.widths/);
    const tall = cloudinaryPath('cld-sized', { height: 300, crop: 'scale' });
    expect(refusal(tall.path, tall.query)).toMatch(/^Invalid transformation "h-300": h needs a w/);
    const huge = cloudinaryPath('cld-sized', { width: 2400, crop: 'scale' });
    expect(refusal(huge.path, huge.query)).toMatch(/at most 1920/);
  });
});

describe('the configuration of the rules', () => {
  const withEndpoint = (endpoint: Record<string, unknown>, extra: Record<string, unknown> = {}) => () =>
    parseConfig({ origins: [{ name: 'm', type: 's3', bucket: 'b' }], endpoints: [{ prefix: '', origins: ['m'], ...endpoint }], ...extra });

  it('is validated with messages that name the setting', () => {
    expect(withEndpoint({ transformations: 'named-only', widths: [100, 200] })().endpoints[0]).toMatchObject({ transformations: 'named-only', widths: [100, 200] });
    expect(withEndpoint({ transformations: 'names' })).toThrow(/expected one of any, named-only for endpoints\[0\]\.transformations but received "names"/);
    expect(withEndpoint({ widths: [640, 320] })).toThrow(/ascending, such as \[320, 640, 960, 1280, 1920\] for endpoints\[0\]\.widths/);
    expect(withEndpoint({ widths: [] })).toThrow(/endpoints\[0\]\.widths/);
    expect(withEndpoint({ widths: [320.5] })).toThrow(/endpoints\[0\]\.widths/);
    expect(withEndpoint({ widths: [320, 4000] }, { limits: { maxOutputDimension: 2048 } })).toThrow(/endpoints\[0\]\.widths holds 4000, above limits\.maxOutputDimension \(2048\)/);
  });
});

describe('end to end: refused before any origin is read, equal requests give equal responses', () => {
  let harness: Harness;

  beforeAll(async () => {
    harness = await startHarness({
      buckets: ['images', BACKUP_BUCKET],
      config: (s3) => configInput(s3.endpoint),
      seed: async (s3) => {
        await s3.put('images', 'shoe.jpg', await solidImage(2000, 1000, { r: 10, g: 120, b: 200 }));
        await s3.put(BACKUP_BUCKET, `${UPLOAD}/products/shoe/1700000000.jpg`, await solidImage(2000, 1000, { r: 20, g: 200, b: 40 }), 'image/jpeg');
      },
    });
  });

  afterAll(() => harness?.close());

  it('named-only: a 400 with the rule in x-afterimage-error, even for a file that does not exist (no origin call)', async () => {
    for (const url of ['/named/tr:w-300/missing.jpg', '/named/missing.jpg?tr=w-300', '/cld-named/image/upload/w_300/v1/missing.jpg']) {
      const response = await harness.get(url);
      expect(response.status).toBe(400);
      expect(response.headers.get('x-afterimage-error')).toMatch(/^EINVAL - Invalid transformation "w-300": .*named-only/);
    }
    expect((await harness.get('/named/tr:n-thumb/missing.jpg')).status).toBe(404);
    const thumb = await harness.get('/named/tr:n-thumb/shoe.jpg');
    expect(thumb.status).toBe(200);
    expect(await decode(thumb.body)).toMatchObject({ width: 200, height: 200 });
    const cldThumb = await harness.get(cloudinaryPath('cld-named', { transformation: 'thumb' }).path);
    expect(cldThumb.status).toBe(200);
    expect(await decode(cldThumb.body)).toMatchObject({ width: 200, height: 200 });
    expect((await harness.get('/named/tr:orig-true/shoe.jpg')).status).toBe(200);
  });

  it('widths: w-333 and w-334 (both URL forms, and Cloudinary w_334) render 640 wide with one ETag', async () => {
    const responses = await Promise.all(['/sized/tr:w-333/shoe.jpg', '/sized/shoe.jpg?tr=w-334', '/sized/tr:w-320,dpr-2/shoe.jpg'].map((u) => harness.get(u, { accept: 'image/webp' })));
    for (const response of responses) {
      expect(response.status).toBe(200);
      expect(await decode(response.body)).toMatchObject({ width: 640, height: 320, format: 'webp' });
    }
    expect(new Set(responses.map((r) => r.headers.get('etag'))).size).toBe(1);
    const cld = cloudinaryPath('cld-sized', { width: 334, crop: 'scale' });
    const fromCloudinary = await harness.get(`${cld.path}?${cld.query}`);
    expect(fromCloudinary.status).toBe(200);
    expect(await decode(fromCloudinary.body)).toMatchObject({ width: 640, height: 320 });
  });

  it('widths: above the largest is a 400 before the origin (a missing file too)', async () => {
    for (const url of ['/sized/tr:w-2000/missing.jpg', '/sized/missing.jpg?tr=w-2000', '/cld-sized/image/upload/w_2000/v1/missing.jpg']) {
      const response = await harness.get(url);
      expect(response.status).toBe(400);
      expect(response.headers.get('x-afterimage-error')).toMatch(/^EINVAL - Invalid transformation "w-2000": the width must be at most 1920.*endpoints\[\]\.widths/);
    }
  });
});
