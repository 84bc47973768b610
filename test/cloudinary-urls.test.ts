// README "Keeping Cloudinary URLs alive": Cloudinary delivery URLs, as Cloudinary's official Node SDK writes them,
// translated onto this service's parameters. First at the chain-text level (pure), then end to
// end against a Cloudinary backup on a real s3rver.

import { v2 as cloudinary } from 'cloudinary';
import { parseConfig } from '../lambda/config';
import { translateCloudinaryPath, translateComponent } from '../lambda/request/cloudinary-url';
import { parseRequestUrl } from '../lambda/request/parse-url';
import { BACKUP_BUCKET, GREEN, UPLOAD, backupOrigin, expectColour } from './helpers/cloudinary-fixture';
import { decode, solidImage, startHarness, type Harness } from '../tools/harness';
import { CLOUDINARY_EXAMPLES, SAMPLE_BUCKET, seedCloudinaryBackup } from '../local/samples';
import { sampleConfig } from '../local/start';

/** The endpoint prefix stands for the cloud name: a Cloudinary URL works with only the host changed. */
const CLOUD = 'demo';

type Options = Record<string, unknown>;

/** A URL from the official SDK, as a path and query on our host. */
function sdkUrl(publicId: string, options: Options): { path: string; query: string; url: string } {
  const url = cloudinary.url(publicId, { cloud_name: CLOUD, secure: true, ...options });
  const parsed = new URL(url);
  expect(parsed.host).toBe('res.cloudinary.com');
  return { path: parsed.pathname, query: parsed.search.replace(/^\?/, ''), url };
}

const endpoints = parseConfig({
  origins: [{ name: 'backup', type: 'cloudinary-backup', bucket: 'b', folder: `/res/${CLOUD}/` }],
  endpoints: [
    { prefix: `/${CLOUD}`, origins: ['backup'], cloudinaryUrls: true },
    { prefix: '/plain', origins: ['backup'] },
  ],
}).endpoints;

/** Steps with their parameters sorted: the order inside a step never matters (README "URL reference"). */
const normalise = (chain: string) => chain.split(':').map((step) => step.split(',').filter(Boolean).sort().join(',')).join(':');

function translate(options: Options, publicId = 'products/shoe') {
  const { path, query } = sdkUrl(publicId, options);
  const parsed = parseRequestUrl(endpoints, path, query);
  return { chain: normalise(parsed.chains.join(':')), path: parsed.path, parsed };
}

/** Every row of the spec's table, as SDK options → the chain it must become. */
const TABLE: [row: string, options: Options, chain: string][] = [
  ['w_', { width: 300 }, 'w-300'],
  ['h_', { height: 200 }, 'h-200'],
  ['w_ fraction', { width: 0.5 }, 'w-0.5'],
  ['h_ fraction', { height: 0.25 }, 'h-0.25'],
  ['ar_16:9', { aspect_ratio: '16:9', width: 300, crop: 'fill' }, 'ar-16-9,c-maintain_ratio,w-300'],
  ['ar_1.5', { aspect_ratio: 1.5, width: 300, crop: 'fill' }, 'ar-1.5-1,c-maintain_ratio,w-300'],
  ['dpr_', { dpr: 2, width: 100 }, 'dpr-2,w-100'],
  ['dpr_ decimal', { dpr: 1.5, width: 100 }, 'dpr-1.5,w-100'],
  ['no c_ with both sides: Cloudinary scales', { width: 300, height: 200 }, 'c-force,h-200,w-300'],
  ['c_scale, both sides', { width: 300, height: 200, crop: 'scale' }, 'c-force,h-200,w-300'],
  ['c_scale, one side', { width: 300, crop: 'scale' }, 'w-300'],
  ['c_fit', { width: 300, height: 200, crop: 'fit' }, 'c-at_max_enlarge,h-200,w-300'],
  ['c_limit', { width: 300, height: 200, crop: 'limit' }, 'c-at_max,h-200,w-300'],
  ['c_mfit', { width: 300, height: 200, crop: 'mfit' }, 'c-at_least,h-200,w-300'],
  ['c_fill', { width: 300, height: 200, crop: 'fill' }, 'c-maintain_ratio,h-200,w-300'],
  ['c_lfill', { width: 300, height: 200, crop: 'lfill' }, 'c-maintain_ratio_limit,h-200,w-300'],
  ['c_thumb', { width: 100, height: 100, crop: 'thumb', gravity: 'face' }, 'c-maintain_ratio,fo-face,h-100,w-100'],
  ['c_pad', { width: 300, height: 200, crop: 'pad' }, 'cm-pad_resize,h-200,w-300'],
  ['c_lpad', { width: 300, height: 200, crop: 'lpad' }, 'c-at_max,cm-pad_resize,h-200,w-300'],
  ['c_crop, x_, y_', { width: 100, height: 50, crop: 'crop', x: 10, y: 20 }, 'cm-extract,h-50,w-100,x-10,y-20'],
  ...([
    ['north', 'top'], ['south', 'bottom'], ['east', 'right'], ['west', 'left'], ['north_east', 'top_right'],
    ['north_west', 'top_left'], ['south_east', 'bottom_right'], ['south_west', 'bottom_left'], ['center', 'center'],
    ['auto', 'auto'], ['face', 'face'],
  ].map(([g, fo]) => [`g_${g}`, { width: 100, height: 100, crop: 'fill', gravity: g }, `c-maintain_ratio,fo-${fo},h-100,w-100`]) as [string, Options, string][]),
  ['q_<n>', { quality: 55 }, 'q-55'],
  ['q_auto', { quality: 'auto' }, 'q-auto'],
  ['q_auto:best', { quality: 'auto:best' }, 'q-auto_best'],
  ['q_auto:good', { quality: 'auto:good' }, 'q-auto_good'],
  ['q_auto:eco', { quality: 'auto:eco' }, 'q-auto_eco'],
  ['q_auto:low', { quality: 'auto:low' }, 'q-auto_low'],
  ['f_auto', { fetch_format: 'auto' }, 'f-auto'],
  ['f_webp', { fetch_format: 'webp' }, 'f-webp'],
  ['f_png', { fetch_format: 'png' }, 'f-png'],
  ['f_jpg', { fetch_format: 'jpg' }, 'f-jpg'],
  ['f_avif', { fetch_format: 'avif' }, 'f-avif'],
  ['a_<deg>', { angle: 90 }, 'rt-90'],
  ['a_<negative deg>', { angle: -90 }, 'rt-N90'],
  ['a_hflip', { angle: 'hflip' }, 'fl-h'],
  ['a_vflip', { angle: 'vflip' }, 'fl-v'],
  ['e_blur', { effect: 'blur' }, 'bl-10'],
  ['e_blur:n', { effect: 'blur:300' }, 'bl-30'],
  ['e_grayscale', { effect: 'grayscale' }, 'e-grayscale'],
  ['e_sharpen', { effect: 'sharpen' }, 'e-sharpen'],
  ['e_sharpen:n', { effect: 'sharpen:100' }, 'e-sharpen-50'],
  ['e_contrast', { effect: 'contrast' }, 'e-contrast'],
  ['r_<n>', { radius: 20 }, 'r-20'],
  ['r_max', { radius: 'max' }, 'r-max'],
  ['b_<colour name>', { width: 300, height: 300, crop: 'pad', background: 'red' }, 'bg-red,cm-pad_resize,h-300,w-300'],
  ['b_rgb:RRGGBB (the SDK writes #RRGGBB so)', { width: 300, height: 300, crop: 'pad', background: '#00ff00' }, 'bg-00FF00,cm-pad_resize,h-300,w-300'],
  ['b_rgb:RRGGBBAA', { width: 300, height: 300, crop: 'pad', background: 'rgb:0000ff00' }, 'bg-0000FF00,cm-pad_resize,h-300,w-300'],
  ['bo_<n>px_solid_<colour>', { border: '5px_solid_red' }, 'b-5_red'],
  ['bo_ from an object (rgb:)', { border: { width: 4, color: '#00ff00' } }, 'b-4_00FF00'],
  ['fl_progressive', { flags: 'progressive' }, 'pr-true'],
  ['t_<name>', { transformation: 'thumb' }, 'n-thumb'],
];

describe('translation of every row of the table, from SDK URLs (spec 8)', () => {
  it.each(TABLE)('%s', (_row, options, chain) => {
    const result = translate({ transformation: [options] });
    expect(result.chain).toBe(chain);
    expect(result.path).toBe('image/upload/v1/products/shoe');
  });

  it('several components form a chain, in order', () => {
    const result = translate({
      transformation: [{ width: 400, height: 300, crop: 'fill', gravity: 'north' }, { angle: 90 }, { effect: 'grayscale' }, { quality: 'auto', fetch_format: 'auto' }],
    });
    expect(result.chain).toBe('c-maintain_ratio,fo-top,h-300,w-400:rt-90:e-grayscale:f-auto,q-auto');
  });

  it('keeps the version marker and the extension in the path the backup origin reads', () => {
    const result = translate({ width: 300, crop: 'scale', version: 1700000000, format: 'webp' });
    expect(result.path).toBe('image/upload/v1700000000/products/shoe.webp');
    expect(result.chain).toBe('w-300');
    expect(translate({ format: 'jpg' }, 'shoe').path).toBe('image/upload/shoe.jpg');
    expect(translate({}, 'shoe')).toMatchObject({ path: 'image/upload/shoe', chain: '' });
  });

  it('ignores the SDK\'s ?_a= analytics parameter', () => {
    const { path, query } = sdkUrl('shoe', { width: 100, urlAnalytics: true });
    expect(query).toMatch(/^_a=/);
    const parsed = parseRequestUrl(endpoints, path, query);
    expect(parsed.chains).toEqual(['w-100']);
  });

  it('public ids in folders with underscores, spaces and unicode', () => {
    expect(translate({ width: 10 }, 'my_folder/sub_dir/x_y').path).toBe('image/upload/v1/my_folder/sub_dir/x_y');
    expect(translate({ width: 10, format: 'png' }, 'café/my photo+1').path).toBe('image/upload/v1/café/my photo+1.png');
  });

  it('without a version, leading segments that look like components are components; others are folders', () => {
    expect(translateCloudinaryPath(['image', 'upload', 'w_100,c_scale', 'e_grayscale', 'shop', 'shoe.jpg'])).toEqual({
      segments: ['image', 'upload', 'shop', 'shoe.jpg'], chain: 'w-100:e-grayscale',
    });
    expect(translateCloudinaryPath(['image', 'upload', 'my_folder', 'shoe.jpg'])).toEqual({
      segments: ['image', 'upload', 'my_folder', 'shoe.jpg'], chain: '',
    });
    // A file name is never a component.
    expect(translateCloudinaryPath(['image', 'upload', 'w_100'])).toEqual({ segments: ['image', 'upload', 'w_100'], chain: '' });
  });

  it('paths that are not <resource_type>/<type>/... are left to the ImageKit forms', () => {
    expect(translateCloudinaryPath(['products', 'shoe.jpg'])).toBeUndefined();
    const parsed = parseRequestUrl(endpoints, `/${CLOUD}/tr:w-100/image/upload/c_fill,h_50,w_50/shoe.jpg`, 'tr=q-40');
    expect(parsed.chains).toEqual(['w-100', 'c-maintain_ratio,h-50,w-50', 'q-40']);
    expect(parsed.path).toBe('image/upload/shoe.jpg');
  });

  it('is off on endpoints without cloudinaryUrls', () => {
    const parsed = parseRequestUrl(endpoints, '/plain/image/upload/w_300/shoe.jpg', '');
    expect(parsed).toMatchObject({ path: 'image/upload/w_300/shoe.jpg', chains: [] });
  });
});

describe('Cloudinary forms beyond the table', () => {
  const chainOf = (path: string) => normalise(parseRequestUrl(endpoints, path, '').chains.join(':'));

  it('drops the URL signature component (s--…--), which is not verified here', () => {
    const parsed = parseRequestUrl(endpoints, `/${CLOUD}/image/upload/s--AbCdEfGh--/w_100/v1/products/shoe.jpg`, '');
    expect(parsed.path).toBe('image/upload/v1/products/shoe.jpg');
    expect(parsed.chains).toEqual(['w-100']);
  });

  it('pads only with a box: c_pad with one side is a plain resize, c_lpad one that never enlarges', () => {
    expect(chainOf(`/${CLOUD}/image/upload/c_pad,w_300/v1/products/shoe.jpg`)).toBe('w-300');
    expect(chainOf(`/${CLOUD}/image/upload/c_lpad,w_300/v1/products/shoe.jpg`)).toBe('c-at_max,w-300');
  });

  it('reads a decimal width as a share of the input: w_1.0 is the whole width, above 1.0 is a 400', () => {
    expect(chainOf(`/${CLOUD}/image/upload/w_1.0/v1/products/shoe.jpg`)).toBe('');
    expect(chainOf(`/${CLOUD}/image/upload/w_0.5/v1/products/shoe.jpg`)).toBe('w-0.5');
    expect(() => parseRequestUrl(endpoints, `/${CLOUD}/image/upload/w_1.5/v1/products/shoe.jpg`, '')).toThrow(/"w_1.5": w must be/);
  });

  it('takes an opaque alpha (ff) as a plain colour', () => {
    expect(chainOf(`/${CLOUD}/image/upload/b_rgb:ff0000ff,c_pad,h_10,w_10/v1/products/shoe.jpg`)).toBe('bg-FF0000,cm-pad_resize,h-10,w-10');
  });

  it('refuses a parameter given twice in one component', () => {
    expect(() => parseRequestUrl(endpoints, `/${CLOUD}/image/upload/w_300,w_500/v1/products/shoe.jpg`, '')).toThrow(/w_ is given twice/);
  });
});

/**
 * README "Folders that look like transformations": before a version, every segment is a component.
 * A malformed one is a 400 naming it, as on Cloudinary, not a lookup of another public id (a 404).
 */
const MALFORMED_BEFORE_VERSION: [component: string, named: RegExp][] = [
  ['w_', /^Invalid Cloudinary transformation "w_": w must be a number of pixels/],
  ['W_300', /^Invalid Cloudinary transformation "W_300": expected <parameter>_<value>, the parameter in lower case/],
  ['foo_bar', /^Invalid Cloudinary transformation "foo_bar": the parameter "foo" is not supported/],
];

describe('before a version, every segment is a component (README "Folders that look like transformations")', () => {
  it.each(MALFORMED_BEFORE_VERSION)('%s/v1/… is a 400 naming it', (component, named) => {
    let thrown: unknown;
    try {
      parseRequestUrl(endpoints, `/${CLOUD}/image/upload/${component}/v1/products/sneaker.jpg`, '');
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toMatchObject({ status: 400, code: 'EINVAL', message: expect.stringMatching(named) });
  });

  it('a malformed component is refused after valid ones, and when it is only a lone dpr_ that would move', () => {
    expect(() => translateCloudinaryPath(['image', 'upload', 'c_fill,w_300', 'e_grayscale,W_3', 'v1', 'shoe.jpg'])).toThrow(/"W_3": expected <parameter>_<value>/);
    expect(() => translateCloudinaryPath(['image', 'upload', 'w_300', 'dpr_2.0,x_', 'v1', 'shoe.jpg'])).toThrow(/"x_": x must be/);
  });

  it('an empty parameter is tolerated, as an empty step of a tr: chain is', () => {
    expect(translateCloudinaryPath(['image', 'upload', 'w_300,', 'e_grayscale,,', 'v1', 'shoe.jpg'])).toEqual({ segments: ['image', 'upload', 'v1', 'shoe.jpg'], chain: 'w-300:e-grayscale' });
  });

  it('a valid chain before a version still works: empty segments, t_<name>, and a folder named like a version after it', () => {
    expect(translateCloudinaryPath(['image', 'upload', 'c_fill,g_auto,h_300,w_400', '', 'e_grayscale', 't_thumb', 'v1700000000', 'v2', 'sneaker.jpg'])).toEqual({
      segments: ['image', 'upload', 'v1700000000', 'v2', 'sneaker.jpg'], chain: 'c-maintain_ratio,fo-auto,h-300,w-400:e-grayscale:n-thumb',
    });
    const parsed = parseRequestUrl(endpoints, `/${CLOUD}/image/upload/c_fill,w_300/dpr_2.0/v1/products/sneaker.jpg`, '');
    expect(parsed).toMatchObject({ path: 'image/upload/v1/products/sneaker.jpg', chains: ['c-maintain_ratio,w-300,dpr-2.0'] });
  });

  it('without a version, a segment that does not look like a component is still a folder', () => {
    expect(translateCloudinaryPath(['image', 'upload', 'w_300', 'W_300', 'shoe.jpg'])).toEqual({ segments: ['image', 'upload', 'W_300', 'shoe.jpg'], chain: 'w-300' });
    expect(translateCloudinaryPath(['image', 'upload', 'foo_bar', 'shoe.jpg'])).toEqual({ segments: ['image', 'upload', 'foo_bar', 'shoe.jpg'], chain: '' });
  });
});

describe('any other Cloudinary parameter is a 400 naming it (spec 8)', () => {
  const UNSUPPORTED: [what: string, options: Options, named: RegExp][] = [
    ['a text style layers do not support', { overlay: 'text:arial_20_underline:hi' }, /"l_text:arial_20_underline:hi": l must be .*the style "underline" is not supported/],
    ['opacity of the image itself', { opacity: 50 }, /"o_50": o_ is supported in a layer only/],
    ['a default image', { default_image: 'avatar.png' }, /"d_avatar.png": the parameter "d"/],
    ['an unsupported effect', { effect: 'pixelate' }, /"e_pixelate": e must be/],
    ['an unsupported crop mode', { width: 10, height: 10, crop: 'fill_pad' }, /"c_fill_pad": c must be one of scale, fit/],
    ['an unsupported flag', { flags: 'lossy' }, /"fl_lossy": fl must be progressive/],
    ['dpr_auto', { dpr: 'auto', width: 100 }, /"dpr_auto": dpr must be/],
    ['an unsupported gravity', { width: 10, height: 10, crop: 'fill', gravity: 'xy_center' }, /"g_xy_center": g must be one of/],
    ['an unsupported quality', { quality: 'auto:ultra' }, /"q_auto:ultra": q must be/],
  ];
  it.each(UNSUPPORTED)('%s', (_what, options, named) => {
    const { path, query } = sdkUrl('products/shoe', { transformation: [options] });
    expect(() => parseRequestUrl(endpoints, path, query)).toThrow(named);
    try {
      parseRequestUrl(endpoints, path, query);
    } catch (error) {
      expect(error).toMatchObject({ status: 400, code: 'EINVAL' });
    }
  });

  it('a value cannot smuggle chain syntax', () => {
    expect(() => translateComponent('w_1:orig-true')).toThrow(/w must be/);
    expect(() => translateComponent('t_a,b')).toThrow(/"b"/);
  });
});

describe('end to end: SDK URLs against a Cloudinary backup (spec 8)', () => {
  let harness: Harness;
  const WIDTH = 400;
  const HEIGHT = 300;

  beforeAll(async () => {
    harness = await startHarness({
      buckets: [BACKUP_BUCKET],
      seed: async (s3) => {
        await s3.put(BACKUP_BUCKET, `${UPLOAD}/products/shoe/1600000000.jpg`, await solidImage(WIDTH, HEIGHT, { r: 220, g: 20, b: 20 }), 'image/jpeg');
        await s3.put(BACKUP_BUCKET, `${UPLOAD}/products/shoe/1700000000.jpg`, await solidImage(WIDTH, HEIGHT, GREEN), 'image/jpeg');
      },
      config: (s3) => ({
        origins: [backupOrigin(s3.endpoint, { name: 'backup' })],
        endpoints: [{ prefix: `/${CLOUD}`, origins: ['backup'], cloudinaryUrls: true }],
        namedTransformations: { thumb: 'w-50,h-50' },
        output: { format: 'auto' },
      }),
    });
  });

  afterAll(() => harness?.close());

  async function get(options: Options, publicId = 'products/shoe') {
    const { path, query } = sdkUrl(publicId, options);
    return harness.get(`${path}?${query}`);
  }

  it.each(TABLE)('%s: 200', async (_row, options) => {
    const response = await get({ transformation: [options] });
    expect({ status: response.status, error: response.headers.get('x-afterimage-error') }).toEqual({ status: 200, error: null });
  });

  it('the translated transformations are applied', async () => {
    const size = async (options: Options) => {
      const response = await get({ transformation: [options] });
      expect(response.status).toBe(200);
      return decode(response.body);
    };
    expect(await size({ width: 200 })).toMatchObject({ width: 200, height: 150 });
    expect(await size({ width: 100, height: 100 })).toMatchObject({ width: 100, height: 100 }); // scaled, distorted
    expect(await size({ width: 100, height: 100, crop: 'fill' })).toMatchObject({ width: 100, height: 100 });
    expect(await size({ width: 800, height: 800, crop: 'limit' })).toMatchObject({ width: WIDTH, height: HEIGHT });
    expect(await size({ width: 800, height: 800, crop: 'fit' })).toMatchObject({ width: 800, height: 600 });
    expect(await size({ width: 800, height: 800, crop: 'lpad' })).toMatchObject({ width: 800, height: 800 });
    // lfill: fills like c_fill when the input is larger, never enlarges a smaller one, only crops it.
    expect(await size({ width: 200, height: 100, crop: 'lfill' })).toMatchObject({ width: 200, height: 100 });
    expect(await size({ width: 800, height: 600, crop: 'lfill' })).toMatchObject({ width: WIDTH, height: HEIGHT });
    expect(await size({ width: 200, height: 600, crop: 'lfill' })).toMatchObject({ width: 200, height: HEIGHT });
    expect(await size({ width: 100, height: 50, crop: 'crop', x: 10, y: 20 })).toMatchObject({ width: 100, height: 50 });
    expect(await size({ angle: 90 })).toMatchObject({ width: HEIGHT, height: WIDTH });
    expect(await size({ width: 100, dpr: 2 })).toMatchObject({ width: 200 });
    expect(await size({ fetch_format: 'webp' })).toMatchObject({ format: 'webp' });
    expect(await size({ transformation: 'thumb' })).toMatchObject({ width: 50, height: 50 });
  });

  it('serves the newest version under an old version marker, with the extension as a format wish', async () => {
    const response = await get({ width: 100, crop: 'scale', version: 1600000000, format: 'png' });
    expect(response.status).toBe(200);
    expect(await decode(response.body)).toMatchObject({ width: 100, format: 'png' });
    await expectColour(response.body, GREEN);
  });

  it.each(MALFORMED_BEFORE_VERSION)('%s/v1/… is a 400 with the reason header, not a 404', async (component, named) => {
    const response = await harness.get(`/${CLOUD}/image/upload/${component}/v1/products/shoe.jpg`);
    expect({ status: response.status, error: response.headers.get('x-afterimage-error') }).toEqual({ status: 400, error: expect.stringMatching(/^EINVAL - /) });
    expect(response.headers.get('x-afterimage-error')?.replace(/^EINVAL - /, '')).toMatch(named);
  });

  it('an unsupported parameter is a 400 with the reason header', async () => {
    const response = await get({ transformation: [{ overlay: 'text:arial_20_underline:hi' }] });
    expect(response.status).toBe(400);
    expect(response.headers.get('x-afterimage-error')).toMatch(/^EINVAL - Invalid Cloudinary transformation "l_text/);
  });
});

describe('the Cloudinary examples `npm start` prints', () => {
  let harness: Harness;
  beforeAll(async () => {
    harness = await startHarness({
      buckets: [SAMPLE_BUCKET],
      seed: async (s3) => {
        await seedCloudinaryBackup(s3);
      },
      config: (s3) => sampleConfig(s3.endpoint),
    });
  });
  afterAll(() => harness?.close());

  it.each(CLOUDINARY_EXAMPLES)('%s (%s)', async (url) => {
    const response = await harness.get(url);
    expect({ status: response.status, error: response.headers.get('x-afterimage-error') }).toEqual({ status: 200, error: null });
  });

  it('the explicit old version is the red one; v1 serves the newest (green)', async () => {
    await expectColour((await harness.get(CLOUDINARY_EXAMPLES[2][0])).body, { r: 0xdc, g: 0x26, b: 0x26 });
    await expectColour((await harness.get(CLOUDINARY_EXAMPLES[1][0])).body, { r: 0x16, g: 0xa3, b: 0x4a });
  });
});
