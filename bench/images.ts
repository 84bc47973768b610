// The benchmark's originals, made with sharp from a seeded generator: the same bytes on every run
// and machine (for a given sharp/libvips), and content that costs what a photograph costs to
// decode and encode (detail at every scale, soft gradients, grain), not flat colour.

import sharp from 'sharp';

/** A small deterministic generator (mulberry32): `Math.random` would change the files every run. */
function generator(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

/** Seeded noise of `width`×`height`×`channels`, enlarged smoothly to the full size. */
async function noiseLayer(seed: number, width: number, height: number, channels: 3 | 4, scale: number): Promise<Uint8Array> {
  const random = generator(seed);
  const w = Math.max(2, Math.ceil(width / scale));
  const h = Math.max(2, Math.ceil(height / scale));
  const small = Buffer.alloc(w * h * channels);
  for (let i = 0; i < small.length; i++) small[i] = Math.floor(random() * 256);
  const image = sharp(small, { raw: { width: w, height: h, channels } });
  const enlarged = scale > 1 ? image.resize(width, height, { fit: 'fill', kernel: 'cubic' }).blur(Math.max(0.3, scale / 4)) : image;
  return enlarged.raw().toBuffer();
}

/**
 * Raw pixels of a photo-like scene: a diagonal light gradient, structure at three scales
 * (large shapes, texture, fine detail) and sensor grain.
 */
async function scene(seed: number, width: number, height: number, channels: 3 | 4, grain: number): Promise<Buffer> {
  const layers = await Promise.all([
    noiseLayer(seed, width, height, channels, 96),
    noiseLayer(seed + 1, width, height, channels, 24),
    noiseLayer(seed + 2, width, height, channels, 6),
  ]);
  const weights = [0.6, 0.28, 0.12];
  const random = generator(seed + 3);
  const out = Buffer.alloc(width * height * channels);
  for (let y = 0, i = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const light = 70 * ((x / width + y / height) / 2 - 0.5);
      // Colour channels share most of their structure, as in a photograph (muted colours).
      let luma = 0;
      for (let c = 0; c < 3; c++) luma += layers[0][i + c] * weights[0] + layers[1][i + c] * weights[1] + layers[2][i + c] * weights[2];
      luma /= 3;
      for (let c = 0; c < channels; c++, i++) {
        let v = layers[0][i] * weights[0] + layers[1][i] * weights[1] + layers[2][i] * weights[2];
        v = 0.7 * luma + 0.3 * v;
        // Stretch the blurred noise back to a photo's contrast around mid-grey.
        v = 128 + (v - 128) * 2.6 + light + (random() - 0.5) * grain;
        out[i] = Math.max(0, Math.min(255, v));
      }
    }
  }
  return out;
}

/** A 12-megapixel camera JPEG (4000×3000, quality 90, 4:2:0). */
export async function cameraJpeg(seed = 12): Promise<Buffer> {
  const width = 4000;
  const height = 3000;
  return sharp(await scene(seed, width, height, 3, 18), { raw: { width, height, channels: 3 } }).jpeg({ quality: 90 }).toBuffer();
}

/** A 2-megapixel PNG with alpha (1600×1250): a product cut out on a transparent background, soft edges. */
export async function cutoutPng(seed = 2): Promise<Buffer> {
  const width = 1600;
  const height = 1250;
  const pixels = await scene(seed, width, height, 4, 6);
  // The alpha: an ellipse, opaque inside, fading out over 40 px at its edge.
  for (let y = 0, i = 3; y < height; y++) {
    for (let x = 0; x < width; x++, i += 4) {
      const dx = (x - width / 2) / (width * 0.42);
      const dy = (y - height / 2) / (height * 0.42);
      const edge = (1 - Math.sqrt(dx * dx + dy * dy)) * Math.min(width, height) * 0.42;
      pixels[i] = edge >= 40 ? 255 : edge <= 0 ? 0 : Math.round((edge / 40) * 255);
    }
  }
  return sharp(pixels, { raw: { width, height, channels: 4 } }).png().toBuffer();
}

/** A typical upload (2400×1600 JPEG, quality 85), as stored in a Cloudinary backup. */
export async function uploadJpeg(seed = 24): Promise<Buffer> {
  const width = 2400;
  const height = 1600;
  return sharp(await scene(seed, width, height, 3, 12), { raw: { width, height, channels: 3 } }).jpeg({ quality: 85 }).toBuffer();
}
