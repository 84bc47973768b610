// README "Serving a Cloudinary backup", the Cloudinary backup layout: a real s3rver (over HTTP) holds a backup bucket.

import { DeleteObjectCommand } from '@aws-sdk/client-s3';
import { DEFAULT_CACHE } from '../lambda/config';
import type { EmbeddedS3 } from '../local/embedded-s3';
import { parseBackupPath, pastVersionFiles, resolveCloudinaryVersion } from '../lambda/origin/cloudinary-backup';
import { ResolutionCache } from '../lambda/origin/resolution-cache';
import {
  BACKUP_BUCKET, BLUE, GREEN, MANY_VERSIONS, PURPLE, RED, SPECIAL_PUBLIC_IDS, UPLOAD, YELLOW,
  backupOrigin, expectColour, seedCloudinaryBackup,
} from './helpers/cloudinary-fixture';
import { startFaultProxy, type FaultProxy } from './helpers/fault-proxy';
import { decode, solidImage, startHarness, type Harness } from '../tools/harness';
import { startS3rverProcess } from './helpers/s3rver-process';

let s3: EmbeddedS3;
let proxy: FaultProxy;
let harness: Harness;
let now = 1_000_000;

const TTL_SECONDS = 60;

beforeAll(async () => {
  s3 = await startS3rverProcess([BACKUP_BUCKET]);
  await seedCloudinaryBackup(s3);
  proxy = await startFaultProxy(s3.endpoint);
  harness = await startHarness({
    buckets: [],
    config: () => ({
      origins: [
        backupOrigin(s3.endpoint, { name: 'backup' }),
        backupOrigin(s3.endpoint, { name: 'backup-short', folder: `/${UPLOAD}/` }),
        backupOrigin(s3.endpoint, { name: 'backup-exact', exactVersions: true }),
        backupOrigin(s3.endpoint, { name: 'backup-private', deliveryTypes: ['upload', 'private'] }),
        backupOrigin(s3.endpoint, { name: 'backup-encoded', encodeKeys: true }),
        // Through the counting proxy, for the resolution cache.
        backupOrigin(proxy.endpoint, { name: 'backup-counted' }),
        backupOrigin(proxy.endpoint, { name: 'backup-counted-other-cloud', folder: '/res/other/' }),
        backupOrigin(proxy.endpoint, { name: 'backup-counted-exact', exactVersions: true }),
      ],
      endpoints: [
        { prefix: '/cld', origins: ['backup'] },
        { prefix: '/short', origins: ['backup-short'] },
        { prefix: '/exact', origins: ['backup-exact'] },
        { prefix: '/with-private', origins: ['backup-private'] },
        { prefix: '/encoded', origins: ['backup-encoded'] },
        { prefix: '/counted', origins: ['backup-counted'] },
        { prefix: '/other', origins: ['backup-counted-other-cloud'] },
        { prefix: '/counted-exact', origins: ['backup-counted-exact'] },
      ],
      output: { format: 'auto' },
      cache: { resolutionTtlSeconds: TTL_SECONDS, resolutionMaxEntries: 3 },
      limits: { originTimeoutMs: 2000, originRetries: 1 },
    }),
    deps: { now: () => now },
  });
}, 120_000);

afterAll(async () => {
  await harness?.close();
  await proxy?.close();
  await s3?.close();
});

async function expectImage(path: string, colour: { r: number; g: number; b: number }, format?: string) {
  const response = await harness.get(path);
  expect({ path, status: response.status, error: response.headers.get('x-afterimage-error') }).toEqual({ path, status: 200, error: null });
  await expectColour(response.body, colour);
  if (format) expect((await decode(response.body)).format).toBe(format);
  return response;
}

describe('reading a request path (pure)', () => {
  it('removes the first v<digits> segment as the version marker and splits off the extension', () => {
    expect(parseBackupPath('image/upload/v1700000000/products/shoe.jpg')[0]).toEqual({
      assetPath: 'image/upload/products/shoe', extension: 'jpg', version: '1700000000',
    });
    expect(parseBackupPath('v1/shoe.JPG')[0]).toEqual({ assetPath: 'shoe', extension: 'jpg', version: '1' });
    // Only the first marker is one; a file name is never a marker.
    expect(parseBackupPath('image/upload/v2/v3/x.png')[0]).toEqual({ assetPath: 'image/upload/v3/x', extension: 'png', version: '2' });
    expect(parseBackupPath('image/upload/v5')).toEqual([{ assetPath: 'image/upload/v5' }]);
  });

  it('also reads the whole file name as the public id (raw files keep their extension)', () => {
    expect(parseBackupPath('raw/upload/a.txt')).toEqual([
      { assetPath: 'raw/upload/a', extension: 'txt' },
      { assetPath: 'raw/upload/a.txt' },
    ]);
  });

  it('picks the highest numeric version, not the last in key order', () => {
    const keys = ['p/999.jpg', 'p/1000.jpg', 'p/99.jpg', 'p/notes.txt'];
    expect(resolveCloudinaryVersion(keys, 'p/', { assetPath: 'x' }, false)?.key).toBe('p/1000.jpg');
  });
});

describe('listing stops once it is past the version files', () => {
  it('names after "9" cannot be versions: later pages hold only nested public ids', () => {
    expect(pastVersionFiles(['p/1700000000.jpg', 'p/2/'], 'p/')).toBe(false);
    expect(pastVersionFiles(['p/1700000000.jpg', 'p/lace/'], 'p/')).toBe(true);
    expect(pastVersionFiles([], 'p/')).toBe(false);
  });
});

describe('delivery types: only public ones are served from a cloud\'s root folder', () => {
  it('private and authenticated assets are a 404 by default', async () => {
    expect((await harness.get('/cld/image/private/internal.jpg')).status).toBe(404);
    expect((await harness.get('/cld/image/authenticated/v1/contracts/salary.jpg')).status).toBe(404);
  });

  it('deliveryTypes opens the ones listed, and only those', async () => {
    await expectImage('/with-private/image/private/internal.jpg', RED);
    expect((await harness.get('/with-private/image/authenticated/contracts/salary.jpg')).status).toBe(404);
  });
});

describe('raw files with several extensions', () => {
  it('resolve, served as stored', async () => {
    const response = await harness.get('/cld/raw/upload/v1/files/archive.tar.gz');
    expect(response.status).toBe(200);
    expect(response.body.toString()).toBe('not really gzip');
  });
});

describe('the newest version is served (spec 7)', () => {
  it('serves the highest version of an asset', async () => {
    await expectImage('/cld/image/upload/products/shoe.jpg', GREEN, 'jpeg');
  });

  it('ignores a version marker without exactVersions, as Cloudinary does (v1 included)', async () => {
    await expectImage('/cld/image/upload/v1600000000/products/shoe.jpg', GREEN);
    await expectImage('/cld/image/upload/v1/products/shoe.jpg', GREEN);
  });

  it('works with a folder of /res/<cloud>/image/upload/ (shorter URLs)', async () => {
    await expectImage('/short/products/shoe.jpg', GREEN);
    await expectImage('/short/v1600000000/products/shoe.jpg', GREEN);
  });

  it('a public id nested below another does not shadow it, and resolves itself', async () => {
    await expectImage('/cld/image/upload/products/shoe.jpg', GREEN);
    await expectImage('/cld/image/upload/products/shoe/lace.jpg', PURPLE);
    await expectImage('/cld/image/upload/a/b/c/deep.png', BLUE, 'png');
  });

  it(`paginates past 1,000 keys: an asset with ${MANY_VERSIONS} versions serves the newest`, async () => {
    // The newest version is the last key, on the second listing page, and the only green one.
    await expectImage('/cld/image/upload/many.png', GREEN, 'png');
  });

  it('answers 404 when the asset is not in the backup', async () => {
    const response = await harness.get('/cld/image/upload/products/nothing.jpg');
    expect(response.status).toBe(404);
    expect(response.headers.get('x-afterimage-error')).toMatch(/^ENOENT - /);
  });

  it('serves a raw file (public id with its extension) as stored', async () => {
    const response = await harness.get('/cld/raw/upload/files/notes.txt');
    expect(response.status).toBe(200);
    expect(response.body.toString()).toBe('raw notes\n');
    expect(response.headers.get('content-type')).toBe('text/plain');
  });
});

describe('exactVersions (spec 7)', () => {
  it('serves a version that exists exactly, cached as immutable', async () => {
    const old = await expectImage('/exact/image/upload/v1600000000/products/shoe.jpg', RED);
    // Those bytes never change: browsers may keep them as long as CloudFront does.
    expect(old.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    await expectImage('/exact/image/upload/v1650000000/products/shoe.jpg', BLUE);
  });

  it('falls back to the newest when the version does not exist, and without a marker', async () => {
    const missing = await expectImage('/exact/image/upload/v1234/products/shoe.jpg', GREEN);
    expect(missing.headers.get('cache-control')).not.toContain('immutable');
    const bare = await expectImage('/exact/image/upload/products/shoe.jpg', GREEN);
    expect(bare.headers.get('cache-control')).not.toContain('immutable');
    // A version that is only a marker (or none): a day in browsers, which no purge reaches.
    expect(bare.headers.get('cache-control')).toMatch(/^public, max-age=86400, s-maxage=31536000/);
  });
});

describe('one version in several formats; the extension is a format wish (spec 4, 7)', () => {
  it('prefers the stored format that matches the requested extension', async () => {
    await expectImage('/cld/image/upload/sample.png', BLUE, 'png');
    await expectImage('/cld/image/upload/sample.jpg', YELLOW, 'jpeg');
    await expectImage('/cld/image/upload/sample.jpeg', YELLOW, 'jpeg');
  });

  it('an extension that differs from the stored format selects that format, without Vary', async () => {
    const response = await expectImage('/cld/image/upload/products/shoe.webp', GREEN, 'webp');
    expect(response.headers.get('content-type')).toBe('image/webp');
    expect(response.headers.get('vary')).toBeNull();
    await expectImage('/cld/image/upload/products/shoe.png', GREEN, 'png');
  });

  it('f- overrides the wish', async () => {
    await expectImage('/cld/tr:f-png/image/upload/products/shoe.webp', GREEN, 'png');
    await expectImage('/cld/image/upload/products/shoe.webp?tr=f-jpg', GREEN, 'jpeg');
  });

  it('an extension equal to the stored format is no wish: Accept negotiates', async () => {
    const response = await harness.get('/cld/image/upload/products/shoe.jpg', { accept: 'image/webp,*/*' });
    expect((await decode(response.body)).format).toBe('webp');
    expect(response.headers.get('vary')).toBe('Accept');
  });
});

describe('public ids with spaces, unicode, +, % and & (spec 7)', () => {
  it.each(SPECIAL_PUBLIC_IDS)('resolves %j', async (id) => {
    const encoded = id.split('/').map(encodeURIComponent).join('/');
    await expectImage(`/cld/image/upload/${encoded}.jpg`, GREEN);
    await expectImage(`/cld/image/upload/v1/${encoded}.jpg`, GREEN);
  });

  it('takes + in a path literally, and & unencoded', async () => {
    await expectImage('/cld/image/upload/a+b.jpg', GREEN);
    await expectImage('/cld/image/upload/rock&roll.jpg', GREEN);
  });
});

describe('encodeKeys on a backup origin (spec 7)', () => {
  it('on: image+example.jpg resolves the asset stored as image%2Bexample', async () => {
    await expectImage('/encoded/image/upload/image+example.jpg', PURPLE);
  });

  it('off: image+example.jpg is not found; the stored name itself is', async () => {
    expect((await harness.get('/cld/image/upload/image+example.jpg')).status).toBe(404);
    await expectImage('/cld/image/upload/image%252Bexample.jpg', PURPLE);
  });
});

describe('resolutions are cached briefly, with a bounded size (spec 7)', () => {
  const lists = () => proxy.requests.filter((r) => r.list).length;

  beforeEach(() => {
    now += 10 * TTL_SECONDS * 1000; // every entry from earlier tests has expired
    proxy.clear();
  });

  it('reuses a resolution until the TTL passes (injected clock)', async () => {
    await expectImage('/counted/image/upload/products/shoe.jpg', GREEN);
    expect(lists()).toBe(1);
    now += (TTL_SECONDS - 1) * 1000;
    await expectImage('/counted/image/upload/products/shoe.jpg', GREEN);
    expect(lists()).toBe(1);
    now += 2000;
    await expectImage('/counted/image/upload/products/shoe.jpg', GREEN);
    expect(lists()).toBe(2);
  });

  it('keeps at most cache.resolutionMaxEntries, dropping the least recently used', async () => {
    for (const id of ['products/shoe', 'sample', 'a/b/c/deep']) await harness.get(`/counted/image/upload/${id}.jpg`);
    expect(lists()).toBe(3);
    await harness.get('/counted/image/upload/products/shoe.jpg'); // hit; now the most recent
    expect(lists()).toBe(3);
    await harness.get('/counted/image/upload/many.png'); // a fourth entry evicts `sample`
    const afterFourth = lists();
    await harness.get('/counted/image/upload/products/shoe.jpg');
    expect(lists()).toBe(afterFourth);
    await harness.get('/counted/image/upload/sample.jpg');
    expect(lists()).toBe(afterFourth + 1);
  });

  it('never serves another asset, extension or cloud from a cached entry', async () => {
    await expectImage('/counted/image/upload/sample.png', BLUE, 'png');
    await expectImage('/counted/image/upload/sample.jpg', YELLOW, 'jpeg');
    await expectImage('/counted/image/upload/products/shoe.jpg', GREEN);
    // Same path, other origin (another cloud's folder, where the asset does not exist).
    expect((await harness.get('/other/image/upload/products/shoe.jpg')).status).toBe(404);
    await expectImage('/counted/image/upload/sample.png', BLUE, 'png');
  });

  it('re-resolves once when the cached object was deleted since', async () => {
    const id = 'rotating';
    await s3.put(BACKUP_BUCKET, `${UPLOAD}/${id}/1.png`, await solidImage(8, 8, RED, 'png'), 'image/png');
    await s3.put(BACKUP_BUCKET, `${UPLOAD}/${id}/2.png`, await solidImage(8, 8, GREEN, 'png'), 'image/png');
    await expectImage(`/counted/image/upload/${id}.png`, GREEN);
    await s3.client.send(new DeleteObjectCommand({ Bucket: BACKUP_BUCKET, Key: `${UPLOAD}/${id}/2.png` }));
    proxy.clear();
    // The cached original is served for cache.originalTtlSeconds (README "The cache of originals"), then asked for again.
    now += DEFAULT_CACHE.originalTtlSeconds * 1000;
    await expectImage(`/counted/image/upload/${id}.png`, RED);
    expect(proxy.requests.map((r) => (r.list ? 'list' : 'get'))).toEqual(['get', 'list', 'get']);
    await s3.client.send(new DeleteObjectCommand({ Bucket: BACKUP_BUCKET, Key: `${UPLOAD}/${id}/1.png` }));
    now += DEFAULT_CACHE.originalTtlSeconds * 1000;
    expect((await harness.get(`/counted/image/upload/${id}.png`)).status).toBe(404);
  });

  it('exactVersions: a version named in its stored format is read by its key, without a LIST; anything else is listed', async () => {
    const reads = () => proxy.requests.map((r) => (r.list ? 'list' : `get ${r.status}`));
    const old = await expectImage('/counted-exact/image/upload/v1600000000/products/shoe.jpg', RED);
    expect(old.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(reads()).toEqual(['get 200']);
    // Another format of that version (stored as .jpg): one GET that misses, then the listing, as before.
    proxy.clear();
    await expectImage('/counted-exact/image/upload/v1650000000/products/shoe.webp', BLUE, 'webp');
    expect(reads()).toEqual(['get 404', 'list', 'get 200']);
    // A missing key is 403 AccessDenied, not 404, for keys S3 does not count as holding
    // s3:ListBucket (S3 API reference, GetObject, "Permissions"; the README's policy, whose grant
    // has an s3:prefix condition, is such a case): a miss too, which the listing settles.
    now += 10 * TTL_SECONDS * 1000;
    proxy.setRules([{ fault: 'denied', when: (r) => !r.list && r.key.endsWith('/1650000000.png') }]);
    proxy.clear();
    try {
      await expectImage('/counted-exact/image/upload/v1650000000/products/shoe.png', BLUE, 'png');
      expect(reads()).toEqual(['get undefined', 'list', expect.stringMatching(/^get (200|304)$/)]); // the .jpg, read a moment ago, revalidated
    } finally {
      proxy.setRules([]);
    }
    // A raw file's name keeps its extension: listed at once, never tried by key.
    proxy.clear();
    const raw = await harness.get('/counted-exact/raw/upload/v1700000000/files/notes.txt');
    expect([raw.status, raw.body.toString()]).toEqual([200, 'raw notes\n']);
    expect(reads()).toEqual(['list', 'list', 'get 200']); // files/notes, then files/notes.txt
    // A version not stored falls back to the newest; `v1` and no version are listed at once.
    proxy.clear();
    await expectImage('/counted-exact/image/upload/v1234/products/shoe.jpg', GREEN);
    expect(reads()).toEqual(['get 404', 'list', 'get 200']);
    for (const path of ['/counted-exact/image/upload/v1/products/shoe.jpg', '/counted-exact/image/upload/products/shoe.jpg']) {
      proxy.clear();
      await expectImage(path, GREEN);
      expect(reads()).toEqual(['list']); // the newest's bytes, read just before, come from the cache of originals
    }
  });

  it('unit: entries expire on the injected clock and the oldest goes first', () => {
    let t = 0;
    const cache = new ResolutionCache<string>(2, 1000, () => t);
    cache.set('a', 'A');
    cache.set('b', 'B');
    expect(cache.get('a')).toBe('A');
    cache.set('c', 'C');
    expect([cache.get('a'), cache.get('b'), cache.get('c')]).toEqual(['A', undefined, 'C']);
    t = 1000;
    expect(cache.get('a')).toBeUndefined();
    expect(new ResolutionCache<string>(0, 1000).size).toBe(0);
  });
});

