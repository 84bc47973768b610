// What a render needs to draw the plan's layers (README "Layers"), read by the service before
// the render: the layer images from the endpoint's origins, the fonts by name.

import type { FontFaces } from './fonts';

/** A layer image as read from the endpoint's origins, with what its header says. */
export interface LayerImage {
  bytes: Buffer;
  input: { format: string; width: number; height: number; hasAlpha: boolean };
}

export interface LayerAssets {
  images: ReadonlyMap<string, LayerImage>;
  fonts: ReadonlyMap<string, FontFaces>;
}
