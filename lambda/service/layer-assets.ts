// README "Layers": what a plan's layers need before the render, read through the same origins as
// the image itself: the layer images (each named in its errors), and the fonts (the built-in
// ones, or a configured font read from its origin once per process). Their versions go into the
// ETag, so a changed logo changes it.

import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import type { AfterimageConfig } from '../config';
import { HttpError, notFound, originFailed, unreadable } from '../errors';
import { builtInFonts, fontFamilyName, type FontFaces } from '../image/fonts';
import type { LayerAssets, LayerImage } from '../image/layer-assets';
import { inspectInput } from '../image/pipeline';
import type { OriginPreferenceList } from '../origin/preference-list';
import type { Origin } from '../origin/types';
import type { RequestPlan } from '../request/plan';

export interface ReadLayerAssets {
  assets: LayerAssets;
  /** One entry per layer image and font: what the ETag must change with. */
  versions: string[];
}

export class LayerAssetReader {
  /** Configured fonts (`fonts`), read from their origin once per process. */
  private readonly fonts = new Map<string, Promise<{ faces: FontFaces; version: string }>>();

  constructor(
    private readonly config: AfterimageConfig,
    private readonly origins: ReadonlyMap<string, Origin>,
  ) {}

  /** The plan's layer images and fonts; undefined when it has no layers. A missing layer image is a 404 naming it. */
  async read(plan: RequestPlan, origins: OriginPreferenceList): Promise<ReadLayerAssets | undefined> {
    const layers = plan.steps.flatMap((step) => step.layers ?? []);
    if (layers.length === 0) return undefined;
    const paths = [...new Set(layers.flatMap((layer) => (layer.type === 'image' && !layer.canvas ? [layer.path] : [])))];
    const images = await Promise.all(paths.map((layerPath) => this.layerImage(layerPath, origins)));
    const fontNames = [...new Set(layers.flatMap((layer) => (layer.type === 'text' ? [layer.font] : [])))];
    const fonts = await Promise.all(
      fontNames.map(async (name): Promise<[string, FontFaces, string]> => {
        const builtIn = builtInFonts().get(name);
        if (builtIn) return [name, builtIn, name];
        const { faces, version } = await this.configuredFont(name);
        return [name, faces, version];
      }),
    );
    return {
      assets: { images: new Map(images.map(([layerPath, image]) => [layerPath, image])), fonts: new Map(fonts.map(([name, faces]) => [name, faces])) },
      versions: [...images.map(([layerPath, , version]) => `${layerPath}=${version}`), ...fonts.map(([name, , version]) => `font ${name}=${version}`)],
    };
  }

  /** One layer image, read and inspected (input limits) as the image itself is; every error names it. */
  private async layerImage(layerPath: string, origins: OriginPreferenceList): Promise<[string, LayerImage, string]> {
    const shown = layerPath.slice(0, 200);
    const named = (error: unknown) => (error instanceof HttpError ? new HttpError(error.code, `The layer image "${shown}": ${error.message}`, error.noStore) : error);
    const stored = await origins.find(layerPath).catch((error) => Promise.reject(named(error)));
    if (!stored) throw notFound(`No origin of this endpoint has the layer image "${shown}"`);
    const input = await inspectInput(stored.body, this.config.limits).catch((error) => Promise.reject(named(error)));
    if (!input) throw unreadable(`The layer image "${shown}" is not an image`);
    const version = JSON.stringify([stored.origin.name, stored.key, stored.etag ?? String(stored.body.length), stored.lastModified?.toISOString()]);
    return [layerPath, { bytes: stored.body, input }, version];
  }

  /** A configured font, read from its origin and written to a file Pango can load, once per process. */
  private configuredFont(name: string): Promise<{ faces: FontFaces; version: string }> {
    let font = this.fonts.get(name);
    if (!font) {
      const { origin: originName, path: fontPath } = this.config.fonts![name];
      font = (async () => {
        const stored = await this.origins.get(originName)!.fetch(fontPath);
        if (!stored) throw originFailed(`The font "${name}" (fonts.${name}) is not in origin "${originName}" at "${fontPath}"`);
        const family = fontFamilyName(stored.body);
        if (!family) throw originFailed(`The font "${name}" (fonts.${name}) at "${fontPath}" is not a TrueType or OpenType font`);
        // Named by content: a changed file is a new file, which fontconfig has not cached.
        const hash = createHash('sha256').update(stored.body).digest('hex').slice(0, 32);
        const dir = path.join(tmpdir(), 'afterimage-fonts');
        const file = path.join(dir, `${hash}${path.extname(fontPath).toLowerCase() === '.otf' ? '.otf' : '.ttf'}`);
        await mkdir(dir, { recursive: true });
        await writeFile(file, stored.body);
        return { faces: { regular: { file, family } }, version: hash };
      })();
      this.fonts.set(name, font);
      font.catch(() => this.fonts.delete(name)); // read again by the next request
    }
    return font;
  }
}
