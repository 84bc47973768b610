// README "Layers" and "Keeping Cloudinary URLs alive": Cloudinary's l_ / u_ … fl_layer_apply, as
// Cloudinary's SDKs write them (@cloudinary/url-gen's overlay(source(…)) and the Node SDK's
// `overlay:`), translated into the same layer chain as an ImageKit URL; then drawn end to end
// from a Cloudinary backup on a real s3rver (layer public ids have no extension there either).

import { Actions, Cloudinary, Qualifiers, Transformation } from '@cloudinary/url-gen';
import { v2 as cloudinary } from 'cloudinary';
import sharp from 'sharp';
import { parseConfig } from '../lambda/config';
import { parseRequestUrl } from '../lambda/request/parse-url';
import { BACKUP_BUCKET, CLOUD, UPLOAD, backupOrigin } from './helpers/cloudinary-fixture';
import { startHarness, type Harness } from '../tools/harness';

// url-gen's TextStyle has types only for ES module importers (see cloudinary-url-gen.test.ts); the class is the same.
const { TextStyle } = require('@cloudinary/url-gen/qualifiers/textStyle') as { TextStyle: new (font: string, size: number) => { fontWeight(w: string): unknown; fontStyle(s: string): unknown } };
const { source } = Actions.Overlay;
const { image, text } = Qualifiers.Source;
const { compass } = Qualifiers.Gravity;
const Position = Qualifiers.Position;
const { scale } = Actions.Resize;
const { grayscale } = Actions.Effect;
const { opacity } = Actions.Adjust;

const urlGen = new Cloudinary({ cloud: { cloudName: CLOUD }, url: { analytics: false } });

const endpoints = parseConfig({
  origins: [{ name: 'backup', type: 'cloudinary-backup', bucket: 'b', folder: `/res/${CLOUD}/` }],
  endpoints: [{ prefix: `/${CLOUD}`, origins: ['backup'], cloudinaryUrls: true }],
}).endpoints;

/** A Cloudinary URL as a path and query on our host. */
const local = (url: string) => {
  const parsed = new URL(url);
  return { path: parsed.pathname, query: parsed.search.replace(/^\?/, '') };
};
const chainOf = (url: string) => {
  const { path, query } = local(url);
  return parseRequestUrl(endpoints, path, query).chains.join(':');
};
const nodeSdk = (options: Record<string, unknown>) => cloudinary.url('products/shoe', { cloud_name: CLOUD, secure: true, ...options });
const b64 = (t: string) => Buffer.from(t).toString('base64url');

describe('the translation: Cloudinary layers become the layer chain', () => {
  test.each([
    [
      'url-gen: an image with its own transformations, placed by gravity and offsets',
      urlGen.image('products/shoe').overlay(source(image('logos/brand').transformation(new Transformation().resize(scale().width(50)).effect(grayscale()).adjust(opacity(60)))).position(new Position().gravity(compass('north_east')).offsetX(10).offsetY(20))).toURL(),
      'l-image,lfo-top_right,lx-N10,ly-20,o-60,i-image@@upload@@logos@@brand,w-50:e-grayscale,l-end',
    ],
    [
      'url-gen: a text with a style, colour and background',
      urlGen.image('products/shoe').overlay(source(text('Sale, 50%/off', new TextStyle('Arial', 30).fontWeight('bold') as never).textColor('white').backgroundColor('blue')).position(new Position().gravity(compass('south')).offsetY(5))).toURL(),
      `l-text,lfo-bottom,ly-N5,ie-${b64('Sale, 50%/off')},ff-Arial,fs-30,tg-b,co-white,bg-blue,l-end`,
    ],
    [
      'url-gen: an underlay',
      urlGen.image('products/shoe').underlay(Actions.Underlay.source(image('bg'))).toURL(),
      'l-image,i-image@@upload@@bg,lm-under,l-end',
    ],
    [
      'the Node SDK: the older one-component form, placement and size in it',
      nodeSdk({ transformation: [{ width: 300 }, { overlay: 'logos:brand', width: 50, gravity: 'south_east', x: 10, y: 10, opacity: 50 }] }),
      'w-300:l-image,lfo-bottom_right,lx-N10,ly-N10,o-50,i-image@@upload@@logos@@brand,w-50,l-end',
    ],
    [
      'the Node SDK: a text overlay',
      nodeSdk({ transformation: [{ overlay: { font_family: 'Arial', font_size: 30, font_weight: 'bold', font_style: 'italic', text: 'Hi, there/you' }, color: 'white', background: 'blue', gravity: 'north_west', x: 4, y: 6 }] }),
      `l-text,lfo-top_left,lx-4,ly-6,ie-${b64('Hi, there/you')},ff-Arial,fs-30,tg-b_i,co-white,bg-blue,l-end`,
    ],
    [
      'the Node SDK: fl_layer_apply written out, the layer resized in its own component',
      nodeSdk({ transformation: [{ overlay: 'logo' }, { width: 50, crop: 'scale' }, { flags: 'layer_apply', gravity: 'north_west', x: 5 }] }),
      'l-image,lfo-top_left,lx-5,i-image@@upload@@logo,w-50,l-end',
    ],
    ['the Node SDK: an underlay', nodeSdk({ underlay: 'bg' }), 'l-image,i-image@@upload@@bg,lm-under,l-end'],
  ])('%s', (_name, url, chain) => {
    expect(chainOf(url)).toBe(chain);
  });

  const base = `https://res.cloudinary.com/${CLOUD}/image/upload`;
  test.each([
    ['l_fetch:aHR0cHM6Ly9leGFtcGxlLmNvbS9hLnBuZw==/fl_layer_apply', 'l must be the public id of an image'],
    ['l_video:clip/fl_layer_apply', 'l must be the public id of an image'],
    ['l_text:Arial_20_underline:Hi/fl_layer_apply', 'the style "underline" is not supported'],
    ['l_text:Arial:Hi', 'l must be l_text:<font>_<size>'],
    ['l_logo/fl_layer_apply,g_auto', 'g must be one of center'],
    ['l_logo/fl_layer_apply,g_north,x_10', 'x must be 0 with g_north'],
    ['l_logo/fl_layer_apply,g_west,x_-10', 'x must be positive'],
    ['l_logo/fl_layer_apply,x_5', 'x must be 0 with g_center'],
    ['l_logo/fl_layer_apply,g_west,x_0.1', 'x must be a whole number of pixels'],
    ['l_logo/fl_layer_apply,w_10', 'only g_, x_ and y_ are supported beside fl_layer_apply'],
    ['fl_layer_apply', 'it closes a layer, but no l_ or u_ opened one'],
    ['l_a/l_b/fl_layer_apply', 'a layer cannot contain another layer'],
    ['co_red', 'co_ is supported in a layer only'],
    ['l_text:Arial_20:Hi,e_grayscale', 'a text layer takes only'],
    ['l_logo,e_pixelate', 'e must be one of'],
  ])('%s is a 400 naming it', (components, message) => {
    expect(() => chainOf(`${base}/${components}/v1/products/shoe.png`)).toThrow(message);
  });
});

describe('end to end, from a Cloudinary backup', () => {
  let harness: Harness;
  const GREY = [100, 100, 100];

  beforeAll(async () => {
    harness = await startHarness({
      buckets: [BACKUP_BUCKET],
      seed: async (s3) => {
        const grey = await sharp({ create: { width: 200, height: 100, channels: 3, background: { r: 100, g: 100, b: 100 } } }).png().toBuffer();
        const red = await sharp({ create: { width: 40, height: 40, channels: 3, background: { r: 255, g: 0, b: 0 } } }).png().toBuffer();
        // A transparent base with an opaque grey middle, for the underlay.
        const holed = await sharp({ create: { width: 200, height: 100, channels: 4, background: { r: 0, g: 0, b: 0, alpha: 0 } } })
          .composite([{ input: { create: { width: 100, height: 100, channels: 4, background: { r: 100, g: 100, b: 100, alpha: 1 } } }, left: 50, top: 0 }])
          .png()
          .toBuffer();
        await s3.put(BACKUP_BUCKET, `${UPLOAD}/products/shoe/1700000000.png`, grey, 'image/png');
        await s3.put(BACKUP_BUCKET, `${UPLOAD}/products/holed/1700000000.png`, holed, 'image/png');
        await s3.put(BACKUP_BUCKET, `${UPLOAD}/logos/brand/1600000000.png`, grey, 'image/png');
        await s3.put(BACKUP_BUCKET, `${UPLOAD}/logos/brand/1700000000.png`, red, 'image/png'); // the newest version is the one drawn
      },
      config: (s3) => ({
        origins: [backupOrigin(s3.endpoint, { name: 'backup' })],
        endpoints: [{ prefix: `/${CLOUD}`, origins: ['backup'], cloudinaryUrls: true }],
      }),
    });
  });
  afterAll(() => harness.close());

  const draw = async (url: string, publicId = 'products/shoe') => {
    const { path, query } = local(url.replace('/products/shoe', `/${publicId}`));
    const result = await harness.get(`${path}${query ? `?${query}` : ''}`);
    if (result.status !== 200) throw new Error(`${result.status}: ${result.headers.get('x-afterimage-error')}`);
    const { data, info } = await sharp(result.body).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
    return (x: number, y: number) => [...data.subarray((y * info.width + x) * 4, (y * info.width + x) * 4 + 4)];
  };
  const near = (actual: number[], expected: number[]) => {
    for (const [i, v] of expected.entries()) expect(Math.abs(actual[i] - v)).toBeLessThanOrEqual(8);
  };

  test('url-gen: the newest version of the layer image, at north_east with offsets', async () => {
    const at = await draw(urlGen.image('products/shoe').format('png' as never).overlay(source(image('logos/brand')).position(new Position().gravity(compass('north_east')).offsetX(10).offsetY(20))).toURL());
    near(at(200 - 10 - 40, 20), [255, 0, 0]); // left edge 150, top 20
    near(at(189, 59), [255, 0, 0]);
    near(at(190, 20), GREY);
    near(at(149, 20), GREY);
    near(at(160, 19), GREY);
  });

  test('the Node SDK: text with a background at the bottom', async () => {
    const at = await draw(nodeSdk({ format: 'png', transformation: [{ overlay: { font_family: 'Arial', font_size: 20, text: 'Hi, you' }, color: 'white', background: 'blue', gravity: 'south', y: 5 }] }));
    // The box's bottom row is 5 px up, centred: blue at its ends (the glyphs are white).
    const row = (y: number) => Array.from({ length: 200 }, (_, x) => at(x, y));
    const blue = row(94).filter(([r, g, b]) => r < 10 && g < 10 && b > 245).length;
    expect(blue).toBeGreaterThan(20);
    expect(row(95).every(([r, g, b]) => r === 100 && g === 100 && b === 100)).toBe(true);
    const first = row(94).findIndex(([r, g, b]) => b > 245 && r < 10 && g < 10);
    const last = 199 - [...row(94)].reverse().findIndex(([r, g, b]) => b > 245 && r < 10 && g < 10);
    expect(Math.abs(first + last - 199)).toBeLessThanOrEqual(1); // centred
    near(at(2, 90), GREY);
  });

  test('url-gen: an underlay shows where the image is transparent', async () => {
    const at = await draw(urlGen.image('products/shoe').format('png' as never).underlay(Actions.Underlay.source(image('logos/brand').transformation(new Transformation().resize(scale().width(200).height(100))))).toURL(), 'products/holed');
    near(at(10, 50), [255, 0, 0]); // transparent there: the underlay
    near(at(100, 50), GREY); // the image's own opaque middle stays on top
  });

  test('a missing layer image is a 404 naming it', async () => {
    const { path } = local(urlGen.image('products/shoe').overlay(source(image('logos/gone'))).toURL());
    const result = await harness.get(path);
    expect(result.status).toBe(404);
    expect(result.headers.get('x-afterimage-error')).toContain('layer image "image/upload/logos/gone"');
  });
});
