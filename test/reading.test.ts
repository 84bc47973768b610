// lambda/origin/reading.ts: reading an origin's body within limits.maxInputBytes, into one buffer
// of the announced length when the origin gave one, and correctly when it lied about it.

import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { HttpError, limitExceeded } from '../lambda/errors';
import { CUT_ABOVE_BYTES, readLimitedBody } from '../lambda/origin/reading';

/** A body as a socket delivers it: the bytes in chunks of `size`. */
function chunked(bytes: Buffer, size: number): Readable {
  const chunks: Buffer[] = [];
  for (let at = 0; at < bytes.length; at += size) chunks.push(bytes.subarray(at, at + size));
  return Readable.from(chunks, { objectMode: false });
}

const BYTES = randomBytes(200_000);

describe('readLimitedBody', () => {
  test('with the length announced, the bytes arrive whole in one buffer of that length', async () => {
    const body = await readLimitedBody(chunked(BYTES, 16_384), 5_000, 1_000_000, undefined, BYTES.length);
    expect(body.equals(BYTES)).toBe(true);
    expect(body.buffer.byteLength).toBe(BYTES.length); // its own buffer, not a slice of a larger one
  });

  test('without a length, the same bytes', async () => {
    expect((await readLimitedBody(chunked(BYTES, 16_384), 5_000, 1_000_000)).equals(BYTES)).toBe(true);
  });

  test('a body longer than announced is still read whole', async () => {
    const body = await readLimitedBody(chunked(BYTES, 7_000), 5_000, 1_000_000, undefined, 50_000);
    expect(body.equals(BYTES)).toBe(true);
  });

  test('a body shorter than announced gives the bytes that came, no more', async () => {
    const body = await readLimitedBody(chunked(BYTES, 7_000), 5_000, 1_000_000, undefined, BYTES.length + 10_000);
    expect(body.equals(BYTES)).toBe(true);
    // Read into the one buffer of the announced size, as it arrived: no copy made at the end.
    expect(body.buffer.byteLength).toBe(BYTES.length + 10_000);
  });

  test('over the limit is a 422 naming limits.maxInputBytes, announced length or not', async () => {
    for (const announced of [undefined, 150_000, BYTES.length]) {
      const failure = await readLimitedBody(chunked(BYTES, 16_384), 5_000, 150_000, undefined, announced).catch((error: unknown) => error);
      expect(failure).toBeInstanceOf(HttpError);
      expect(failure).toMatchObject({ status: 422, message: expect.stringContaining('limits.maxInputBytes') });
    }
  });

  test('a watcher is shown the bytes as they arrive, in the buffer the read returns, until it has seen enough', async () => {
    const seen: { length: number; same: boolean; prefix: boolean; whole: Buffer }[] = [];
    const body = await readLimitedBody(chunked(BYTES, 16_384), 5_000, 1_000_000, undefined, BYTES.length, (arrived, whole) => {
      seen.push({ length: arrived.length, same: arrived.buffer === whole.buffer && arrived.byteOffset === whole.byteOffset, prefix: arrived.equals(BYTES.subarray(0, arrived.length)), whole });
      return arrived.length >= 40_000;
    });
    expect(seen.map((s) => [s.length, s.same, s.prefix])).toStrictEqual([[16_384, true, true], [32_768, true, true], [49_152, true, true]]);
    expect(seen.every((s) => s.whole === body)).toBe(true);
    expect(body.equals(BYTES)).toBe(true);
  });

  test('a watcher that never has enough is not shown the last chunk: the body is whole then', async () => {
    const lengths: number[] = [];
    await readLimitedBody(chunked(BYTES, 50_000), 5_000, 1_000_000, undefined, BYTES.length, (arrived) => lengths.push(arrived.length) < 0);
    expect(lengths).toStrictEqual([50_000, 100_000, 150_000]);
  });

  test('a body longer or shorter than announced is never returned as the buffer a watcher was shown', async () => {
    for (const announced of [120_000, BYTES.length + 10_000]) {
      const shown = new Set<Buffer>();
      const body = await readLimitedBody(chunked(BYTES, 16_384), 5_000, 1_000_000, undefined, announced, (_arrived, whole) => {
        shown.add(whole);
        return false;
      });
      expect(body.equals(BYTES)).toBe(true);
      expect(shown.size).toBe(1);
      expect(shown.has(body)).toBe(false);
    }
  });

  test('no watcher call for a body in one chunk, or without an announced length', async () => {
    const watch = jest.fn(() => false);
    await readLimitedBody(chunked(BYTES, BYTES.length), 5_000, 1_000_000, undefined, BYTES.length, watch);
    await readLimitedBody(chunked(BYTES, 16_384), 5_000, 1_000_000, undefined, undefined, watch);
    expect(watch).not.toHaveBeenCalled();
  });

  describe('a watcher that judges the file (a promise)', () => {
    /** A body whose chunks come one per turn of the event loop, as a socket's do; `sent` counts them. */
    function trickled(bytes: Buffer, size: number): { body: Readable; sent: () => number } {
      let at = 0;
      let sent = 0;
      const body = new Readable({
        read() {
          setImmediate(() => {
            if (at >= bytes.length) return void this.push(null);
            sent++;
            const chunk = bytes.subarray(at, at + size);
            at += size;
            this.push(chunk);
          });
        },
      });
      return { body, sent: () => sent };
    }
    const refusal = () => limitExceeded('The input is 9000x9000 = 81000000 pixels; the limit is 1000 (limits.maxInputPixels)');

    const LARGE = randomBytes(CUT_ABOVE_BYTES + 2_000_000);

    test('a verdict that rejects with more than CUT_ABOVE_BYTES to come cuts the read: its reason is the failure, the rest is never read', async () => {
      const { body, sent } = trickled(LARGE, 65_536);
      const watch = jest.fn(() => Promise.reject(refusal()));
      await expect(readLimitedBody(body, 5_000, 10_000_000, undefined, LARGE.length, watch)).rejects.toMatchObject({ status: 422, message: expect.stringContaining('limits.maxInputPixels') });
      expect(watch).toHaveBeenCalledTimes(1); // judged once, from the first chunk
      expect(sent()).toBeLessThan(8); // of 47
      expect(body.destroyed).toBe(true);
    });

    test('with CUT_ABOVE_BYTES or less to come, a rejecting verdict lets the read finish (reading on costs less than a new connection)', async () => {
      const { body, sent } = trickled(BYTES, 10_000);
      const read = await readLimitedBody(body, 5_000, 1_000_000, undefined, BYTES.length, () => Promise.reject(refusal()));
      expect(read.equals(BYTES)).toBe(true);
      expect(sent()).toBe(20);
    });

    test('a verdict that resolves lets the read go on to the whole body', async () => {
      const { body } = trickled(BYTES, 10_000);
      const watch = jest.fn(() => Promise.resolve());
      expect((await readLimitedBody(body, 5_000, 1_000_000, undefined, BYTES.length, watch)).equals(BYTES)).toBe(true);
      expect(watch).toHaveBeenCalledTimes(1);
    });

    test('a verdict that rejects after the last byte leaves the read as it is (the caller judges the whole file)', async () => {
      let reject!: (reason: unknown) => void;
      const late = new Promise((_resolve, no) => {
        reject = no;
      });
      const { body } = trickled(BYTES, 50_000);
      const read = await readLimitedBody(body, 5_000, 1_000_000, undefined, BYTES.length, () => late);
      reject(refusal());
      await new Promise((resolve) => setImmediate(resolve));
      expect(read.equals(BYTES)).toBe(true);
    });
  });

  test('an empty body is an empty buffer', async () => {
    expect((await readLimitedBody(chunked(Buffer.alloc(0), 10), 5_000, 100, undefined, 0)).length).toBe(0);
  });
});
