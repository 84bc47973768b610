// README "Keeping Cloudinary URLs alive": Cloudinary delivery URLs on endpoints with `cloudinaryUrls`. Each Cloudinary
// parameter is a table entry that maps onto this service's chain text, so everything then goes
// through the same parameter registry as an ImageKit URL. Pure: no I/O.
//
//   <resource_type>/<type>/<component>/<component>/v<version>/<public_id>.<ext>
//   image/upload/c_fill,g_north,w_300/e_grayscale/v1700000000/products/shoe.jpg
//     → chain `c-maintain_ratio,fo-top,w-300:e-grayscale`, path `image/upload/v1700000000/products/shoe.jpg`

import { badRequest } from '../errors';

/** The parameters of one component, by Cloudinary key (`w` → `300`). */
type Component = ReadonlyMap<string, string>;

interface CloudinaryParameter {
  /** Completes "<key> must be …" in the 400 message. */
  accepts: string;
  /** Chain parameters for the value (`300` → [`w-300`]); undefined = a value we cannot serve. */
  translate(value: string, component: Component): string[] | undefined;
}

const NUMBER = /^\d+(\.\d+)?$|^\.\d+$/;
const INTEGER = /^-?\d+$/;

/** Negative numbers are written with an `N` prefix in chain text (README "URL reference"). */
const signed = (value: string) => (value.startsWith('-') ? `N${value.slice(1)}` : value);
const clamp = (n: number, min: number, max: number) => Math.min(max, Math.max(min, Math.round(n)));

/** `q_auto[:level]` → `q-auto_<level>`: a perceptual target searched per image (README "Output"). */
const AUTO_QUALITY: Record<string, string> = { 'auto:best': 'auto_best', auto: 'auto', 'auto:good': 'auto_good', 'auto:eco': 'auto_eco', 'auto:low': 'auto_low' };

/** `fl_progressive[:<mode>]` → `pr-`: sharp has one progressive encoding for every mode but `none`. */
const PROGRESSIVE: Record<string, boolean> = {
  progressive: true,
  'progressive:progressive': true,
  'progressive:semi': true,
  'progressive:steep': true,
  'progressive:none': false,
};

/** `g_` gravities → `fo-` foci. */
const GRAVITY: Record<string, string> = {
  center: 'center',
  north: 'top',
  south: 'bottom',
  east: 'right',
  west: 'left',
  north_west: 'top_left',
  north_east: 'top_right',
  south_west: 'bottom_left',
  south_east: 'bottom_right',
  auto: 'auto',
  face: 'face',
  faces: 'face',
};

/** `c_` crop modes → crop strategy / crop mode. `scale` (Cloudinary's default) depends on the dimensions given. */
const CROP: Record<string, (component: Component) => string[]> = {
  scale: (c) => (hasBox(c) ? ['c-force'] : []),
  fit: () => ['c-at_max_enlarge'],
  limit: () => ['c-at_max'],
  mfit: () => ['c-at_least'],
  fill: () => ['c-maintain_ratio'],
  // Fill, but never enlarge: a smaller input is only cropped to the box (README: c_lfill).
  lfill: () => ['c-maintain_ratio_limit'],
  thumb: () => ['c-maintain_ratio'],
  // Padding needs a box; with one side given Cloudinary only scales (lpad: never up).
  pad: (c) => (hasBox(c) ? ['cm-pad_resize'] : []),
  lpad: (c) => (hasBox(c) ? ['cm-pad_resize', 'c-at_max'] : ['c-at_max']),
  crop: () => ['cm-extract'],
};

/** Both sides of the box are fixed: `w` and `h`, or one of them with `ar`. */
function hasBox(c: Component): boolean {
  return (c.has('w') && c.has('h')) || ((c.has('w') || c.has('h')) && c.has('ar'));
}

/** Cloudinary colours: a CSS name, `rgb:RGB`, `rgb:RRGGBB`, `rgb:RRGGBBAA` (alpha 00-ff) → RRGGBB[AA] with opacity 00-99. */
function colour(value: string): string | undefined {
  const hex = /^(?:rgb:|#)([0-9a-f]{3}|[0-9a-f]{6}|[0-9a-f]{8})$/i.exec(value)?.[1];
  if (!hex) return /^[a-z]+$/i.test(value) ? value.toLowerCase() : undefined;
  if (hex.length === 3) return [...hex].map((d) => d + d).join('').toUpperCase();
  if (hex.length === 6) return hex.toUpperCase();
  if (hex.slice(6).toLowerCase() === 'ff') return hex.slice(0, 6).toUpperCase(); // fully opaque
  const opacity = clamp((parseInt(hex.slice(6), 16) / 255) * 100, 0, 99);
  return hex.slice(0, 6).toUpperCase() + String(opacity).padStart(2, '0');
}

/**
 * An effect strength: none gives `bare`; one in Cloudinary's documented range 1-2000 is scaled
 * onto ours; anything else is undefined (a 400 naming the range, not a silently clamped value).
 */
function scaled(strength: string | undefined, bare: string, scale: (n: number) => string): string[] | undefined {
  if (strength === undefined) return [bare];
  const n = NUMBER.test(strength) ? Number(strength) : NaN;
  return n >= 1 && n <= 2000 ? [scale(n)] : undefined;
}

/** `e_` effects, by name; `strength` is what follows `:`, if anything. */
const EFFECTS: Record<string, { accepts: string; translate(strength: string | undefined): string[] | undefined }> = {
  // Cloudinary's blur is 1-2000 (default 100); ours is 1-100.
  blur: { accepts: 'e_blur or e_blur:<1-2000>', translate: (s) => scaled(s, 'bl-10', (n) => `bl-${clamp(n / 10, 1, 100)}`) },
  grayscale: { accepts: 'e_grayscale', translate: (s) => (s === undefined ? ['e-grayscale'] : undefined) },
  // Cloudinary's sharpen is 1-2000 (default 100); ours is 1-100 (default 50).
  sharpen: { accepts: 'e_sharpen or e_sharpen:<1-2000>', translate: (s) => scaled(s, 'e-sharpen', (n) => `e-sharpen-${clamp(n / 2, 1, 100)}`) },
  contrast: { accepts: 'e_contrast', translate: (s) => (s === undefined ? ['e-contrast'] : undefined) },
};

const passNumber = (key: string) => (v: string) => (NUMBER.test(v) ? [`${key}-${v}`] : undefined);

/**
 * `w_`/`h_`: pixels, or with a decimal point a share of the input (`w_0.5`). `w_1.0` is the
 * whole side (nothing to do); a share above 1.0 is not supported.
 */
const passSize = (key: string) => (v: string) => {
  if (!NUMBER.test(v)) return undefined;
  if (!v.includes('.')) return [`${key}-${v}`];
  const share = Number(v);
  return share < 1 ? [`${key}-${v}`] : share === 1 ? [] : undefined;
};

/** The translation table (README "Keeping Cloudinary URLs alive"): Cloudinary key → what it becomes here. */
export const CLOUDINARY_PARAMETERS: ReadonlyMap<string, CloudinaryParameter> = new Map<string, CloudinaryParameter>([
  ['w', { accepts: 'a number of pixels or a share from 0.0 to 1.0 (w_300, w_0.5)', translate: passSize('w') }],
  ['h', { accepts: 'a number of pixels or a share from 0.0 to 1.0 (h_200, h_0.5)', translate: passSize('h') }],
  ['ar', {
    accepts: 'a ratio such as ar_16:9 or ar_1.5',
    translate: (v) => {
      const m = /^(\d+(?:\.\d+)?)(?::(\d+(?:\.\d+)?))?$/.exec(v);
      return m ? [`ar-${m[1]}-${m[2] ?? '1'}`] : undefined;
    },
  }],
  ['dpr', { accepts: 'a number such as dpr_2.0 (dpr_auto needs client hints, which are not supported)', translate: passNumber('dpr') }],
  ['c', {
    accepts: `one of ${Object.keys(CROP).join(', ')}`,
    translate: (v, c) => (Object.hasOwn(CROP, v) ? CROP[v](c) : undefined),
  }],
  ['g', {
    accepts: `one of ${Object.keys(GRAVITY).join(', ')}`,
    translate: (v) => (Object.hasOwn(GRAVITY, v) ? [`fo-${GRAVITY[v]}`] : undefined),
  }],
  ['x', { accepts: 'a whole number of pixels', translate: (v) => (INTEGER.test(v) ? [`x-${signed(v)}`] : undefined) }],
  ['y', { accepts: 'a whole number of pixels', translate: (v) => (INTEGER.test(v) ? [`y-${signed(v)}`] : undefined) }],
  ['q', {
    accepts: 'a quality from 1 to 100, or auto, auto:best, auto:good, auto:eco, auto:low',
    translate: (v) => (Object.hasOwn(AUTO_QUALITY, v) ? [`q-${AUTO_QUALITY[v]}`] : /^\d+$/.test(v) ? [`q-${v}`] : undefined),
  }],
  ['f', { accepts: 'auto or an image format (f_webp, f_jpg, ...)', translate: (v) => (/^[a-z0-9]+$/.test(v) ? [`f-${v}`] : undefined) }],
  ['a', {
    accepts: 'an angle in degrees (a_90, a_-45), hflip or vflip',
    translate: (v) => (v === 'hflip' ? ['fl-h'] : v === 'vflip' ? ['fl-v'] : /^-?\d+(\.\d+)?$/.test(v) ? [`rt-${signed(v)}`] : undefined),
  }],
  ['e', {
    accepts: `one of ${Object.values(EFFECTS).map((e) => e.accepts).join(', ')}`,
    translate: (v) => {
      const colon = v.indexOf(':');
      const name = colon < 0 ? v : v.slice(0, colon);
      return Object.hasOwn(EFFECTS, name) ? EFFECTS[name].translate(colon < 0 ? undefined : v.slice(colon + 1)) : undefined;
    },
  }],
  ['r', { accepts: 'a radius in pixels or max', translate: (v) => (v === 'max' || /^\d+$/.test(v) ? [`r-${v}`] : undefined) }],
  ['b', {
    accepts: 'a colour: a name (b_red), rgb:RRGGBB or rgb:RRGGBBAA',
    translate: (v) => {
      const c = colour(v);
      return c ? [`bg-${c}`] : undefined;
    },
  }],
  ['bo', {
    accepts: 'a solid border such as bo_5px_solid_red or bo_2px_solid_rgb:00ff00',
    translate: (v) => {
      const m = /^(\d+)px_solid_(.+)$/.exec(v);
      const c = m ? colour(m[2]) : undefined;
      return m && c ? [`b-${m[1]}_${c}`] : undefined;
    },
  }],
  ['fl', {
    accepts: 'progressive or progressive:<semi, steep, none> (other flags are not supported)',
    // url-gen writes a mode when given one (`fl_progressive:semi`, even `fl_progressive:progressive`).
    translate: (v) => (Object.hasOwn(PROGRESSIVE, v) ? [`pr-${PROGRESSIVE[v]}`] : undefined),
  }],
  ['t', { accepts: 'the name of a configured named transformation', translate: (v) => (/^[A-Za-z0-9_-]+$/.test(v) ? [`n-${v}`] : undefined) }],
]);

/** Every parameter Cloudinary has that the table does not: written in a URL, they are a 400, never a folder. */
const UNSUPPORTED_CLOUDINARY_KEYS = new Set([
  'ac', 'af', 'br', 'cs', 'd', 'dl', 'dn', 'du', 'eo', 'fn', 'fps', 'if', 'ki', 'p', 'pg', 'so', 'sp', 'vc', 'vs', 'z',
]);

/** Keys that only mean something in a layer (README "Layers"): the layer itself, and its colour and opacity. */
const LAYER_ONLY_KEYS = new Set(['l', 'u', 'co', 'o']);

/** Every key that makes a segment a component (the CloudFront Function splits URLs by the same list). */
export const CLOUDINARY_COMPONENT_KEYS: readonly string[] = [...CLOUDINARY_PARAMETERS.keys(), ...UNSUPPORTED_CLOUDINARY_KEYS, ...LAYER_ONLY_KEYS];

const RESOURCE_TYPES = new Set(['image', 'video', 'raw']);
const DELIVERY_TYPE = /^[a-z][a-z_]*$/;
const VERSION = /^v\d+$/;
/** Cloudinary's URL signature component (`s--AbCdEfGh--`). It is not verified here: it is dropped. */
const URL_SIGNATURE = /^s--[A-Za-z0-9_-]{8,32}--$/;
/** One part of a component: a short key, `_`, a value. `$` starts a user variable. */
const PART = /^(\$?[a-z]{1,3})_(.+)$/;

/** True when a segment is a transformation component: every part is a Cloudinary parameter, and one at least a known key. */
export function looksLikeComponent(segment: string): boolean {
  const parts = segment.split(',');
  let known = false;
  for (const part of parts) {
    const match = PART.exec(part);
    if (!match) return false;
    if (CLOUDINARY_PARAMETERS.has(match[1]) || UNSUPPORTED_CLOUDINARY_KEYS.has(match[1]) || LAYER_ONLY_KEYS.has(match[1]) || match[1].startsWith('$')) known = true;
  }
  return known;
}

/**
 * A component's parameters by key. The component is split at its commas as written, before
 * percent-decoding: Cloudinary's escaping (`%2C` for a comma in a text layer) stays in the value.
 */
function readComponent(segment: string, decode: (text: string) => string = (t) => t): Map<string, string> {
  const component = new Map<string, string>();
  // An empty parameter (`w_300,`) is tolerated, as an empty step of a `tr:` chain is.
  for (const part of segment.split(',').filter((p) => p !== '').map(decode)) {
    const match = PART.exec(part);
    if (!match) {
      const parameter = CLOUDINARY_PARAMETERS.get(/^([a-z]{1,3})_$/.exec(part)?.[1] ?? '');
      if (parameter) throw badRequest(`Invalid Cloudinary transformation "${part}": ${part.slice(0, -1)} must be ${parameter.accepts}`);
      throw badRequest(`Invalid Cloudinary transformation "${part}": expected <parameter>_<value>, the parameter in lower case, as in w_300`);
    }
    if (component.has(match[1])) {
      throw badRequest(`Invalid Cloudinary transformation "${decode(segment)}": ${match[1]}_ is given twice in one component`);
    }
    component.set(match[1], match[2]);
  }
  return component;
}

/** One component → one step of chain text. Throws a 400 naming the first parameter we cannot serve. */
export function translateComponent(segment: string | Map<string, string>): string {
  const component = typeof segment === 'string' ? readComponent(segment) : new Map(segment);
  // Without `c_`, Cloudinary scales to both dimensions (it distorts); here that is c-force.
  if (!component.has('c') && hasBox(component)) component.set('c', 'scale');

  const out: string[] = [];
  for (const [key, value] of component) {
    const raw = `${key}_${value}`;
    const parameter = CLOUDINARY_PARAMETERS.get(key);
    if (!parameter) {
      throw badRequest(`Invalid Cloudinary transformation "${raw}": the parameter "${key}" is not supported (supported: ${[...CLOUDINARY_PARAMETERS.keys()].join(', ')})`);
    }
    const translated = parameter.translate(value, component);
    // A value that reaches the chain must not carry chain syntax (`,` `:`) of its own.
    if (!translated || translated.some((p) => /[,:]/.test(p))) {
      throw badRequest(`Invalid Cloudinary transformation "${raw}": ${key} must be ${parameter.accepts}`);
    }
    out.push(...translated);
  }
  return out.join(',');
}

/**
 * Cloudinary applies `dpr_` to the whole delivered image, wherever it stands, and url-gen writes
 * it as a component of its own (`c_fill,w_100/dpr_2.0`). Here `dpr` scales the w/h of its own
 * step, so a lone `dpr_` (in a component without w_ or h_) moves into every component that sizes
 * the image and has no dpr_ of its own. Without such a component it stays, and is a 400.
 */
function applyDprToSizes(components: readonly string[]): string[] {
  const parts = components.map((c) => c.split(','));
  const sizes = (p: string[]) => p.some((part) => part.startsWith('w_') || part.startsWith('h_'));
  const isDpr = (part: string) => part.startsWith('dpr_');
  const lone = parts.filter((p) => !sizes(p)).flatMap((p) => p.filter(isDpr));
  if (lone.length !== 1 || !parts.some(sizes)) return [...components];
  return parts.map((p) => (sizes(p) ? (p.some(isDpr) ? p : [...p, lone[0]]) : p.filter((part) => !isDpr(part))).join(','));
}

// --- layers (README "Layers"): `l_`/`u_` … `fl_layer_apply` → `l-image|l-text,…,l-end` ----------

/** `g_` in a layer placement → `lfo-`; the gravities that find something in the pixels have no meaning for a layer. */
const LAYER_GRAVITY: Record<string, string> = Object.fromEntries(
  Object.entries(GRAVITY).filter(([gravity]) => !['auto', 'face', 'faces'].includes(gravity)),
);

/** `l_text:<font>_<size>[_<style>…]` style words and what they become. */
const TEXT_STYLES: Record<string, string[]> = { normal: [], bold: [], italic: [], left: ['ia-left'], center: ['ia-center'], right: ['ia-right'] };

/** Percent-decoding that leaves what is not an escape as it is (`50%` stays `50%`). */
function decodeCloudinaryEscapes(text: string): string {
  return text.replace(/(?:%[0-9A-Fa-f]{2})+/g, (run) => {
    try {
      return decodeURIComponent(run);
    } catch {
      return run;
    }
  });
}

const refuse = (key: string, value: string, accepts: string) => badRequest(`Invalid Cloudinary transformation "${key}_${value}": ${key} must be ${accepts}`);

/**
 * `g_`, `x_`, `y_` of a layer → `lfo-`, `lx-`, `ly-`. Cloudinary offsets a layer inward from the
 * edge its gravity names (x_10 with g_east: 10 px from the right); here that is `lx-N10`. An
 * offset along an axis the gravity centres, or outward, has no chain form: a 400.
 */
function layerPlacement(g: string | undefined, x: string | undefined, y: string | undefined): string[] {
  const gravity = g ?? 'center';
  if (!Object.hasOwn(LAYER_GRAVITY, gravity)) throw refuse('g', gravity, `one of ${Object.keys(LAYER_GRAVITY).join(', ')} for a layer`);
  const focus = LAYER_GRAVITY[gravity];
  const out = focus === 'center' ? [] : [`lfo-${focus}`];
  const axis = (key: 'x' | 'y', value: string | undefined, start: boolean, end: boolean) => {
    if (value === undefined || /^-?0+$/.test(value)) return;
    if (!/^-?\d+$/.test(value)) throw refuse(key, value, 'a whole number of pixels in a layer placement');
    if (!start && !end) throw refuse(key, value, `0 with g_${gravity}: an offset along the axis the gravity centres is not supported`);
    if (value.startsWith('-')) throw refuse(key, value, 'positive: an offset out of the image is not supported');
    out.push(`l${key}-${end ? 'N' : ''}${value}`);
  };
  axis('x', x, focus.endsWith('left'), focus.endsWith('right'));
  axis('y', y, focus.startsWith('top'), focus.startsWith('bottom'));
  return out;
}

/** Removes a key from a component, returning its value. */
function take(component: Map<string, string>, key: string): string | undefined {
  const value = component.get(key);
  component.delete(key);
  return value;
}

/** `l_text:<font>_<size>[_bold][_italic][_<alignment>]:<text>` and the text's `co_`, `b_`, `w_` → a text layer's parameters. */
function textLayer(value: string, component: Map<string, string>, inner: readonly Map<string, string>[]): string[] {
  const match = /^text:([^:]*):(.+)$/s.exec(value);
  const accepts = 'l_text:<font>_<size>[_bold][_italic]:<text>, as in l_text:Arial_40_bold:Sale';
  if (!match) throw refuse('l', value, accepts);
  const [font, size, ...styles] = match[1].split('_');
  if (!font || !size || !/^\d+$/.test(size)) throw refuse('l', value, accepts);
  const params = [`ff-${font}`, `fs-${size}`];
  for (const style of styles) {
    if (!Object.hasOwn(TEXT_STYLES, style)) throw refuse('l', value, `${accepts}; the style "${style}" is not supported (supported: ${Object.keys(TEXT_STYLES).join(', ')})`);
    params.push(...TEXT_STYLES[style]);
  }
  const bold = styles.includes('bold');
  const italic = styles.includes('italic');
  if (bold || italic) params.push(`tg-${[bold ? 'b' : '', italic ? 'i' : ''].filter(Boolean).join('_')}`);
  // Cloudinary's own escaping (`%2C`, `%2F`) is still in the text: decoded here, carried as base64.
  const text = decodeCloudinaryEscapes(match[2]);
  params.unshift(`ie-${Buffer.from(text, 'utf8').toString('base64url')}`);
  const co = take(component, 'co');
  const b = take(component, 'b');
  const w = take(component, 'w');
  const c = take(component, 'c');
  for (const [key, v] of [['co', co], ['b', b]] as const) {
    if (v === undefined) continue;
    const translated = colour(v);
    if (!translated) throw refuse(key, v, 'a colour: a name, rgb:RRGGBB or rgb:RRGGBBAA');
    params.push(`${key === 'co' ? 'co' : 'bg'}-${translated}`);
  }
  if (w !== undefined) {
    if (!/^\d+$/.test(w)) throw refuse('w', w, 'a width in pixels for a text layer');
    params.push(`w-${w}`);
  }
  if (c !== undefined && c !== 'fit') throw refuse('c', c, 'fit (or left out) in a text layer');
  const extra = [...component.keys(), ...inner.flatMap((step) => [...step.keys()])][0];
  if (extra !== undefined) {
    throw badRequest(`Invalid Cloudinary transformation "${extra}_": a text layer takes only co_, b_, w_, c_fit, o_ and its placement here`);
  }
  return ['l-text', ...params];
}

/** `l_<public_id>` (folders with `:`) or `u_<public_id>` → an image layer, looked up beside the base image (`<resource_type>/<type>/<public_id>`). */
function imageLayer(key: 'l' | 'u', value: string, base: readonly [string, string], component: Map<string, string>, inner: readonly Map<string, string>[]): string[] {
  if (/^(fetch|video|subtitles|lut|audio):/.test(value) || value === '' || value.startsWith('text:')) {
    throw refuse(key, value, 'the public id of an image (folders with ":"), or l_text:<font>_<size>:<text>');
  }
  const path = `${base[0]}/${base[1]}/${value.replace(/:/g, '/')}`;
  const input = /^[\w./ -]+$/.test(path) ? `i-${path.replace(/\//g, '@@')}` : `ie-${Buffer.from(path, 'utf8').toString('base64url')}`;
  const steps = [component, ...inner].map((step) => translateComponent(step)).filter((step) => step !== '');
  return ['l-image', input, ...(key === 'u' ? ['lm-under'] : []), ...(steps.length > 0 ? [steps.join(':')] : [])];
}

/**
 * The components as steps of chain text. A layer opens at a component with `l_` (or `u_`, an
 * underlay); the components after it, up to one with `fl_layer_apply`, are the layer's own, and
 * that one places it (`g_`, `x_`, `y_`). Without a `fl_layer_apply`, the layer is its component
 * alone, with its placement in it (the older form, as the Node SDK writes `overlay:`).
 */
function translateComponents(segments: readonly string[], decode: (text: string) => string, base: readonly [string, string]): string[] {
  const components = segments.map((segment) => readComponent(segment, decode));
  const steps: string[] = [];
  for (let i = 0; i < components.length; i++) {
    const component = components[i];
    const key = component.has('l') ? 'l' : component.has('u') ? 'u' : undefined;
    if (component.get('fl') === 'layer_apply') throw badRequest('Invalid Cloudinary transformation "fl_layer_apply": it closes a layer, but no l_ or u_ opened one');
    if (key === undefined) {
      for (const only of ['co', 'o']) if (component.has(only)) throw badRequest(`Invalid Cloudinary transformation "${only}_${component.get(only)}": ${only}_ is supported in a layer only`);
      steps.push(translateComponent(component));
      continue;
    }
    let close = -1;
    for (let j = i + 1; j < components.length && close < 0; j++) {
      if (components[j].get('fl') === 'layer_apply') close = j;
      else if (components[j].has('l') || components[j].has('u')) throw badRequest(`Invalid Cloudinary transformation "${key}_${component.get(key)}": a layer cannot contain another layer`);
    }
    const value = take(component, key)!;
    const inner = close < 0 ? [] : components.slice(i + 1, close);
    const placementFrom = close < 0 ? component : components[close];
    if (close >= 0) take(placementFrom, 'fl');
    const placement = layerPlacement(take(placementFrom, 'g'), take(placementFrom, 'x'), take(placementFrom, 'y'));
    const leftover = close >= 0 ? [...placementFrom][0] : undefined;
    if (leftover) throw badRequest(`Invalid Cloudinary transformation "${leftover[0]}_${leftover[1]}": only g_, x_ and y_ are supported beside fl_layer_apply`);
    const opacities = [component, ...inner].map((step) => take(step, 'o')).filter((o) => o !== undefined);
    const opacity = opacities.length > 0 ? [`o-${opacities[opacities.length - 1]}`] : [];
    const layer = key === 'l' && value.startsWith('text:') ? textLayer(value, component, inner) : imageLayer(key, value, base, component, inner);
    const [opening, ...rest] = layer;
    steps.push([opening, ...placement, ...opacity, ...rest, 'l-end'].join(','));
    if (close >= 0) i = close;
  }
  return steps;
}

export interface CloudinaryPath {
  /** What a Cloudinary-backup origin expects: `<resource_type>/<type>/[v<version>/]<public_id>.<ext>`. */
  segments: string[];
  /** The components as one chain (steps in order); '' when there were none. */
  chain: string;
}

/**
 * Splits a Cloudinary delivery path (decoded segments after the endpoint prefix) into the
 * origin path and the translated chain. Returns undefined when the path does not start with
 * `<resource_type>/<type>/` (then it is served as an ordinary path).
 *
 * README "Folders that look like transformations": with a version segment, everything between the
 * type and the version is a component, and one that is not well formed is a 400 naming it (as on
 * Cloudinary), never part of the public id. Without one, leading segments that look like
 * components are components; this is why Cloudinary's SDKs write `v1` before a public id in a folder.
 */
export function translateCloudinaryPath(rawSegments: readonly string[], decode: (text: string) => string = (t) => t): CloudinaryPath | undefined {
  const segments = rawSegments.map(decode);
  if (segments.length < 3 || !RESOURCE_TYPES.has(segments[0]) || !DELIVERY_TYPE.test(segments[1])) return undefined;
  const signed = URL_SIGNATURE.test(segments[2]) ? 1 : 0;
  // Components are read as written (their commas before decoding); the public id decoded.
  const rawRest = rawSegments.slice(2 + signed);
  const rest = segments.slice(2 + signed);
  const versionIndex = rest.findIndex((s, i) => i < rest.length - 1 && VERSION.test(s));
  let componentCount = 0;
  if (versionIndex >= 0) {
    componentCount = versionIndex;
    // Each one read as written first: a malformed one is refused before dpr_ moves between components.
    // An empty segment (`w_300//v1/…`) stays allowed.
    for (const segment of rawRest.slice(0, versionIndex)) if (segment !== '') readComponent(segment, decode);
  } else {
    while (componentCount < rest.length - 1 && looksLikeComponent(rawRest[componentCount])) componentCount += 1;
  }
  const components = applyDprToSizes(rawRest.slice(0, componentCount)).filter((s) => s !== '');
  const steps = translateComponents(components, decode, [segments[0], segments[1]]).filter((s) => s !== '');
  return { segments: [segments[0], segments[1], ...rest.slice(componentCount)], chain: steps.join(':') };
}
