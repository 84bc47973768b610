// The plan's vocabulary: the values a step and the output options can hold, shared by the
// parameter table that writes them, the plan builder and the image pipeline that reads them.
// Each set of values is listed once, as a `const` array; its type is derived from it.

import type { RawParameter } from './chain';
import type { Colour } from './colour';

/** `c-`: how a box is filled. `maintain_ratio_limit` is `maintain_ratio` that never enlarges (Cloudinary's `c_lfill`; not an ImageKit value). */
export const CROP_STRATEGIES = ['maintain_ratio', 'maintain_ratio_limit', 'force', 'at_max', 'at_max_enlarge', 'at_least'] as const;
export type CropStrategy = (typeof CROP_STRATEGIES)[number];

/** `cm-`: pad or extract instead of scaling. */
export const CROP_MODES = ['pad_resize', 'extract', 'pad_extract'] as const;
export type CropMode = (typeof CROP_MODES)[number];

/** `fo-`: where a crop or padding is anchored. */
export const FOCI = ['center', 'top', 'bottom', 'left', 'right', 'top_left', 'top_right', 'bottom_left', 'bottom_right', 'auto', 'face'] as const;
export type Focus = (typeof FOCI)[number];

/** `fl-`: mirror left-right, top-bottom or both. */
export const FLIPS = ['h', 'v', 'h_v'] as const;
export type Flip = (typeof FLIPS)[number];

/** `f-` and the configured `output.format`: a format, `auto` (negotiated from `Accept`) or `orig` (the input's own). */
export const OUTPUT_FORMATS = ['auto', 'webp', 'avif', 'jpeg', 'png', 'gif', 'orig'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

/** `q-auto_<level>` (`q-auto` is `good`): a perceptual target instead of a fixed quality (Cloudinary's `q_auto:<level>`). */
export const AUTO_QUALITY_LEVELS = ['best', 'good', 'eco', 'low'] as const;
export type AutoQualityLevel = (typeof AUTO_QUALITY_LEVELS)[number];

/** A width or height: pixels, or a share of the step's input. */
export type Dimension = { px: number } | { fraction: number };

export interface UnsharpMask {
  radius: number;
  sigma: number;
  amount: number;
  /** 0-1, a share of the full tonal range. */
  threshold: number;
}

/**
 * One `:`-separated step. Fields are added by parameters; the pipeline applies them in the
 * fixed order of README "URL reference": trim, crop/resize, rotate, flip, effects, rounded corners, border.
 */
export interface TransformStep {
  width?: Dimension;
  height?: Dimension;
  /** `ar-W-H`: the missing side of the box follows this ratio. */
  aspectRatio?: { width: number; height: number };
  /** `dpr`: multiplies the box. */
  dpr?: number;
  crop?: CropStrategy;
  cropMode?: CropMode;
  focus?: Focus;
  /** `x`, `y`: top-left corner of an extracted region. */
  x?: number;
  y?: number;
  /** `xc`, `yc`: centre of an extracted region. */
  xCenter?: number;
  yCenter?: number;
  /** `bg`: padding, rotation fill and (the last one given) JPEG flattening. */
  background?: Colour;
  border?: { width: number; colour: Colour };
  radius?: number | 'max';
  /** `bl`, 1-100. */
  blur?: number;
  grayscale?: true;
  /** `e-sharpen[-n]`: strength 1-100. */
  sharpen?: number;
  contrast?: true;
  unsharpMask?: UnsharpMask;
  /** Degrees clockwise, 0 < rotate < 360. */
  rotate?: number;
  flip?: Flip;
  /** `t`: trim uniform borders with this threshold. */
  trim?: number;
  /** `l-image…l-end`, `l-text…l-end`: drawn in order over the step's result (README "Layers"). */
  layers?: Layer[];
}

/** `lfo-`: where a layer sits on the image it is drawn over. */
export const LAYER_FOCI = ['center', 'top', 'bottom', 'left', 'right', 'top_left', 'top_right', 'bottom_left', 'bottom_right'] as const;
export type LayerFocus = (typeof LAYER_FOCI)[number];

/** `ia-`: how the lines of a text layer align in its box. */
export const TEXT_ALIGNMENTS = ['left', 'center', 'right'] as const;
export type TextAlignment = (typeof TEXT_ALIGNMENTS)[number];

/** Where and how a layer is drawn; shared by image and text layers. */
export interface LayerPlacement {
  /** `lx`/`ly`: the layer's left/top edge from the image's left/top; negative: its right/bottom edge from the image's right/bottom. */
  x?: number;
  y?: number;
  /** `lxc`/`lyc`: the layer's centre, from the image's left/top edge (instead of `lx`/`ly`). */
  xCenter?: number;
  yCenter?: number;
  /** `lfo-`: the axes that have no `lx`/`ly` (center by default). */
  focus?: LayerFocus;
  /** `o-`: 1-100, the layer's alpha multiplied by it. */
  opacity?: number;
  /** Drawn under the image (Cloudinary's `u_`): shows where the image is transparent. */
  under?: true;
}

export interface ImageLayer extends LayerPlacement {
  type: 'image';
  /** The layer image's path in the endpoint's origins. */
  path: string;
  /** `i-ik_canvas`: no image is read; a block of the first step's `bg`, `w`×`h` (the image's size by default). */
  canvas?: true;
  /** The layer's own steps (never layers of its own). */
  steps: TransformStep[];
}

export interface TextLayer extends LayerPlacement {
  type: 'text';
  text: string;
  /** `fs-`, pixels. */
  fontSize: number;
  /** `ff-`: `sans`, `serif` or a configured font's name. */
  font: string;
  bold: boolean;
  italic: boolean;
  /** `co-`. */
  colour: Colour;
  /** `bg-`: behind the text and its padding. */
  background?: Colour;
  /** `pa-`: top, right, bottom, left. */
  padding: [number, number, number, number];
  /** `w-`: the box's width; lines wrap inside it. */
  wrapWidth?: number;
  align: TextAlignment;
}

export type Layer = ImageLayer | TextLayer;

export interface OutputOptions {
  /** Explicit `f-` format; absent = the configured default (README "Output"). */
  format?: OutputFormat;
  /** `q-<n>`: a JPEG quality; WebP and AVIF are encoded at its equivalent (image/quality.ts). */
  quality?: number;
  /** `q-auto[_level]`: the quality is searched per image (image/auto-quality.ts); the last `q` given wins. */
  autoQuality?: AutoQualityLevel;
  /** `pr`: progressive JPEG, interlaced PNG. */
  progressive?: boolean;
  /** `lo`: lossless WebP / AVIF. */
  lossless?: boolean;
  /** `md`: keep EXIF and XMP metadata. */
  keepMetadata?: boolean;
  /** `cp`: attach an (sRGB) ICC profile. */
  keepColourProfile?: boolean;
  /** The last `bg` of the chain: what a format without alpha is flattened on. */
  background?: Colour;
}

/** The parts of a plan that parameters write to while a chain is parsed. */
export interface PlanDraft {
  step: TransformStep;
  output: OutputOptions;
  request: { original: boolean; defaultImage?: string };
  /** Parameters of the current step, by key, for messages about combinations. */
  given: Map<string, RawParameter>;
}
