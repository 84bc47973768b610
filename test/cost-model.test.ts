// README "Memory and time": every request's cost is estimated before the work and kept within
// limits.memoryBudgetMB, limits.maxEncodeSeconds and limits.maxAvifPixels. The first part
// checks the decisions end to end (real s3rver, real HTTP); the second measures the peak
// memory (VmHWM) of the worst requests the limits allow, each in a child process.

import sharp from 'sharp';
import { DEFAULT_LIMITS } from '../lambda/config';
import { affordableFormat, estimateCost, type CostInput } from '../lambda/image/cost';
import { decode, s3Origin, startHarness, type Harness } from '../tools/harness';
import { largestAllowedInput, measurePeakRss, noiseImage, type WorstCase } from '../tools/peak-rss';

const BUCKET = 'cost';
const AVIF_AND_WEBP = 'image/avif,image/webp,image/apng,*/*;q=0.8';

/** Gaussian noise (it compresses worst), `channels` 3 or 4. */
async function noise(width: number, height: number, channels: 3 | 4, format: 'jpeg' | 'png'): Promise<Buffer> {
  const image = sharp({ create: { width, height, channels, background: { r: 128, g: 128, b: 128, alpha: 0.5 }, noise: { type: 'gaussian', mean: 128, sigma: 60 } } });
  return format === 'jpeg' ? image.jpeg().toBuffer() : image.png({ compressionLevel: 1 }).toBuffer();
}

describe('the cost model, checked before the work', () => {
  let h: Harness;

  beforeAll(async () => {
    h = await startHarness({
      buckets: [BUCKET],
      config: (s3) => ({
        origins: [s3Origin(s3, { name: 'main', bucket: BUCKET })],
        // Small limits, so small images reach them: the model is linear in pixels. The whole
        // budget goes to renders (the cache of originals' share has its own test).
        limits: { maxAvifPixels: 200 * 200, memoryBudgetMB: 160, maxEncodeSeconds: 1, originalCacheMB: 0 },
      }),
      seed: async (s3) => {
        await s3.put(BUCKET, 'photo.jpg', await noise(300, 300, 3, 'jpeg'), 'image/jpeg');
        await s3.put(BUCKET, 'large.png', await noise(1000, 1000, 4, 'png'), 'image/png');
        await s3.put(BUCKET, 'wide.jpg', await noise(1000, 700, 3, 'jpeg'), 'image/jpeg');
        await s3.put(BUCKET, 'small.png', await noise(200, 200, 4, 'png'), 'image/png');
      },
    });
  });
  afterAll(() => h.close());

  describe('AVIF only up to limits.maxAvifPixels', () => {
    it('a negotiated AVIF over it is WebP, still varying on Accept, with the ETag of the WebP', async () => {
      const large = await h.get('/photo.jpg', { accept: AVIF_AND_WEBP });
      expect(large.status).toBe(200);
      expect(large.headers.get('content-type')).toBe('image/webp');
      expect(large.headers.get('vary')).toBe('Accept');
      expect((await decode(large.body)).format).toBe('webp');
      // The same bytes as a WebP-only client gets: one ETag; a JPEG client's differs.
      const webpOnly = await h.get('/photo.jpg', { accept: 'image/webp' });
      expect(webpOnly.headers.get('etag')).toBe(large.headers.get('etag'));
      const jpegOnly = await h.get('/photo.jpg', { accept: 'image/jpeg' });
      expect(jpegOnly.headers.get('etag')).not.toBe(large.headers.get('etag'));
      expect(jpegOnly.headers.get('content-type')).toBe('image/jpeg');
      // A client that takes AVIF but not WebP gets the input's own format.
      expect((await h.get('/photo.jpg', { accept: 'image/avif' })).headers.get('content-type')).toBe('image/jpeg');
      // A revalidation with the ETag it was given is a 304.
      const revalidated = await h.get('/photo.jpg', { accept: AVIF_AND_WEBP, 'if-none-match': large.headers.get('etag')! });
      expect(revalidated.status).toBe(304);
    });

    it('within it, AVIF as before', async () => {
      const small = await h.get('/tr:w-200/photo.jpg', { accept: AVIF_AND_WEBP });
      expect(small.headers.get('content-type')).toBe('image/avif');
      expect((await decode(small.body)).format).toBe('heif');
    });

    it('a large image asked for without transformations is not re-encoded to AVIF', async () => {
      const res = await h.get('/large.png', { accept: AVIF_AND_WEBP });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).not.toBe('image/avif');
    });

    it('an explicit f-avif over it is a 422 that names the limit and a format that fits', async () => {
      const res = await h.get('/tr:f-avif/photo.jpg', { accept: AVIF_AND_WEBP });
      expect(res.status).toBe(422);
      expect(res.headers.get('x-afterimage-error')).toMatch(/^ELIMIT - .*AVIF output of 300x300 is over 40000 pixels \(limits\.maxAvifPixels\); f-webp fits$/);
      // The answer depends on budgets an operator may raise: never cached.
      expect(res.headers.get('cache-control')).toBe('no-store');
    });
  });

  describe('peak memory within limits.memoryBudgetMB', () => {
    it('a negotiated WebP over the budget steps down to PNG for an image with alpha', async () => {
      const res = await h.get('/large.png', { accept: AVIF_AND_WEBP });
      expect(res.headers.get('content-type')).toBe('image/png');
      expect(res.headers.get('vary')).toBe('Accept');
      const decoded = await decode(res.body);
      expect(decoded).toMatchObject({ format: 'png', width: 1000, height: 1000, hasAlpha: true });
      // The same image, small enough, is WebP.
      expect((await h.get('/small.png', { accept: 'image/webp' })).headers.get('content-type')).toBe('image/webp');
    });

    it('an explicit f-webp over the budget is a 422 naming the budget and what fits', async () => {
      const res = await h.get('/tr:f-webp/large.png');
      expect(res.status).toBe(422);
      expect(res.headers.get('cache-control')).toBe('no-store');
      expect(res.headers.get('x-afterimage-error')).toMatch(/^ELIMIT - .*WEBP output of 1000x1000 would need about \d+ MB at peak; the budget is 160 MB \(limits\.memoryBudgetMB\); f-png fits$/);
    });

    it("a chain's intermediate images count: growing them past the budget is a 422", async () => {
      expect((await h.get('/tr:rt-45,f-jpg/photo.jpg')).status).toBe(200);
      const res = await h.get('/tr:rt-45:rt-45:rt-45:rt-45:rt-45:rt-45:w-100,f-jpg/photo.jpg');
      expect(res.status).toBe(422);
      expect(res.headers.get('x-afterimage-error')).toMatch(/^ELIMIT - .*JPEG output of 100x100 \(with intermediate images of \d+ pixels\) would need about \d+ MB at peak; the budget is 160 MB \(limits\.memoryBudgetMB\); a smaller size or a shorter chain would fit$/);
    });
  });

  describe('encoding time within limits.maxEncodeSeconds', () => {
    it('a GIF whose estimated encoding is over the limit is a 422 naming it', async () => {
      const res = await h.get('/tr:f-gif/wide.jpg');
      expect(res.status).toBe(422);
      expect(res.headers.get('x-afterimage-error')).toMatch(/^ELIMIT - .*GIF output of 1000x700 would take about \d+ s to encode; the limit is 1 s \(limits\.maxEncodeSeconds\)/);
      expect((await h.get('/tr:w-100,f-gif/wide.jpg')).headers.get('content-type')).toBe('image/gif');
    });

    // Pure: the model needs no pixels, only what the header says.
    const animation: CostInput = { format: 'gif', width: 600, height: 600, pages: 20, animated: true, hasAlpha: true, channels: 4, bytesPerSample: 1, progressive: false, bytes: 5_000_000 };
    const gifDecision = { format: 'gif' as const, negotiated: true };

    it('an animated GIF too slow to encode as GIF under f-auto is an animated WebP when Accept names WebP, else a 422', () => {
      const limits = { ...DEFAULT_LIMITS, maxEncodeSeconds: 10 };
      expect(estimateCost(animation, [], {}, 'gif').encodeSeconds).toBeGreaterThan(10);
      expect(affordableFormat({ input: animation, steps: [], output: {}, decision: gifDecision, accept: 'image/webp', limits })).toBe('webp');
      expect(estimateCost(animation, [], {}, 'webp').frames).toBe(20);
      expect(() => affordableFormat({ input: animation, steps: [], output: {}, decision: gifDecision, accept: 'image/png', limits })).toThrow(/GIF output of 600x600 x 20 frames would take about \d+ s to encode/);
    });

    it('an animation rendered to a still format is costed as its first frame, not waved through', () => {
      // Counting all 20 frames made the pixel check report "over", and the model stood aside;
      // the pipeline then rendered one frame at 8192² as AVIF (2.9 GB).
      const big = [{ width: { px: 8192 }, height: { px: 8192 }, crop: 'force' as const }];
      const avif = { format: 'avif' as const, negotiated: false };
      expect(() => affordableFormat({ input: animation, steps: big, output: {}, decision: avif, limits: DEFAULT_LIMITS })).toThrow(/AVIF output of 8192x8192 is over 8294400 pixels/);
    });

    it('the estimate grows with the pixels, the steps and the format', () => {
      const photo: CostInput = { ...animation, format: 'jpeg', pages: 1, animated: false, hasAlpha: false, channels: 3, bytes: 1_000_000 };
      const big = { ...photo, width: 1600, height: 1600 };
      expect(estimateCost(big, [], {}, 'jpeg').memoryMiB).toBeGreaterThan(estimateCost(photo, [], {}, 'jpeg').memoryMiB);
      expect(estimateCost(photo, [{ blur: 10 }, { blur: 10 }, { blur: 10 }], {}, 'jpeg').memoryMiB).toBeGreaterThan(estimateCost(photo, [{ blur: 10 }], {}, 'jpeg').memoryMiB);
      expect(estimateCost(photo, [], {}, 'avif').memoryMiB).toBeGreaterThan(estimateCost(photo, [], {}, 'webp').memoryMiB);
      expect(estimateCost(photo, [], { lossless: true }, 'webp').encodeSeconds).toBeGreaterThan(estimateCost(photo, [], {}, 'webp').encodeSeconds);
    });
  });
});

describe('peak memory of the worst requests the limits allow (VmHWM of a child process)', () => {
  // README "Layers": a layer image's decoding, its own steps and its result count, as a text box does.
  it.each([
    ['an image layer turned by its own step', 'f-jpg,l-image,i-layer.png,rt-45,l-end'],
    ['two layers of one image, one resized', 'f-jpg,l-image,i-layer.png,w-1000,l-end,l-image,i-layer.png,o-50,lfo-top_left,l-end'],
    ['a long wrapped text on a background', `f-jpg,l-text,ie-${Buffer.from('Sale! '.repeat(80)).toString('base64url')},fs-60,w-1400,bg-FF000050,pa-20,l-end`],
  ])('layers count: %s peaks within the estimate', async (_name, chain) => {
    const result = await measurePeakRss({ inputFile: await noiseImage('jpeg', 1500, 1500), chain, layerFiles: { 'layer.png': await noiseImage('png', 2000, 2000) } });
    expect(result.status).toBe(200);
    expect(result.peakMiB).toBeLessThanOrEqual(result.estimateMiB!);
  }, 60_000);

  it('at full scale: w-8192,h-8192 for a browser that takes AVIF stays within the default budget', async () => {
    const file = await noiseImage('jpeg', 600, 400);
    const result = await measurePeakRss({ inputFile: file, chain: 'w-8192,h-8192', accept: AVIF_AND_WEBP });
    // AVIF is over limits.maxAvifPixels, WebP over limits.maxEncodeSeconds: JPEG, the input's own.
    expect(result).toMatchObject({ status: 200, format: 'jpeg', width: 8192, height: 8192 });
    expect(result.peakMiB).toBeLessThanOrEqual(DEFAULT_LIMITS.memoryBudgetMB);
  }, 180_000);

  it('at full scale: the largest progressive JPEG the default budget lets rt-45:bl-20:e-contrast run on stays within it', async () => {
    const worstCase: WorstCase = { kind: 'jpeg-progressive', chain: 'rt-45:bl-20:e-contrast,f-jpg', limits: {} };
    const { file } = await largestAllowedInput(worstCase);
    const result = await measurePeakRss({ inputFile: file, chain: worstCase.chain });
    expect(result).toMatchObject({ status: 200, format: 'jpeg' });
    expect(result.peakMiB).toBeLessThanOrEqual(DEFAULT_LIMITS.memoryBudgetMB);
  }, 180_000);

  // A smaller budget with inputs scaled to it (the model is linear in pixels): each case is the
  // largest square input for which the model still allows the chain in the format it names.
  const limits = { memoryBudgetMB: 320, maxEncodeSeconds: 4 };
  const worst: WorstCase[] = [
    { kind: 'jpeg-progressive', chain: 'rt-45:bl-20:e-contrast,f-jpg', limits },
    { kind: 'png-interlaced', chain: 'bl-20:fl-v,f-png,pr-true', limits },
    { kind: 'png-16bit', chain: 'rt-30,f-png', limits },
    { kind: 'png', chain: 'e-contrast:r-40,f-webp', limits },
    { kind: 'png', chain: 'f-webp,lo-true', limits },
    { kind: 'png', chain: 'bl-20:e-contrast,f-avif', limits },
    { kind: 'gif-animated', chain: 'w-0.9,f-gif', limits },
    { kind: 'webp-animated', chain: 'w-0.9,f-webp', limits },
  ];
  it.each(worst)('$kind with $chain stays within a $limits.memoryBudgetMB MB budget', async (worstCase) => {
    const { file, format } = await largestAllowedInput(worstCase);
    const result = await measurePeakRss({ inputFile: file, chain: worstCase.chain, limits: worstCase.limits });
    expect(result).toMatchObject({ status: 200, format });
    expect(result.peakMiB).toBeLessThanOrEqual(worstCase.limits.memoryBudgetMB!);
  }, 60_000);
});
