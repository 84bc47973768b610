// `npm run bench:photos`: real photographs for `npm run bench:quality`, fetched, never committed.
//
// The photographs are scikit-image's sample data as Debian packages it (python3-skimage): free
// photographs (public domain or CC0, see PHOTOS below) stored as PNG, never JPEG-compressed. The
// package is downloaded with `apt-get download` (no install, no root), unpacked with `dpkg-deb`,
// and the chosen files are copied to bench/.photos/ (git-ignored) after their SHA-256 is checked,
// so every run measures the same pixels. On a machine without apt, pass a downloaded .deb:
//
//   npm run bench:photos                                  # apt-get download python3-skimage
//   npm run bench:photos -- path/to/python3-skimage_0.19.3-8_all.deb

import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PHOTO_DIR, PHOTOS } from './quality-corpus';

const DATA = 'usr/lib/python3/dist-packages/skimage/data';

function sha256(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}

function present(): boolean {
  return PHOTOS.every((photo) => existsSync(path.join(PHOTO_DIR, photo.file)) && sha256(path.join(PHOTO_DIR, photo.file)) === photo.sha256);
}

function download(dir: string): string {
  try {
    execFileSync('apt-get', ['download', 'python3-skimage'], { cwd: dir, stdio: ['ignore', 'inherit', 'inherit'] });
  } catch (error) {
    throw new Error(
      `apt-get download python3-skimage failed (${(error as Error).message.split('\n')[0]}). On a machine without apt, download https://deb.debian.org/debian/pool/main/s/skimage/python3-skimage_0.19.3-8_all.deb (Debian 12) and pass its path: npm run bench:photos -- <file.deb>`,
    );
  }
  const deb = readdirSync(dir).find((name) => name.startsWith('python3-skimage_') && name.endsWith('.deb'));
  if (!deb) throw new Error(`apt-get download left no python3-skimage_*.deb in ${dir}`);
  return path.join(dir, deb);
}

function main(): void {
  if (present()) {
    console.log(`${PHOTOS.length} photographs already in ${path.relative(process.cwd(), PHOTO_DIR)}/, checksums match.`);
    return;
  }
  const work = mkdtempSync(path.join(os.tmpdir(), 'afterimage-photos-'));
  try {
    const given = process.argv[2];
    const deb = given ? path.resolve(given) : download(work);
    const tree = path.join(work, 'tree');
    execFileSync('dpkg-deb', ['-x', deb, tree], { stdio: ['ignore', 'inherit', 'inherit'] });
    mkdirSync(PHOTO_DIR, { recursive: true });
    for (const photo of PHOTOS) {
      const source = path.join(tree, DATA, photo.file);
      if (!existsSync(source)) throw new Error(`${path.basename(deb)} holds no ${DATA}/${photo.file}`);
      const sum = sha256(source);
      if (sum !== photo.sha256) {
        throw new Error(`${photo.file} in ${path.basename(deb)} has SHA-256 ${sum}, not ${photo.sha256} (the file measured in BENCHMARKS.md, from python3-skimage 0.19.3-8)`);
      }
      copyFileSync(source, path.join(PHOTO_DIR, photo.file));
      console.log(`${photo.file}: ${photo.credit}`);
    }
    console.log(`${PHOTOS.length} photographs in ${path.relative(process.cwd(), PHOTO_DIR)}/ (git-ignored); npm run bench:quality now uses them.`);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

try {
  main();
} catch (error) {
  console.error((error as Error).message);
  process.exit(1);
}
