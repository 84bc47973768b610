// README "Output": output format precedence, as a pure decision.

import { chooseFormat, formatWishOf, type InputDescription } from '../lambda/image/format';

const jpeg: InputDescription = { format: 'jpeg', hasAlpha: false, animated: false };
const svg: InputDescription = { format: 'svg', hasAlpha: true, animated: false };
const animatedGif: InputDescription = { format: 'gif', hasAlpha: true, animated: true };
const tiffWithAlpha: InputDescription = { format: 'tiff', hasAlpha: true, animated: false };
const avifInput: InputDescription = { format: 'heif', compression: 'av1', hasAlpha: false, animated: false };
const AVIF_ACCEPT = 'image/avif,image/webp,*/*';

describe('4.1 f-<format> in the chain wins', () => {
  it('over a format wish, the configured default and Accept', () => {
    expect(chooseFormat({ explicit: 'png', formatWish: 'webp', configured: 'avif', accept: AVIF_ACCEPT, input: jpeg })).toEqual({ format: 'png', negotiated: false });
  });
  it('f-orig is the input\'s own format', () => {
    expect(chooseFormat({ explicit: 'orig', configured: 'auto', accept: AVIF_ACCEPT, input: jpeg })).toEqual({ format: 'jpeg', negotiated: false });
    expect(chooseFormat({ explicit: 'orig', configured: 'auto', input: avifInput }).format).toBe('avif');
  });
  it('an explicit format converts SVG and animations too', () => {
    expect(chooseFormat({ explicit: 'png', configured: 'auto', input: svg }).format).toBe('png');
    expect(chooseFormat({ explicit: 'jpeg', configured: 'auto', input: animatedGif }).format).toBe('jpeg');
  });
});

describe('4.2 a Cloudinary format wish comes next', () => {
  it('selects the requested extension over the configured default', () => {
    expect(chooseFormat({ formatWish: 'webp', configured: 'auto', accept: AVIF_ACCEPT, input: jpeg })).toEqual({ format: 'webp', negotiated: false });
  });
  it('the wish is the requested extension when it names a format we encode to and differs from the stored one', () => {
    expect(formatWishOf('webp', 'jpg')).toBe('webp');
    expect(formatWishOf('jpg', 'png')).toBe('jpeg');
    expect(formatWishOf('jpeg', 'tif')).toBe('jpeg');
    expect(formatWishOf('png', '')).toBe('png');
  });
  it('no wish for the stored format under another spelling, an extension that is no output format, or none', () => {
    expect(formatWishOf('jpg', 'jpeg')).toBeUndefined();
    expect(formatWishOf('jpeg', 'jpg')).toBeUndefined();
    expect(formatWishOf('png', 'png')).toBeUndefined();
    expect(formatWishOf('tiff', 'jpg')).toBeUndefined();
    expect(formatWishOf('constructor', 'jpg')).toBeUndefined();
    expect(formatWishOf(undefined, 'jpg')).toBeUndefined();
    expect(formatWishOf(undefined, undefined)).toBeUndefined();
  });
});

describe('4.3 the configured default: auto negotiates from Accept', () => {
  it('AVIF, then WebP, else the input\'s format, always marked as negotiated (Vary: Accept)', () => {
    expect(chooseFormat({ configured: 'auto', accept: AVIF_ACCEPT, input: jpeg })).toEqual({ format: 'avif', negotiated: true });
    expect(chooseFormat({ configured: 'auto', accept: 'image/webp,*/*', input: jpeg })).toEqual({ format: 'webp', negotiated: true });
    expect(chooseFormat({ configured: 'auto', accept: '*/*', input: jpeg })).toEqual({ format: 'jpeg', negotiated: true });
    expect(chooseFormat({ configured: 'auto', input: jpeg })).toEqual({ format: 'jpeg', negotiated: true });
  });
  it('inputs browsers cannot show become PNG (alpha) or JPEG', () => {
    expect(chooseFormat({ configured: 'auto', accept: '*/*', input: tiffWithAlpha }).format).toBe('png');
  });
  it('a fixed configured format applies without negotiation', () => {
    expect(chooseFormat({ configured: 'webp', accept: AVIF_ACCEPT, input: jpeg })).toEqual({ format: 'webp', negotiated: false });
  });
  it('SVG and animated inputs keep their format unless the URL names one, whatever the configured default', () => {
    expect(chooseFormat({ configured: 'auto', accept: AVIF_ACCEPT, input: svg })).toEqual({ format: 'svg', negotiated: true });
    expect(chooseFormat({ configured: 'webp', accept: AVIF_ACCEPT, input: svg })).toEqual({ format: 'svg', negotiated: false });
    expect(chooseFormat({ configured: 'jpeg', accept: AVIF_ACCEPT, input: animatedGif })).toEqual({ format: 'gif', negotiated: false });
    expect(chooseFormat({ explicit: 'auto', configured: 'jpeg', accept: AVIF_ACCEPT, input: animatedGif })).toEqual({ format: 'gif', negotiated: true });
  });
});

describe('4.3 Accept is parsed: media ranges, q values, wildcards', () => {
  const CHROME = 'image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8';
  const SAFARI = 'image/webp,image/avif,image/jxl,image/heic,image/heic-sequence,video/*;q=0.8,image/png,image/svg+xml,image/*;q=0.8,*/*;q=0.5';
  const OLD_SAFARI = 'image/png,image/svg+xml,image/*;q=0.8,video/*;q=0.8,*/*;q=0.5';

  it.each([
    // browsers as they are
    [CHROME, 'avif'],
    [SAFARI, 'avif'],
    [OLD_SAFARI, 'jpeg'],
    ['image/webp,*/*', 'webp'],
    // q=0 refuses a type, whatever the spelling
    ['image/avif;q=0,image/webp', 'webp'],
    ['image/avif;q=0', 'jpeg'],
    ['image/avif; q=0.0, image/webp;q=0', 'jpeg'],
    ['image/avif;Q=0.000,image/webp', 'webp'],
    ['IMAGE/AVIF ; q=0 , image/webp', 'webp'],
    ['image/avif;q=0,image/avif', 'jpeg'],
    // any q above 0 accepts; the higher q wins between AVIF and WebP, AVIF on a tie
    ['image/avif;q=0.001', 'avif'],
    ['image/avif;q=0.5,image/webp;q=0.9', 'webp'],
    ['image/webp;q=0.5,image/avif;q=0.5', 'avif'],
    ['image/avif;level=1;q=0.8', 'avif'],
    // wildcards do not stand for AVIF or WebP (browsers send them for every image), nor can they refuse a listed type
    ['image/*', 'jpeg'],
    ['*/*', 'jpeg'],
    ['*', 'jpeg'],
    ['image/*;q=0,image/avif', 'avif'],
    ['*/*;q=0,image/webp', 'webp'],
    // substrings are not types
    ['image/avifx,image/webpish', 'jpeg'],
    ['application/x-image/avif', 'jpeg'],
    ['image/avif-sequence', 'jpeg'],
    // a range that is not well formed is left out; the others stay
    ['image/avif;q=2,image/webp', 'webp'],
    ['image/avif;q=abc', 'jpeg'],
    ['image/avif;q=,image/webp;q=0.5', 'webp'],
    ['avif,webp', 'jpeg'],
    ['', 'jpeg'],
  ])('%j → %s', (accept, format) => {
    expect(chooseFormat({ configured: 'auto', accept, input: jpeg })).toEqual({ format, negotiated: true });
  });
});
