// The playground page (index.html beside this file) with its setup filled in, and the headers it
// is served with: a Content-Security-Policy that allows only its own inline script, by hash.
// `npm start` serves it at `/`; a deployed function only behind a signature (signed-access.ts).

import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AfterimageConfig } from '../config';

/** What the page is told: the endpoints it can build URLs for, and sample paths to browse. */
export interface PlaygroundSetup {
  endpoints: { prefix: string; cloudinaryUrls?: boolean; requireSignedUrls?: boolean }[];
  /** Paths after an endpoint's prefix (`endpoint` is the prefix without slashes, '' for the default). */
  samples: { endpoint: string; path: string }[];
}

export interface PlaygroundPage {
  html: string;
  headers: Record<string, string>;
}

export function playgroundSetup(config: AfterimageConfig, samples: PlaygroundSetup['samples'] = []): PlaygroundSetup {
  return {
    endpoints: config.endpoints.map((e) => ({ prefix: e.prefix, cloudinaryUrls: e.cloudinaryUrls, requireSignedUrls: e.requireSignedUrls })),
    samples,
  };
}

export function playgroundPage(setup: PlaygroundSetup, template = readFileSync(join(__dirname, 'index.html'), 'utf8')): PlaygroundPage {
  // `<` escaped: no sample path can close the JSON's script element.
  const json = JSON.stringify(setup).replace(/</g, '\\u003c');
  const html = template.replace('"__SETUP__"', () => json);
  const script = /<script>([\s\S]*?)<\/script>/.exec(html)?.[1] ?? '';
  const hash = createHash('sha256').update(script).digest('base64');
  return {
    html,
    headers: {
      'content-type': 'text/html; charset=utf-8',
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
      'content-security-policy': `default-src 'none'; script-src 'sha256-${hash}'; style-src 'unsafe-inline'; img-src 'self' blob: data:; connect-src 'self' blob:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`,
    },
  };
}
