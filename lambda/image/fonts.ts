// The fonts text layers are drawn with (README "Layers"): TTF files given to Pango by path, so
// nothing depends on the system's fontconfig (AWS Lambda's Node.js image has no fonts). The
// built-in ones are DejaVu Sans and Serif, copied into the Lambda asset's `fonts/` folder by
// lib/lambda-bundling.ts and read from the dejavu-fonts-ttf package when run from source.

import { existsSync } from 'node:fs';
import * as path from 'node:path';

/** One face: its file and the family name Pango is asked for. */
export interface FontFace {
  file: string;
  family: string;
}

/** A font's faces; a font with one file uses it for every style. */
export interface FontFaces {
  regular: FontFace;
  bold?: FontFace;
  italic?: FontFace;
  boldItalic?: FontFace;
}

/** The built-in fonts' files, by font name and style. */
const BUILT_IN_FILES: Record<'sans' | 'serif', { family: string; regular: string; bold: string; italic: string; boldItalic: string }> = {
  sans: { family: 'DejaVu Sans', regular: 'DejaVuSans.ttf', bold: 'DejaVuSans-Bold.ttf', italic: 'DejaVuSans-Oblique.ttf', boldItalic: 'DejaVuSans-BoldOblique.ttf' },
  serif: { family: 'DejaVu Serif', regular: 'DejaVuSerif.ttf', bold: 'DejaVuSerif-Bold.ttf', italic: 'DejaVuSerif-Italic.ttf', boldItalic: 'DejaVuSerif-BoldItalic.ttf' },
};

/** Every file the Lambda asset ships in `fonts/` (lib/lambda-bundling.ts copies them). */
export const BUILT_IN_FONT_FILES: readonly string[] = Object.values(BUILT_IN_FILES).flatMap(({ regular, bold, italic, boldItalic }) => [regular, bold, italic, boldItalic]);

/** Where the built-in files are: `fonts/` beside the bundle in Lambda, else the npm package. */
function builtInFontDirectory(): string {
  const bundled = path.join(__dirname, 'fonts');
  if (existsSync(path.join(bundled, BUILT_IN_FONT_FILES[0]))) return bundled;
  return path.join(path.dirname(require.resolve('dejavu-fonts-ttf/package.json')), 'ttf');
}

let builtIn: ReadonlyMap<string, FontFaces> | undefined;

/** The built-in fonts, `sans` and `serif`, found once. */
export function builtInFonts(): ReadonlyMap<string, FontFaces> {
  if (!builtIn) {
    const dir = builtInFontDirectory();
    builtIn = new Map(
      Object.entries(BUILT_IN_FILES).map(([name, files]) => {
        const face = (file: string) => ({ file: path.join(dir, file), family: files.family });
        return [name, { regular: face(files.regular), bold: face(files.bold), italic: face(files.italic), boldItalic: face(files.boldItalic) }];
      }),
    );
  }
  return builtIn;
}

/** The face for a style: the font's own, else its regular face (Pango then slants or emboldens it). */
export function faceFor(font: FontFaces, bold: boolean, italic: boolean): FontFace {
  if (bold && italic) return font.boldItalic ?? font.bold ?? font.italic ?? font.regular;
  if (bold) return font.bold ?? font.regular;
  if (italic) return font.italic ?? font.regular;
  return font.regular;
}

/**
 * The family name stored in a TrueType or OpenType file (its `name` table: the typographic
 * family, ID 16, else the family, ID 1; Windows Unicode entries first). Undefined when the bytes
 * are not such a font.
 */
export function fontFamilyName(bytes: Buffer): string | undefined {
  try {
    const tables = bytes.readUInt16BE(4);
    let name: number | undefined;
    for (let i = 0; i < tables; i++) {
      const record = 12 + 16 * i;
      if (bytes.toString('latin1', record, record + 4) === 'name') name = bytes.readUInt32BE(record + 8);
    }
    if (name === undefined) return undefined;
    const count = bytes.readUInt16BE(name + 2);
    const strings = name + bytes.readUInt16BE(name + 4);
    const found = new Map<string, string>();
    for (let i = 0; i < count; i++) {
      const record = name + 6 + 12 * i;
      const [platform, , , id, length, offset] = [0, 2, 4, 6, 8, 10].map((o) => bytes.readUInt16BE(record + o));
      if (id !== 1 && id !== 16) continue;
      const raw = bytes.subarray(strings + offset, strings + offset + length);
      const text = platform === 3 || platform === 0 ? Buffer.from(raw).swap16().toString('utf16le') : raw.toString('latin1');
      const key = `${id}:${platform === 1 ? 'mac' : 'unicode'}`;
      if (!found.has(key)) found.set(key, text);
    }
    const family = found.get('16:unicode') ?? found.get('1:unicode') ?? found.get('16:mac') ?? found.get('1:mac');
    return family && family.trim() !== '' ? family.trim() : undefined;
  } catch {
    return undefined;
  }
}
