// Spec section 4: output format precedence, as a pure decision.

import { chooseFormat, type InputDescription } from '../lambda/image/format';

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
