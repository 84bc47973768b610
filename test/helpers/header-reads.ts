// Which bytes sharp was asked to read an image header from, while some work runs: the test's view
// of the early header read (lambda/image/pipeline.ts `readHeaderEarly`).

import sharp from 'sharp';

/** Runs `work`, and gives the lengths of the buffers `sharp(...).metadata()` read meanwhile, in order, with what `work` returned. */
export async function headerReads<T>(work: () => Promise<T>): Promise<{ lengths: number[]; result: T }> {
  const metadata = jest.spyOn(sharp.prototype, 'metadata');
  try {
    const result = await work();
    // sharp 0.35 keeps a Buffer input as `options.input.buffer`.
    const lengths = metadata.mock.contexts.map((context) => (context as unknown as { options: { input: { buffer: Buffer } } }).options.input.buffer.length);
    return { lengths, result };
  } finally {
    metadata.mockRestore();
  }
}
