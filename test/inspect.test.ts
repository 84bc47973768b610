// lambda/image/pipeline.ts inspectInput: the header of the same bytes is read once (an original
// from the cache of originals is the same Buffer on every request), the limits still apply on
// every call, and other bytes are read afresh.

import sharp from 'sharp';
import { parseConfig } from '../lambda/config';
import { inspectInput } from '../lambda/image/pipeline';

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
});
