// README "Keeping Cloudinary URLs alive": Cloudinary delivery URLs as Cloudinary's official JavaScript SDK
// (@cloudinary/url-gen, the browser/JS builder) writes them, translated onto this service's
// parameters. First at the chain-text level (pure), then end to end against a Cloudinary backup
// on a real s3rver. test/cloudinary-urls.test.ts does the same for the Node SDK (`cloudinary`).
//
// url-gen writes two rows unlike the Node SDK: `dpr_2.0` as a component of its own, and
// `fl_progressive:<mode>` when given a mode. Both are covered here.
//
// The one row url-gen's builder cannot express: no `c_` with both sides (Cloudinary's implicit
// scale). Every url-gen resize action writes its crop mode, so a bare `w_300,h_200` comes out of
// it only through a raw transformation string, which would test our own text, not the SDK's
// (cloudinary-urls.test.ts covers it). Every other row is below. url-gen also writes
// `e_contrast:<level>`, which the table does not list (only `e_contrast`): a 400 naming it.

import { Actions, Cloudinary, Qualifiers, type CloudinaryImage } from '@cloudinary/url-gen';
import sharp from 'sharp';
import { parseConfig } from '../lambda/config';
import { parseRequestUrl } from '../lambda/request/parse-url';
import { BACKUP_BUCKET, GREEN, UPLOAD, backupOrigin, expectColour } from './helpers/cloudinary-fixture';
import { decode, pixel, solidImage, startHarness, type Harness } from '../tools/harness';

// url-gen's per-action entry points (`@cloudinary/url-gen/actions/resize`, …) have types only for
// ES module importers; this package is CommonJS, so the builders come from the root namespaces,
// which are the same functions. Compass points and focusOn values (not in those namespaces) are
// given as the strings url-gen's `compass()` and `gravity()` accept.
// `fit` would read as jest's focused test: the SDK's c_fit action is `fitResize` here.
const { crop, fill, fit: fitResize, limitFill, limitFit, limitPad, minimumFit, pad, scale, thumbnail } = Actions.Resize;
const { dpr, format, quality } = Actions.Delivery;
const { byAngle, mode } = Actions.Rotate;
const { blur, grayscale } = Actions.Effect;
const { contrast, sharpen } = Actions.Adjust;
const { byRadius, max } = Actions.RoundCorners;
const { solid } = Actions.Border;
const { name } = Actions.NamedTransformation;
const { color } = Qualifiers.Background;
const { autoGravity, compass } = Qualifiers.Gravity;
const { auto: autoQuality, autoBest, autoEco, autoGood, autoLow } = Qualifiers.Quality;
const { auto: autoFormat, avif, jpg, png, webp } = Qualifiers.Format;
const { horizontalFlip, verticalFlip } = Qualifiers.RotationMode;
const { ar16X9 } = Qualifiers.AspectRatio;

/** The endpoint prefix stands for the cloud name: url-gen's path `/demo/image/upload/…` is ours unchanged. */
const CLOUD = 'demo';
const PUBLIC_ID = 'products/shoe';

type Build = (image: CloudinaryImage) => CloudinaryImage;

/** url-gen with its `?_a=` analytics parameter off, and on (its default). */
const SDK = {
  plain: new Cloudinary({ cloud: { cloudName: CLOUD }, url: { analytics: false } }),
  analytics: new Cloudinary({ cloud: { cloudName: CLOUD } }),
};

/** A URL from url-gen, as a path and query on our host. */
function urlGenUrl(build: Build, { analytics = false, publicId = PUBLIC_ID } = {}): { path: string; query: string; url: string } {
  const url = build(SDK[analytics ? 'analytics' : 'plain'].image(publicId)).toURL();
  const parsed = new URL(url);
  expect(parsed.host).toBe('res.cloudinary.com');
  expect(parsed.pathname.startsWith(`/${CLOUD}/image/upload/`)).toBe(true);
  if (analytics) expect(parsed.search).toMatch(/^\?_a=[A-Za-z0-9_-]+$/);
  else expect(parsed.search).toBe('');
  return { path: parsed.pathname, query: parsed.search.replace(/^\?/, ''), url };
}

const endpoints = parseConfig({
  origins: [{ name: 'backup', type: 'cloudinary-backup', bucket: 'b', folder: `/res/${CLOUD}/` }],
  endpoints: [{ prefix: `/${CLOUD}`, origins: ['backup'], cloudinaryUrls: true }],
}).endpoints;

/** Steps with their parameters sorted: the order inside a step never matters (README "URL reference"). */
const normalise = (chain: string) => chain.split(':').map((step) => step.split(',').filter(Boolean).sort().join(',')).join(':');

function translate(build: Build, options: { analytics?: boolean; publicId?: string } = {}) {
  const { path, query } = urlGenUrl(build, options);
  const parsed = parseRequestUrl(endpoints, path, query);
  return { chain: normalise(parsed.chains.join(':')), path: parsed.path };
}

const GRAVITIES: [url: string, gravity: Parameters<ReturnType<typeof fill>['gravity']>[0], focus: string][] = [
  ['north', compass('north'), 'top'],
  ['south', compass('south'), 'bottom'],
  ['east', compass('east'), 'right'],
  ['west', compass('west'), 'left'],
  ['north_east', compass('north_east'), 'top_right'],
  ['north_west', compass('north_west'), 'top_left'],
  ['south_east', compass('south_east'), 'bottom_right'],
  ['south_west', compass('south_west'), 'bottom_left'],
  ['center', compass('center'), 'center'],
  ['auto', autoGravity(), 'auto'],
  ['face', 'face', 'face'],
  ['faces', 'faces', 'face'],
];

/** Every row of the spec's table that url-gen can express: builder → the chain it must become. */
const TABLE: [row: string, build: Build, chain: string][] = [
  // w_, h_ (fractions allowed), ar_, dpr_
  ['w_', (i) => i.resize(scale().width(300)), 'w-300'],
  ['h_', (i) => i.resize(scale().height(200)), 'h-200'],
  ['w_ fraction', (i) => i.resize(scale().width(0.5)), 'w-0.5'],
  ['h_ fraction', (i) => i.resize(scale().height(0.25)), 'h-0.25'],
  ['ar_16:9 (qualifier)', (i) => i.resize(fill().width(300).aspectRatio(ar16X9())), 'ar-16-9,c-maintain_ratio,w-300'],
  ['ar_16:9 (string)', (i) => i.resize(fill().width(300).aspectRatio('16:9')), 'ar-16-9,c-maintain_ratio,w-300'],
  ['ar_1.5', (i) => i.resize(fill().width(300).aspectRatio(1.5)), 'ar-1.5-1,c-maintain_ratio,w-300'],
  // url-gen writes dpr as a component of its own, always with a decimal point (dpr_2.0). Cloudinary
  // applies it to the whole image, so it joins the step that sizes it.
  ['dpr_ (dpr_2.0)', (i) => i.resize(scale().width(100)).delivery(dpr(2)), 'dpr-2.0,w-100'],
  ['dpr_ decimal', (i) => i.resize(fill().width(100).height(50)).delivery(dpr(1.5)), 'c-maintain_ratio,dpr-1.5,h-50,w-100'],
  // Crop modes. url-gen always writes c_, so c_scale with one side is a plain resize.
  ['c_scale, both sides', (i) => i.resize(scale().width(300).height(200)), 'c-force,h-200,w-300'],
  ['c_scale, one side', (i) => i.resize(scale().width(300)), 'w-300'],
  ['c_fit', (i) => i.resize(fitResize().width(300).height(200)), 'c-at_max_enlarge,h-200,w-300'],
  ['c_limit (limitFit)', (i) => i.resize(limitFit().width(300).height(200)), 'c-at_max,h-200,w-300'],
  ['c_mfit (minimumFit)', (i) => i.resize(minimumFit().width(300).height(200)), 'c-at_least,h-200,w-300'],
  ['c_fill', (i) => i.resize(fill().width(300).height(200)), 'c-maintain_ratio,h-200,w-300'],
  ['c_lfill (limitFill)', (i) => i.resize(limitFill().width(300).height(200)), 'c-maintain_ratio_limit,h-200,w-300'],
  ['c_thumb (thumbnail)', (i) => i.resize(thumbnail().width(100).height(100).gravity('face')), 'c-maintain_ratio,fo-face,h-100,w-100'],
  ['c_pad', (i) => i.resize(pad().width(300).height(200)), 'cm-pad_resize,h-200,w-300'],
  ['c_lpad (limitPad)', (i) => i.resize(limitPad().width(300).height(200)), 'c-at_max,cm-pad_resize,h-200,w-300'],
  ['c_crop, x_, y_', (i) => i.resize(crop().width(100).height(50).x(10).y(20)), 'cm-extract,h-50,w-100,x-10,y-20'],
  ['c_crop, negative x_, y_', (i) => i.resize(crop().width(100).height(50).x(-10).y(-20)), 'cm-extract,h-50,w-100,x-N10,y-N20'],
  // Gravity
  ...GRAVITIES.map(([g, gravity, fo]): [string, Build, string] => [
    `g_${g}`, (i) => i.resize(fill().width(100).height(100).gravity(gravity)), `c-maintain_ratio,fo-${fo},h-100,w-100`,
  ]),
  // Quality and format
  ['q_<n>', (i) => i.delivery(quality(55)), 'q-55'],
  ['q_auto', (i) => i.delivery(quality(autoQuality())), 'q-auto'],
  ['q_auto:best', (i) => i.delivery(quality(autoBest())), 'q-auto_best'],
  ['q_auto:good', (i) => i.delivery(quality(autoGood())), 'q-auto_good'],
  ['q_auto:eco', (i) => i.delivery(quality(autoEco())), 'q-auto_eco'],
  ['q_auto:low', (i) => i.delivery(quality(autoLow())), 'q-auto_low'],
  ['f_auto', (i) => i.delivery(format(autoFormat())), 'f-auto'],
  ['f_webp', (i) => i.delivery(format(webp())), 'f-webp'],
  ['f_png', (i) => i.delivery(format(png())), 'f-png'],
  ['f_jpg', (i) => i.delivery(format(jpg())), 'f-jpg'],
  ['f_avif', (i) => i.delivery(format(avif())), 'f-avif'],
  // Rotation and flips
  ['a_<deg>', (i) => i.rotate(byAngle(90)), 'rt-90'],
  ['a_<negative deg>', (i) => i.rotate(byAngle(-90)), 'rt-N90'],
  ['a_hflip', (i) => i.rotate(mode(horizontalFlip())), 'fl-h'],
  ['a_vflip', (i) => i.rotate(mode(verticalFlip())), 'fl-v'],
  // Effects
  ['e_blur', (i) => i.effect(blur()), 'bl-10'],
  ['e_blur:n', (i) => i.effect(blur().strength(300)), 'bl-30'],
  ['e_grayscale', (i) => i.effect(grayscale()), 'e-grayscale'],
  ['e_sharpen', (i) => i.adjust(sharpen()), 'e-sharpen'],
  ['e_sharpen:n', (i) => i.adjust(sharpen().strength(100)), 'e-sharpen-50'],
  ['e_contrast', (i) => i.adjust(contrast()), 'e-contrast'],
  // Radius
  ['r_<n>', (i) => i.roundCorners(byRadius(20)), 'r-20'],
  ['r_max', (i) => i.roundCorners(max()), 'r-max'],
  // Border and background (url-gen writes #RRGGBB as rgb:RRGGBB)
  ['b_<colour name> (pad background)', (i) => i.resize(pad().width(300).height(300).background(color('red'))), 'bg-red,cm-pad_resize,h-300,w-300'],
  ['b_rgb:RRGGBB (pad background, #RRGGBB)', (i) => i.resize(pad().width(300).height(300).background(color('#00ff00'))), 'bg-00FF00,cm-pad_resize,h-300,w-300'],
  ['b_rgb:RRGGBBAA (pad background)', (i) => i.resize(pad().width(300).height(300).background(color('rgb:0000ff00'))), 'bg-0000FF00,cm-pad_resize,h-300,w-300'],
  ['b_<colour> (backgroundColor action)', (i) => i.backgroundColor('red'), 'bg-red'],
  ['b_rgb:RRGGBB (backgroundColor action, #RRGGBB)', (i) => i.backgroundColor('#00ff00'), 'bg-00FF00'],
  ['bo_<n>px_solid_<colour>', (i) => i.border(solid(5, 'red')), 'b-5_red'],
  ['bo_<n>px_solid_rgb:RRGGBB', (i) => i.border(solid(4, '#00ff00')), 'b-4_00FF00'],
  // Progressive and named transformations
  ['fl_progressive (with f_jpg)', (i) => i.delivery(format(jpg()).progressive()), 'f-jpg,pr-true'],
  // Given a mode, url-gen writes it after a colon, the default one included.
  ['fl_progressive:progressive', (i) => i.delivery(format(jpg()).progressive('progressive')), 'f-jpg,pr-true'],
  ['fl_progressive:semi', (i) => i.delivery(format(jpg()).progressive('semi')), 'f-jpg,pr-true'],
  ['fl_progressive:steep', (i) => i.delivery(format(jpg()).progressive('steep')), 'f-jpg,pr-true'],
  ['fl_progressive:none', (i) => i.delivery(format(jpg()).progressive('none')), 'f-jpg,pr-false'],
  ['t_<name>', (i) => i.namedTransformation(name('thumb')), 'n-thumb'],
];

describe('translation of every row url-gen can express (spec 8)', () => {
  describe.each([
    ['analytics off', false],
    ['with the ?_a= analytics url-gen adds by default, which is ignored', true],
  ])('%s', (_what, analytics) => {
    it.each(TABLE)('%s', (_row, build, chain) => {
      const result = translate(build, { analytics });
      expect(result.chain).toBe(chain);
      expect(result.path).toBe('image/upload/v1/products/shoe');
    });
  });

  it('several actions form a chain, in order', () => {
    const result = translate((i) => i
      .resize(fill().width(400).height(300).gravity(compass('north')))
      .rotate(byAngle(90))
      .effect(grayscale())
      .delivery(quality(autoQuality()))
      .delivery(format(autoFormat())));
    expect(result.chain).toBe('c-maintain_ratio,fo-top,h-300,w-400:rt-90:e-grayscale:q-auto:f-auto');
  });

  it('keeps an explicit version and the extension in the path the backup origin reads', () => {
    expect(translate((i) => i.setVersion(1700000000).resize(scale().width(300)), { publicId: 'products/shoe.webp' }))
      .toEqual({ path: 'image/upload/v1700000000/products/shoe.webp', chain: 'w-300' });
    // A public id outside a folder gets no v1 from url-gen.
    expect(translate((i) => i.resize(scale().width(300)), { publicId: 'shoe.jpg' })).toEqual({ path: 'image/upload/shoe.jpg', chain: 'w-300' });
    expect(translate((i) => i, { publicId: 'shoe' })).toEqual({ path: 'image/upload/shoe', chain: '' });
  });

  it('a dpr_ component of its own applies to every component that sizes the image', () => {
    expect(translate((i) => i.resize(scale().width(100)).rotate(byAngle(90)).resize(fill().width(50).height(50)).delivery(dpr(2))).chain)
      .toBe('dpr-2.0,w-100:rt-90:c-maintain_ratio,dpr-2.0,h-50,w-50');
    // Without any w_ or h_ it stays as it is, and the parameter registry refuses it (a 400, end to end below).
    expect(translate((i) => i.delivery(dpr(2))).chain).toBe('dpr-2.0');
  });

  it('e_contrast with a level is not in the table: a 400 naming it', () => {
    const { path, query } = urlGenUrl((i) => i.adjust(contrast().level(50)));
    expect(() => parseRequestUrl(endpoints, path, query)).toThrow(/"e_contrast:50": e must be/);
  });
});

describe('end to end: url-gen URLs against a Cloudinary backup (spec 8)', () => {
  let harness: Harness;
  const WIDTH = 400;
  const HEIGHT = 300;

  beforeAll(async () => {
    harness = await startHarness({
      buckets: [BACKUP_BUCKET],
      // One 400×300 asset is enough here (seedCloudinaryBackup's 1,001-version asset would only slow this file).
      seed: async (s3) => {
        await s3.put(BACKUP_BUCKET, `${UPLOAD}/products/shoe/1700000000.jpg`, await solidImage(WIDTH, HEIGHT, GREEN), 'image/jpeg');
      },
      config: (s3) => ({
        origins: [backupOrigin(s3.endpoint, { name: 'backup' })],
        endpoints: [{ prefix: `/${CLOUD}`, origins: ['backup'], cloudinaryUrls: true }],
        namedTransformations: { thumb: 'w-50,h-50' },
      }),
    });
  });

  afterAll(() => harness?.close());

  async function get(build: Build, analytics = true) {
    const { path, query } = urlGenUrl(build, { analytics });
    const response = await harness.get(query ? `${path}?${query}` : path);
    expect({ status: response.status, error: response.headers.get('x-afterimage-error') }).toEqual({ status: 200, error: null });
    return { body: response.body, ...(await decode(response.body)) };
  }

  it('crop modes', async () => {
    expect(await get((i) => i.resize(scale().width(200)))).toMatchObject({ width: 200, height: 150 });
    expect(await get((i) => i.resize(scale().width(100).height(100)))).toMatchObject({ width: 100, height: 100 });
    expect(await get((i) => i.resize(fitResize().width(800).height(800)))).toMatchObject({ width: 800, height: 600 });
    expect(await get((i) => i.resize(limitFit().width(800).height(800)))).toMatchObject({ width: WIDTH, height: HEIGHT });
    expect(await get((i) => i.resize(minimumFit().width(100).height(100)))).toMatchObject({ width: 133, height: 100 });
    expect(await get((i) => i.resize(fill().width(100).height(100)))).toMatchObject({ width: 100, height: 100 });
    expect(await get((i) => i.resize(limitFill().width(800).height(600)))).toMatchObject({ width: WIDTH, height: HEIGHT });
    expect(await get((i) => i.resize(thumbnail().width(80).height(80)))).toMatchObject({ width: 80, height: 80 });
    expect(await get((i) => i.resize(pad().width(300).height(300)))).toMatchObject({ width: 300, height: 300 });
    expect(await get((i) => i.resize(limitPad().width(800).height(800)))).toMatchObject({ width: 800, height: 800 });
    expect(await get((i) => i.resize(crop().width(100).height(50).x(10).y(20)))).toMatchObject({ width: 100, height: 50 });
  });

  it('gravity', async () => {
    expect(await get((i) => i.resize(fill().width(100).height(200).gravity(compass('south_east'))))).toMatchObject({ width: 100, height: 200 });
    expect(await get((i) => i.resize(fill().width(100).height(100).gravity(autoGravity())))).toMatchObject({ width: 100, height: 100 });
  });

  it('quality and format', async () => {
    expect(await get((i) => i.delivery(quality(autoBest())))).toMatchObject({ width: WIDTH, height: HEIGHT, format: 'jpeg' });
    expect(await get((i) => i.delivery(format(webp())))).toMatchObject({ format: 'webp' });
    expect(await get((i) => i.delivery(format(png())))).toMatchObject({ format: 'png' });
  });

  it('rotation and flips', async () => {
    expect(await get((i) => i.rotate(byAngle(90)))).toMatchObject({ width: HEIGHT, height: WIDTH });
    expect(await get((i) => i.rotate(mode(horizontalFlip())))).toMatchObject({ width: WIDTH, height: HEIGHT });
  });

  it('effects', async () => {
    const grey = await get((i) => i.effect(grayscale()));
    const [r, g, b] = await pixel(grey.body, 200, 150);
    expect(Math.max(r, g, b) - Math.min(r, g, b)).toBeLessThanOrEqual(2);
    expect(await get((i) => i.effect(blur().strength(300)))).toMatchObject({ width: WIDTH, height: HEIGHT });
    expect(await get((i) => i.adjust(sharpen().strength(100)))).toMatchObject({ width: WIDTH, height: HEIGHT });
    expect(await get((i) => i.adjust(contrast()))).toMatchObject({ width: WIDTH, height: HEIGHT });
  });

  it('radius', async () => {
    expect(await get((i) => i.roundCorners(byRadius(20)).delivery(format(png())))).toMatchObject({ width: WIDTH, height: HEIGHT, format: 'png' });
    expect(await get((i) => i.roundCorners(max()))).toMatchObject({ width: WIDTH, height: HEIGHT });
  });

  it('border and background', async () => {
    const bordered = await get((i) => i.border(solid(5, 'red')));
    expect(bordered).toMatchObject({ width: WIDTH + 10, height: HEIGHT + 10 });
    await expectColour(bordered.body, { r: 255, g: 0, b: 0 });
    // A 400×300 picture padded to 300×300 on blue: the top rows are background.
    const padded = await get((i) => i.resize(pad().width(300).height(300).background(color('#0000ff'))));
    expect(padded).toMatchObject({ width: 300, height: 300 });
    await expectColour(padded.body, { r: 0, g: 0, b: 255 });
  });

  it('named transformation', async () => {
    expect(await get((i) => i.namedTransformation(name('thumb')))).toMatchObject({ width: 50, height: 50 });
  });

  it('dpr and aspect ratio', async () => {
    expect(await get((i) => i.resize(scale().width(100)).delivery(dpr(2)))).toMatchObject({ width: 200, height: 150 });
    expect(await get((i) => i.resize(fill().width(320).aspectRatio(ar16X9())))).toMatchObject({ width: 320, height: 180 });
  });

  it('progressive', async () => {
    const { body, format: decoded } = await get((i) => i.delivery(format(jpg()).progressive()));
    expect(decoded).toBe('jpeg');
    expect((await sharp(body).metadata()).isProgressive).toBe(true);
    const semi = await get((i) => i.delivery(format(jpg()).progressive('semi')));
    expect((await sharp(semi.body).metadata()).isProgressive).toBe(true);
    const none = await get((i) => i.delivery(format(jpg()).progressive('none')));
    expect((await sharp(none.body).metadata()).isProgressive).toBe(false);
  });

  it('a dpr_ with nothing to size is a 400 with the reason header', async () => {
    const { path } = urlGenUrl((i) => i.delivery(dpr(2)));
    const response = await harness.get(path);
    expect(response.status).toBe(400);
    expect(response.headers.get('x-afterimage-error')).toMatch(/dpr must be used with w or h/);
  });

  it('works without the analytics parameter too', async () => {
    expect(await get((i) => i.resize(fill().width(100).height(100)), false)).toMatchObject({ width: 100, height: 100 });
  });
});
