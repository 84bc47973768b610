// The web-server layout (`type: web`, README "Web and Cloudinary origins"): a file is fetched
// from `<baseUrl>/<path>`, each path segment percent-encoded (twice with `encodeKeys`, as the
// name on the server is then the encoded one). Request headers come from the secret only.
// Files are read through the cache of originals, keyed by the URL asked for.

import type { LimitsConfig, OriginConfig } from '../config';
import { originRefused } from '../errors';
import { encodeKeyPath } from './keys';
import type { OriginalCache } from './original-cache';
import type { NotModified, Origin, ReadOptions, StoredObject, Validators } from './types';
import { fetchFromWebIfChanged, type WebFetchRules, type WebNotModified, type WebResponse, type WebTransport } from './web-fetch';

/** The value of a secret field of `originHeaders`, or undefined when the secret has none. */
export type OriginHeaderSource = (field: string) => Promise<string | undefined>;

/**
 * Local runs only (`npm start`, no Secrets Manager): `AFTERIMAGE_ORIGIN_HEADERS` holds the
 * secret's `originHeaders` as JSON (`{"legacyAuthorization": "Bearer …"}`). In AWS the values are
 * read from the secret, never from the environment.
 */
export function originHeadersFromEnvironment(env: NodeJS.ProcessEnv): OriginHeaderSource | undefined {
  const text = env.AFTERIMAGE_ORIGIN_HEADERS;
  if (!text) return undefined;
  let values: unknown;
  try {
    values = JSON.parse(text);
  } catch {
    values = undefined;
  }
  if (!values || typeof values !== 'object' || Array.isArray(values) || !Object.values(values).every((v) => typeof v === 'string')) {
    throw new Error('AFTERIMAGE_ORIGIN_HEADERS must be a JSON object of strings, shaped like the secret\'s originHeaders: {"<field>": "<header value>"}');
  }
  const fields = values as Record<string, string>;
  return async (field) => (Object.hasOwn(fields, field) ? fields[field] : undefined);
}

/** The formats' usual extensions, by Content-Type, for what a fetched file is stored as. */
const EXTENSIONS: Record<string, string> = {
  'image/jpeg': 'jpg', 'image/png': 'png', 'image/webp': 'webp', 'image/gif': 'gif', 'image/avif': 'avif',
  'image/svg+xml': 'svg', 'image/tiff': 'tiff', 'image/heic': 'heic', 'image/heif': 'heif', 'image/bmp': 'bmp',
};

/** The extension a Content-Type is stored under (`image/jpeg` → `jpg`), '' when unknown. */
export function extensionOfType(contentType: string): string {
  return EXTENSIONS[contentType] ?? (/^image\/([a-z0-9]+)$/.exec(contentType)?.[1] ?? '');
}

/** Everything a web origin shares with a Cloudinary origin: rules, headers, the answer as a StoredObject. */
export abstract class HttpOrigin implements Origin {
  constructor(
    readonly config: OriginConfig,
    private readonly limits: LimitsConfig,
    private readonly headerSource: OriginHeaderSource | undefined,
    private readonly transport: WebTransport,
    private readonly originals: OriginalCache,
  ) {
    if (Object.keys(config.secretHeaders ?? {}).length > 0 && !headerSource) {
      throw new Error(`origin "${config.name}" reads request headers from Secrets Manager, but no secret is configured (AFTERIMAGE_SECRET_ARN in AWS; locally, set AFTERIMAGE_ORIGIN_HEADERS)`);
    }
  }

  abstract fetch(path: string, options?: ReadOptions): Promise<StoredObject | null>;

  /**
   * One URL's file, through the cache of originals (keyed by the URL asked for, whatever it
   * redirects to): null on 404/410. Revalidations go under the same rules as the first GET.
   * A body is shown to `options.onArrival` as it arrives; the whole file is always read (a
   * prefix, `options.prefixBytes`, is for S3 originals only).
   */
  protected read(url: string, options?: ReadOptions): Promise<StoredObject | null> {
    return this.originals.read(['web', this.config.name, url], (validators) => this.get(url, validators, options?.onArrival));
  }

  /** One URL's file while the cache of originals holds it fresh, without asking the upstream; else undefined. */
  protected cached(url: string): StoredObject | undefined {
    return this.originals.fresh(['web', this.config.name, url]);
  }

  /** GETs one URL under this origin's rules (conditionally with `validators`): the file, NotModified, or null on 404/410. */
  private async get(url: string, validators: Validators | undefined, onArrival: ReadOptions['onArrival']): Promise<StoredObject | NotModified | null> {
    const started = performance.now();
    const rules: WebFetchRules = {
      originName: this.config.name,
      allowHttp: this.config.allowHttp ?? false,
      allowPrivateNetwork: this.config.allowPrivateNetwork ?? false,
      headers: await this.headers(),
      contentTypes: this.config.contentTypes ?? ['image/*'],
      limits: this.limits,
      ...(onArrival ? { onArrival } : {}),
    };
    return storedAnswer(await fetchFromWebIfChanged(url, rules, validators, this.transport), url, this.config, started);
  }

  private async headers(): Promise<Record<string, string>> {
    const headers: Record<string, string> = {};
    for (const [header, field] of Object.entries(this.config.secretHeaders ?? {})) {
      const value = await this.headerSource!(field);
      if (typeof value !== 'string' || value === '' || /[\r\n\0]/.test(value)) {
        throw originRefused(`Origin "${this.config.name}": the secret holds no usable originHeaders.${field} (for the ${header} header)`);
      }
      headers[header] = value;
    }
    return headers;
  }
}

/**
 * A web answer as the cache of originals takes it: the file (its key the URL asked for), a 304's
 * NotModified as it is, null when it is not there. `started`: when the GET was sent (performance.now()).
 */
export function storedAnswer(answer: WebResponse | WebNotModified | null, key: string, origin: OriginConfig, started: number): StoredObject | NotModified | null {
  if (!answer || 'notModified' in answer) return answer;
  return {
    body: answer.body,
    contentType: answer.contentType,
    key,
    origin,
    fetchMs: performance.now() - started,
    ...(answer.etag ? { etag: answer.etag } : {}),
    ...(answer.lastModified ? { lastModified: answer.lastModified } : {}),
    ...(answer.cacheControl ? { cacheControl: answer.cacheControl } : {}),
    ...(answer.upstreamMaxAgeMs !== undefined ? { upstreamMaxAgeMs: answer.upstreamMaxAgeMs } : {}),
    answeredBy: answer.url,
  };
}

export class WebOrigin extends HttpOrigin {
  async fetch(path: string, options?: ReadOptions): Promise<StoredObject | null> {
    // Never reached through the URL parser (it refuses them), refused here too: no way out of the base path.
    if (path.split('/').some((s) => s === '.' || s === '..')) return null;
    const url = webUrl(this.config.baseUrl!, path, this.config);
    return this.read(url, options);
  }
}

/** `<baseUrl>/<path>`, every segment percent-encoded: a path can never leave the base URL's host or path. */
export function webUrl(baseUrl: string, path: string, origin: OriginConfig): string {
  const encoded = encodeKeyPath(path, origin).split('/').map(encodeURIComponent).join('/');
  return `${baseUrl.replace(/\/+$/, '')}/${encoded}`;
}
