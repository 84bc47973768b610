// Whether the first bytes of a file hold everything the decoder reads before the pixels, so that
// its header can be read from them alone (a revalidation answered without the whole original,
// README "Revalidation"). Only JPEG and PNG, the originals that are read this way: for them
// libvips reads the header up to the first scan (JPEG) or the first image-data chunk (PNG), and
// these are found by walking the segments; any other format, or a file whose header runs past the
// bytes given, is read whole. So is a JPEG that carries more pictures (an MPF APP2 segment, as
// UltraHDR's gain map does): libvips's UltraHDR loader reads those files whole to find the gain
// map, and its header then differs from jpegload's.

/** How many bytes a revalidation asks for first: the JPEG or PNG header of nearly every file fits. */
export const HEADER_PREFIX_BYTES = 64 * 1024;

export const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

export function holdsWholeHeader(prefix: Buffer): boolean {
  if (prefix.length >= 3 && prefix[0] === 0xff && prefix[1] === 0xd8 && prefix[2] === 0xff) return jpegHeaderWithin(prefix);
  if (prefix.length >= PNG_SIGNATURE.length && prefix.subarray(0, PNG_SIGNATURE.length).equals(PNG_SIGNATURE)) return pngHeaderWithin(prefix);
  return false;
}

/** The markers from SOI to the first SOS segment, that segment included, lie within `bytes`. */
function jpegHeaderWithin(bytes: Buffer): boolean {
  let at = 2;
  while (at + 1 < bytes.length) {
    if (bytes[at] !== 0xff) return false; // not a marker where one must be: let the decoder judge the whole file
    const marker = bytes[at + 1];
    if (marker === 0xff) {
      at += 1; // fill byte
      continue;
    }
    // Markers without a length: TEM and RST0-7 (stray ones), another SOI.
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd8)) {
      at += 2;
      continue;
    }
    if (marker === 0xd9 || at + 3 >= bytes.length) return false; // EOI before any scan, or the length is cut off
    const end = at + 2 + bytes.readUInt16BE(at + 2);
    if (end > bytes.length) return false;
    if (marker === 0xda) return true; // SOS: the decoder's header ends with this segment
    if (marker === 0xe2 && bytes.toString('latin1', at + 4, at + 8) === 'MPF\u0000') return false;
    at = end;
  }
  return false;
}

/** The chunks from the signature to the first IDAT's length and type lie within `bytes`. */
function pngHeaderWithin(bytes: Buffer): boolean {
  let at = PNG_SIGNATURE.length;
  while (at + 8 <= bytes.length) {
    const length = bytes.readUInt32BE(at);
    const type = bytes.toString('latin1', at + 4, at + 8);
    if (type === 'IDAT') return true;
    if (type === 'IEND') return false;
    at += 12 + length; // length, type, data, CRC
  }
  return false;
}
