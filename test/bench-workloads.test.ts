// The side-by-side benchmark (`npm run bench`) compares afterimage with limit+S3, which replays
// afterimage's sharp calls (bench/workloads.ts `renderDirect`), and with IPX asked for the same
// encoder quality. The comparison is fair only while the replay encodes what afterimage encodes:
// here every image workload's URL goes through the real ImageService (real s3rver, real HTTP,
// the bench's own originals and configuration) and its bytes must equal the replay's.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { formatQuality } from '../lambda/image/quality';
import { afterimageConfig, ASSET_PATH, BACKUP_FOLDER, BUCKET, CAMERA_KEY, CUTOUT_KEY, FIRST_VERSION, newestVersionKey, renderDirect, WORKLOADS } from '../bench/workloads';
import { startHarness, type Harness } from '../tools/harness';

jest.setTimeout(120_000);

const ROOT = join(__dirname, '..');

const originals = new Map<string, Buffer>();
let harness: Harness;

/**
 * The bench's originals, made by bench/images.ts in a child process: its pixel loops run
 * fifteen times slower inside jest's VM than in plain Node.
 */
function benchOriginals(): { camera: Buffer; cutout: Buffer; upload: Buffer } {
  const dir = mkdtempSync(join(tmpdir(), 'afterimage-bench-originals-'));
  try {
    const script = `
      const { writeFileSync } = require('node:fs');
      const images = require(${JSON.stringify(join(ROOT, 'bench', 'images.ts'))});
      (async () => {
        writeFileSync(${JSON.stringify(join(dir, 'camera'))}, await images.cameraJpeg());
        writeFileSync(${JSON.stringify(join(dir, 'cutout'))}, await images.cutoutPng());
        writeFileSync(${JSON.stringify(join(dir, 'upload'))}, await images.uploadJpeg());
      })();`;
    execFileSync(process.execPath, ['--import', 'tsx', '-e', script], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'], timeout: 60_000 });
    return { camera: readFileSync(join(dir, 'camera')), cutout: readFileSync(join(dir, 'cutout')), upload: readFileSync(join(dir, 'upload')) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

beforeAll(async () => {
  const { camera, cutout, upload } = benchOriginals();
  originals.set(CAMERA_KEY, camera).set(CUTOUT_KEY, cutout).set(newestVersionKey(), upload);
  harness = await startHarness({
    buckets: [BUCKET],
    config: (s3) => afterimageConfig(s3.endpoint, { originalCacheMB: 0 }),
    seed: async (s3) => {
      await s3.put(BUCKET, CAMERA_KEY, camera, 'image/jpeg');
      await s3.put(BUCKET, CUTOUT_KEY, cutout, 'image/png');
      // An older version too: the Cloudinary URL must resolve to the newest.
      await s3.put(BUCKET, `${BACKUP_FOLDER}image/upload/${ASSET_PATH}/${FIRST_VERSION}.jpg`, camera, 'image/jpeg');
      await s3.put(BUCKET, newestVersionKey(), upload, 'image/jpeg');
    },
  });
});

afterAll(async () => harness?.close());

const images = WORKLOADS.filter((w) => !w.revalidation);

describe('bench/workloads.ts replays what afterimage encodes', () => {
  it.each(images.map((w) => [w.title, w] as const))('%s: afterimage and limit+S3 give the same bytes, in the format IPX is asked the quality of', async (_title, workload) => {
    for (const request of workload.requests) {
      const answer = await harness.get(request.afterimage, { accept: request.accept });
      expect(answer.status).toBe(200);
      const replay = await renderDirect(originals.get(request.key)!, request.render);
      expect({ url: request.afterimage, bytes: answer.body.length, same: answer.body.equals(replay) }).toEqual({ url: request.afterimage, bytes: replay.length, same: true });
      const { format } = await sharp(answer.body).metadata();
      expect(format).toBe(request.render.format === 'avif' ? 'heif' : request.render.format);
      // IPX's q_ is the encoder's quality: the one afterimage uses for that format.
      expect(request.ipx).toContain(`q_${formatQuality(request.render.format, request.render.quality)}/`);
    }
  });
});
