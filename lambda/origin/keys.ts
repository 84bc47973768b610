// Object keys from image paths: the origin's folder and the `encodeKeys` option (README "Configuration").

import type { OriginConfig } from '../config';

/** `/`, '' → '' (bucket root); `/images/` or `images` → `images/`. */
export function folderPrefix(folder: string | undefined): string {
  const trimmed = (folder ?? '').replace(/^\/+|\/+$/g, '');
  return trimmed === '' ? '' : `${trimmed}/`;
}

/** With `encodeKeys`, each path segment is encoded with encodeURIComponent (`a+b.jpg` → `a%2Bb.jpg`). */
export function encodeKeyPath(path: string, origin: OriginConfig): string {
  return origin.encodeKeys ? path.split('/').map(encodeURIComponent).join('/') : path;
}

/** The plain layout: `<folder>/<path>`. */
export function plainKey(path: string, origin: OriginConfig): string {
  return folderPrefix(origin.folder) + encodeKeyPath(path, origin);
}
