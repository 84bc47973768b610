// lambda/image/pipeline.ts inspectInput: the header of the same bytes is read once (an original
// from the cache of originals is the same Buffer on every request), the limits still apply on
// every call, and other bytes are read afresh.

import sharp from 'sharp';
import { parseConfig } from '../lambda/config';
import { holdsWholeHeader } from '../lambda/image/header-prefix';
import { inspectInput, readHeaderEarly } from '../lambda/image/pipeline';

const config = (maxInputPixels?: number) =>
  parseConfig({ origins: [{ name: 'm', type: 's3', bucket: 'b', region: 'us-east-1' }], ...(maxInputPixels ? { limits: { maxInputPixels } } : {}) }).limits;

describe('inspectInput', () => {
  test('reads the header of one Buffer once; an equal copy is read again', async () => {
    const bytes = await sharp({ create: { width: 120, height: 80, channels: 3, background: '#336699' } }).jpeg().withMetadata({ orientation: 6 }).toBuffer();
    const metadata = jest.spyOn(sharp.prototype, 'metadata');
    try {
      const first = await inspectInput(bytes, config());
      const again = await inspectInput(bytes, config());
      expect(metadata).toHaveBeenCalledTimes(1);
      // The auto-oriented size (orientation 6 swaps the axes), the same both times, and separate objects.
      expect(first).toMatchObject({ format: 'jpeg', width: 80, height: 120 });
      expect(again).toEqual(first);
      expect(again).not.toBe(first);
      await inspectInput(Buffer.from(bytes), config());
      expect(metadata).toHaveBeenCalledTimes(2);
    } finally {
      metadata.mockRestore();
    }
  });

  test('the pixel limit applies on every call, read from the header or remembered', async () => {
    const bytes = await sharp({ create: { width: 200, height: 100, channels: 3, background: '#336699' } }).png().toBuffer();
    expect(await inspectInput(bytes, config())).toMatchObject({ width: 200, height: 100 });
    await expect(inspectInput(bytes, config(10_000))).rejects.toMatchObject({ status: 422, message: expect.stringContaining('limits.maxInputPixels') });
  });

  test('bytes that are no image are null, every time', async () => {
    const bytes = Buffer.from('not an image at all');
    expect(await inspectInput(bytes, config())).toBeNull();
    expect(await inspectInput(bytes, config())).toBeNull();
  });

  describe('readHeaderEarly: the header read from the first bytes of a body still arriving', () => {
    const photo = () => sharp({ create: { width: 400, height: 300, channels: 3, background: '#808080', noise: { type: 'gaussian', mean: 128, sigma: 40 } } });
    /** The shortest start of `file` that holds its whole header. */
    const headerOf = (file: Buffer) => {
      for (let length = 8; length <= file.length; length++) if (holdsWholeHeader(file.subarray(0, length))) return file.subarray(0, length);
      throw new Error('no prefix holds the header');
    };

    test.each([['JPEG', () => photo().jpeg().withMetadata({ orientation: 6 }).toBuffer()], ['PNG', () => photo().png().toBuffer()]])('%s: inspectInput of the whole buffer takes that read, and finds what a read of the whole file finds', async (_format, make) => {
      const file = await make();
      const whole = Buffer.from(file);
      const metadata = jest.spyOn(sharp.prototype, 'metadata');
      try {
        expect(readHeaderEarly(whole.subarray(0, 8), whole)).toBe(false); // not there yet: asked again with more
        expect(metadata).not.toHaveBeenCalled();
        const header = headerOf(whole);
        expect(header.length).toBeLessThan(whole.length);
        expect(readHeaderEarly(header, whole)).toBe(true);
        expect(readHeaderEarly(whole.subarray(0, header.length + 100), whole)).toBe(true); // started: nothing more to do
        const early = await inspectInput(whole, config());
        expect(metadata).toHaveBeenCalledTimes(1);
        expect(early).toEqual(await inspectInput(Buffer.from(file), config()));
        expect(metadata).toHaveBeenCalledTimes(2);
      } finally {
        metadata.mockRestore();
      }
    });

    test('an early read that finds no image is made again on the whole file', async () => {
      const whole = await photo().jpeg().toBuffer();
      // Segments a header walk accepts (APP0, then SOS) but no frame header: libvips finds no image in them.
      const bogus = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x02, 0xff, 0xda, 0x00, 0x02]);
      expect(holdsWholeHeader(bogus)).toBe(true);
      const metadata = jest.spyOn(sharp.prototype, 'metadata');
      try {
        expect(readHeaderEarly(bogus, whole)).toBe(true);
        expect(await inspectInput(whole, config())).toMatchObject({ format: 'jpeg', width: 400, height: 300 });
        // Read from the 10 bytes first, then from the whole file.
        expect(metadata.mock.contexts.map((context) => (context as unknown as { options: { input: { buffer: Buffer } } }).options.input.buffer.length)).toStrictEqual([bogus.length, whole.length]);
      } finally {
        metadata.mockRestore();
      }
    });

    test('past 1 MiB without a whole header it gives up, and inspectInput reads the whole file', async () => {
      const whole = Buffer.concat([Buffer.alloc(1024 * 1024 + 1), await photo().png().toBuffer()]);
      const metadata = jest.spyOn(sharp.prototype, 'metadata');
      try {
        expect(readHeaderEarly(whole.subarray(0, 1024 * 1024 + 1), whole)).toBe(true);
        expect(metadata).not.toHaveBeenCalled();
        expect(await inspectInput(whole, config())).toBeNull(); // zeros first: no image, read from all of it
        expect(metadata).toHaveBeenCalledTimes(1);
      } finally {
        metadata.mockRestore();
      }
    });

    test('the pixel limit applies to a header read early', async () => {
      const whole = await photo().jpeg().toBuffer();
      const metadata = jest.spyOn(sharp.prototype, 'metadata');
      try {
        expect(readHeaderEarly(headerOf(whole), whole)).toBe(true);
        await expect(inspectInput(whole, config(10_000))).rejects.toMatchObject({ status: 422, message: expect.stringContaining('limits.maxInputPixels') });
        expect(metadata).toHaveBeenCalledTimes(1); // the early read's header, checked against the limit
      } finally {
        metadata.mockRestore();
      }
    });
  });
});
