// The configuration schema: one set of types read by the runtime, the local server and the
// CDK construct, validated once at start-up by `parseConfig` with messages a user can act on.

import { OUTPUT_FORMATS, type OutputFormat } from './request/plan-types';

export type OriginType = 's3' | 'cloudinary-backup';

/**
 * How an origin's read-only bucket keys are found.
 * - `secret`: the Secrets Manager secret the stack creates (JSON `{"accessKeyId", "secretAccessKey"}`).
 *   The default in AWS.
 * - `static`: `accessKeyId` / `secretAccessKey` written in the configuration file (local use only;
 *   the CDK construct refuses it so that no key ends up in a template).
 * - `env`: `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` from the environment.
 * - `default-chain`: the AWS SDK's default provider chain (profiles, SSO, instance roles, ...).
 */
export type CredentialsConfig =
  | { source: 'secret' }
  | { source: 'static'; accessKeyId: string; secretAccessKey: string; sessionToken?: string }
  | { source: 'env' }
  | { source: 'default-chain' };

export interface OriginConfig {
  /** Name the endpoints refer to. Letters, digits, `-` and `_`. */
  name: string;
  /** `s3`: key = `<folder>/<path>`. `cloudinary-backup`: Cloudinary's backup layout (spec section 7). */
  type: OriginType;
  bucket: string;
  /** Key prefix; `/` or empty = the bucket root. @default '/' */
  folder?: string;
  /** @default the Lambda's region, or us-east-1 locally */
  region?: string;
  /** Any S3-compatible endpoint (GCS interoperability, MinIO, R2, a local server). */
  endpoint?: string;
  /** Path-style addressing; on by default when `endpoint` is set. */
  forcePathStyle?: boolean;
  /** @default { source: 'secret' } */
  credentials?: CredentialsConfig;
  /** Encode each key segment with encodeURIComponent before the request. @default false */
  encodeKeys?: boolean;
  /** Adds `Link: <BASE/PATH>; rel="canonical"` to successful responses. */
  canonicalBaseUrl?: string;
  /** cloudinary-backup only: serve the exact version named in the URL when the backup has it. @default false */
  exactVersions?: boolean;
  /**
   * cloudinary-backup only: the delivery types served when the folder is a cloud's root
   * (`/res/<cloud>/`, so paths start with `<resource_type>/<type>/`). Cloudinary's `private`
   * and `authenticated` assets are not public there; list them here only if they may be.
   * @default ['upload']
   */
  deliveryTypes?: string[];
}

export interface EndpointConfig {
  /** Path prefix matched on whole segments; '' (the default endpoint) matches everything. */
  prefix: string;
  /** Origin names, tried in order; the next is tried only when the file is not found. */
  origins: string[];
  /** Accept Cloudinary delivery URLs (spec section 8) on this endpoint. @default false */
  cloudinaryUrls?: boolean;
  /** Require ImageKit-style signed URLs (`ik-s`, `ik-t`) on this endpoint. @default false */
  requireSignedUrls?: boolean;
  // --- signing-key isolation
  /**
   * The name of the key this endpoint verifies signatures with: the secret's
   * `privateKeys.<name>` (locally `AFTERIMAGE_PRIVATE_KEYS`). Give each signed endpoint its own
   * name, so a URL signed for one endpoint opens nothing on another. The key itself never goes
   * in this file. @default the secret's single `privateKey`, shared by every endpoint without a name
   */
  signingKeyName?: string;
  // --- abuse controls for unsigned endpoints
  /**
   * `named-only`: only named transformations (`n-<name>`, Cloudinary `t_<name>`) and `orig-true`
   * may be requested; anything else is a 400. @default 'any'
   */
  transformations?: TransformationsRule;
  /**
   * The widths this endpoint renders, ascending: a requested `w` (times `dpr`) is rounded up to
   * the next one; above the largest, or as a fraction, it is a 400. @default any width
   */
  widths?: number[];
}

/** Which transformations an endpoint accepts. */
export type TransformationsRule = 'any' | 'named-only';

export interface OutputConfig {
  /** @default 80 */
  quality: number;
  /** @default 'auto' */
  format: OutputFormat;
  /** Cache-Control of successful responses. @default 'public, max-age=31536000, stale-while-revalidate=86400' */
  cacheControl: string;
}

export interface LimitsConfig {
  /** Largest output width or height. @default 8192 */
  maxOutputDimension: number;
  /** Largest input object, in bytes. @default 50 MiB */
  maxInputBytes: number;
  /**
   * Largest input, in pixels (width × height × frames). What a request may then cost in
   * memory and time is the cost model's to bound (memoryBudgetMB). @default 50 000 000
   */
  maxInputPixels: number;
  /**
   * Largest output, in pixels (width × height × frames), checked before the work is done: it
   * bounds what an animation (whose frames multiply) or an enlargement can cost.
   * @default 67 108 864 (8192 × 8192: every still image within maxOutputDimension)
   */
  maxOutputPixels: number;
  /**
   * Peak memory one request may use, in MB (MiB, as Lambda counts), by the cost model's
   * estimate (lambda/image/cost.ts), checked before the work: a negotiated format steps down
   * (AVIF → WebP → PNG/JPEG), anything else over it is a 422.
   * @default 1228 (memoryBudgetFor(1536): 80 % of the default function's memory)
   */
  memoryBudgetMB: number;
  /** Estimated encoding time one request may take, in seconds (cost model; as memoryBudgetMB). @default 10 */
  maxEncodeSeconds: number;
  /** Largest AVIF output in pixels (width × height × frames); negotiated AVIF above it is WebP. @default 8 294 400 (3840 × 2160) */
  maxAvifPixels: number;
  /** Most chained steps in one request. @default 10 */
  maxSteps: number;
  /** Longest transformation chain, in characters. @default 2048 */
  maxChainLength: number;
  /** Timeout of one origin call. @default 5000 */
  originTimeoutMs: number;
  /** Retries of an origin call that failed with a 5xx or a network error. @default 2 */
  originRetries: number;
  /**
   * Deadline of one request, origin calls, waiting for a render slot and rendering included:
   * past it the answer is a 503 and the work is stopped. On Lambda the time left in the
   * invocation can shorten it. @default 20000 (10 s under the function's default 30 s timeout)
   */
  requestTimeoutMs: number;
  /**
   * Largest raster an SVG is drawn at, in pixels, at the density it is actually rendered at
   * (`w-4000` on a 1000×1000 SVG draws 4000×4000). Lower than maxInputPixels: an SVG's size is
   * only declared, so a few bytes can ask for any size, and its filters are drawn on full-size
   * surfaces, once for every tile. maxInputPixels bounds SVGs too, when it is the lower.
   * @default 4 194 304 (2048 × 2048)
   */
  maxSvgPixels: number;
  /**
   * Most renders one process runs at once; the rest wait in a queue. A Lambda sandbox serves
   * one request at a time, so this matters for `npm start` and other long-running servers.
   * @default the number of CPUs
   */
  maxConcurrentRenders?: number;
  /** Most requests waiting for a render slot; past it a request is a 503 at once. @default 100 */
  maxQueuedRenders: number;
}

export interface CacheConfig {
  /** How long a Cloudinary-backup resolution is reused. @default 60 */
  resolutionTtlSeconds: number;
  /** Most resolutions kept in memory. @default 10000 */
  resolutionMaxEntries: number;
  /** How long keys read from Secrets Manager are reused before a re-read. @default 300 */
  secretTtlSeconds: number;
}

/** The configuration as written by a user: everything but origins and endpoints has a default. */
export interface AfterimageConfigInput {
  origins: OriginConfig[];
  /** @default one endpoint with prefix '' over every origin, in order */
  endpoints?: EndpointConfig[];
  output?: Partial<OutputConfig>;
  limits?: Partial<LimitsConfig>;
  cache?: Partial<CacheConfig>;
  /** Named transformations for `n-<name>`: name → chain, e.g. `{ "thumb": "w-200,h-200" }`. */
  namedTransformations?: Record<string, string>;
}

/** The validated configuration, with every default filled in. */
export interface AfterimageConfig {
  origins: OriginConfig[];
  endpoints: EndpointConfig[];
  output: OutputConfig;
  limits: LimitsConfig;
  cache: CacheConfig;
  namedTransformations: Record<string, string>;
}

export const DEFAULT_OUTPUT: OutputConfig = {
  quality: 80,
  format: 'auto',
  cacheControl: 'public, max-age=31536000, stale-while-revalidate=86400',
};

/** The Lambda function's memory when the construct is not told otherwise, in MB. */
export const DEFAULT_FUNCTION_MEMORY_MB = 1536;

/**
 * The default `limits.memoryBudgetMB` for a function of `memorySizeMB`: 80 %. The rest is
 * headroom for what the cost model does not see: the Lambda runtime, the response on its way
 * out, and memory the allocator keeps after earlier requests.
 */
export function memoryBudgetFor(memorySizeMB: number): number {
  return Math.floor(memorySizeMB * 0.8);
}

export const DEFAULT_LIMITS: LimitsConfig = {
  maxOutputDimension: 8192,
  maxInputBytes: 50 * 1024 * 1024,
  maxInputPixels: 50_000_000,
  maxOutputPixels: 8192 * 8192,
  memoryBudgetMB: memoryBudgetFor(DEFAULT_FUNCTION_MEMORY_MB),
  maxEncodeSeconds: 10,
  maxAvifPixels: 3840 * 2160,
  maxSteps: 10,
  maxChainLength: 2048,
  originTimeoutMs: 5000,
  originRetries: 2,
  requestTimeoutMs: 20_000,
  maxSvgPixels: 2048 * 2048,
  maxQueuedRenders: 100,
};

export const DEFAULT_CACHE: CacheConfig = {
  resolutionTtlSeconds: 60,
  resolutionMaxEntries: 10_000,
  secretTtlSeconds: 300,
};

/** The file the CDK construct writes beside the Lambda bundle: the validated configuration, read once per cold start. */
export const CONFIG_FILE_NAME = 'afterimage.config.json';

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid afterimage configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

const NAME = /^[A-Za-z0-9_-]{1,64}$/;
const CREDENTIAL_SOURCES = ['secret', 'static', 'env', 'default-chain'];

/** Collects every problem instead of stopping at the first, so one run shows them all. */
class Checker {
  readonly problems: string[] = [];

  expected(what: string, name: string, value: unknown): void {
    this.problems.push(`expected ${what} for ${name} but received ${show(value)}`);
  }

  object(value: unknown, name: string): Record<string, unknown> | undefined {
    if (value && typeof value === 'object' && !Array.isArray(value)) return value as Record<string, unknown>;
    this.expected('an object', name, value);
    return undefined;
  }

  unknownKeys(obj: Record<string, unknown>, name: string, allowed: string[]): void {
    for (const key of Object.keys(obj)) {
      if (!allowed.includes(key)) this.problems.push(`unknown setting ${name}.${key} (known: ${allowed.join(', ')})`);
    }
  }

  string(value: unknown, name: string, optional = false): string | undefined {
    if (value === undefined && optional) return undefined;
    if (typeof value === 'string' && value.length > 0) return value;
    this.expected('a non-empty string', name, value);
    return undefined;
  }

  boolean(value: unknown, name: string): boolean | undefined {
    if (value === undefined) return undefined;
    if (typeof value === 'boolean') return value;
    this.expected('true or false', name, value);
    return undefined;
  }

  integer(value: unknown, name: string, min: number, max: number, fallback: number): number {
    if (value === undefined) return fallback;
    if (typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max) return value;
    this.expected(`an integer between ${min} and ${max}`, name, value);
    return fallback;
  }

  oneOf<T extends string>(value: unknown, name: string, allowed: readonly T[], fallback: T): T {
    if (value === undefined) return fallback;
    if (typeof value === 'string' && (allowed as readonly string[]).includes(value)) return value as T;
    this.expected(`one of ${allowed.join(', ')}`, name, value);
    return fallback;
  }

  url(value: unknown, name: string): string | undefined {
    const text = this.string(value, name, true);
    if (text === undefined) return undefined;
    try {
      const parsed = new URL(text);
      if (parsed.protocol === 'http:' || parsed.protocol === 'https:') return text;
    } catch {
      // reported below
    }
    this.expected('an http(s) URL', name, value);
    return undefined;
  }
}

function show(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (value === undefined) return 'nothing';
  if (Array.isArray(value)) return 'an array';
  if (value === null) return 'null';
  if (typeof value === 'object') return 'an object';
  return String(value);
}

function parseCredentials(c: Checker, value: unknown, name: string): CredentialsConfig {
  if (value === undefined) return { source: 'secret' };
  const obj = c.object(value, name);
  if (!obj) return { source: 'secret' };
  const source = c.oneOf(obj.source, `${name}.source`, CREDENTIAL_SOURCES as CredentialsConfig['source'][], 'secret');
  if (source === 'static') {
    c.unknownKeys(obj, name, ['source', 'accessKeyId', 'secretAccessKey', 'sessionToken']);
    const accessKeyId = c.string(obj.accessKeyId, `${name}.accessKeyId`) ?? '';
    const secretAccessKey = c.string(obj.secretAccessKey, `${name}.secretAccessKey`) ?? '';
    const sessionToken = c.string(obj.sessionToken, `${name}.sessionToken`, true);
    return { source, accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) };
  }
  c.unknownKeys(obj, name, ['source']);
  return { source } as CredentialsConfig;
}

function parseOrigin(c: Checker, value: unknown, index: number): OriginConfig | undefined {
  const name = `origins[${index}]`;
  const obj = c.object(value, name);
  if (!obj) return undefined;
  c.unknownKeys(obj, name, [
    'name', 'type', 'bucket', 'folder', 'region', 'endpoint', 'forcePathStyle', 'credentials',
    'encodeKeys', 'canonicalBaseUrl', 'exactVersions', 'deliveryTypes',
  ]);
  const originName = c.string(obj.name, `${name}.name`);
  if (originName !== undefined && !NAME.test(originName)) {
    c.expected('letters, digits, "-" or "_" (at most 64)', `${name}.name`, originName);
  }
  const type = c.oneOf(obj.type, `${name}.type`, ['s3', 'cloudinary-backup'] as const, 's3');
  if (obj.type === undefined) c.problems.push(`${name}.type is required: "s3" or "cloudinary-backup"`);
  const bucket = c.string(obj.bucket, `${name}.bucket`);
  const folder = obj.folder === undefined ? '/' : typeof obj.folder === 'string' ? obj.folder : (c.expected('a string', `${name}.folder`, obj.folder), '/');
  const exactVersions = c.boolean(obj.exactVersions, `${name}.exactVersions`);
  if (obj.deliveryTypes !== undefined && type !== 'cloudinary-backup') {
    c.problems.push(`${name}.deliveryTypes applies only to type "cloudinary-backup"`);
  }
  if (exactVersions && type !== 'cloudinary-backup') {
    c.problems.push(`${name}.exactVersions applies only to type "cloudinary-backup"`);
  }
  const endpoint = c.url(obj.endpoint, `${name}.endpoint`);
  const canonicalBaseUrl = c.url(obj.canonicalBaseUrl, `${name}.canonicalBaseUrl`);
  const origin: OriginConfig = {
    name: originName ?? `origin${index}`,
    type,
    bucket: bucket ?? '',
    folder,
    credentials: parseCredentials(c, obj.credentials, `${name}.credentials`),
    encodeKeys: c.boolean(obj.encodeKeys, `${name}.encodeKeys`) ?? false,
    exactVersions: exactVersions ?? false,
    ...(type === 'cloudinary-backup' ? { deliveryTypes: parseDeliveryTypes(c, obj.deliveryTypes, `${name}.deliveryTypes`) } : {}),
  };
  const region = c.string(obj.region, `${name}.region`, true);
  if (region) origin.region = region;
  if (endpoint) origin.endpoint = endpoint;
  const forcePathStyle = c.boolean(obj.forcePathStyle, `${name}.forcePathStyle`);
  if (forcePathStyle !== undefined) origin.forcePathStyle = forcePathStyle;
  if (canonicalBaseUrl) origin.canonicalBaseUrl = canonicalBaseUrl.replace(/\/+$/, '');
  return origin;
}

function parseDeliveryTypes(c: Checker, value: unknown, name: string): string[] {
  if (value === undefined) return ['upload'];
  if (!Array.isArray(value) || value.length === 0 || !value.every((v) => typeof v === 'string' && /^[a-z][a-z_]*$/.test(v))) {
    c.expected('a non-empty list of Cloudinary delivery types such as ["upload"]', name, value);
    return ['upload'];
  }
  return value as string[];
}

function parseEndpoint(c: Checker, value: unknown, index: number, originNames: Set<string>): EndpointConfig | undefined {
  const name = `endpoints[${index}]`;
  const obj = c.object(value, name);
  if (!obj) return undefined;
  c.unknownKeys(obj, name, ['prefix', 'origins', 'cloudinaryUrls', 'requireSignedUrls', ...ABUSE_CONTROL_KEYS]);
  let prefix = '';
  if (obj.prefix !== undefined) {
    if (typeof obj.prefix !== 'string') c.expected('a string such as "/images"', `${name}.prefix`, obj.prefix);
    else prefix = normalisePrefix(obj.prefix);
    if (typeof obj.prefix === 'string' && /[?#%\\]|(^|\/)\.\.?(\/|$)|\/\//.test(obj.prefix.replace(/^\/|\/$/g, ''))) {
      c.expected('plain path segments without ?, #, %, \\, "." or ".."', `${name}.prefix`, obj.prefix);
    }
    if (typeof obj.prefix === 'string' && /(^|\/)tr:/.test(prefix)) {
      c.expected('a prefix whose segments do not start with "tr:"', `${name}.prefix`, obj.prefix);
    }
  }
  const origins: string[] = [];
  if (!Array.isArray(obj.origins) || obj.origins.length === 0) {
    c.expected('a non-empty list of origin names', `${name}.origins`, obj.origins);
  } else {
    obj.origins.forEach((o, i) => {
      const originName = c.string(o, `${name}.origins[${i}]`);
      if (originName === undefined) return;
      if (!originNames.has(originName)) {
        c.problems.push(`${name}.origins[${i}] names an origin that does not exist: "${originName}" (known: ${[...originNames].join(', ')})`);
      }
      origins.push(originName);
    });
  }
  return {
    prefix,
    origins,
    cloudinaryUrls: c.boolean(obj.cloudinaryUrls, `${name}.cloudinaryUrls`) ?? false,
    requireSignedUrls: c.boolean(obj.requireSignedUrls, `${name}.requireSignedUrls`) ?? false,
    ...parseAbuseControls(c, obj, name),
  };
}

// --- per-endpoint signing keys and abuse controls -----------------------------------------

const ABUSE_CONTROL_KEYS = ['signingKeyName', 'transformations', 'widths'];
const TRANSFORMATIONS_RULES: TransformationsRule[] = ['any', 'named-only'];

/** `signingKeyName`, `transformations`, `widths`: set on the endpoint only when written, so the defaults stay implicit. */
function parseAbuseControls(c: Checker, obj: Record<string, unknown>, name: string): Partial<EndpointConfig> {
  const controls: Partial<EndpointConfig> = {};
  if (obj.signingKeyName !== undefined) {
    const keyName = c.string(obj.signingKeyName, `${name}.signingKeyName`);
    if (keyName !== undefined && !NAME.test(keyName)) {
      c.expected('the name of a key in the secret\'s privateKeys (letters, digits, "-" or "_", at most 64; never the key itself)', `${name}.signingKeyName`, '…');
    } else if (keyName !== undefined) controls.signingKeyName = keyName;
  }
  if (obj.transformations !== undefined) {
    controls.transformations = c.oneOf(obj.transformations, `${name}.transformations`, TRANSFORMATIONS_RULES, 'any');
  }
  if (obj.widths !== undefined) {
    const widths = obj.widths;
    const valid = Array.isArray(widths) && widths.length > 0 && widths.length <= 100
      && widths.every((w, i) => typeof w === 'number' && Number.isInteger(w) && w >= 1 && w <= 16383 && (i === 0 || w > (widths[i - 1] as number)));
    if (valid) controls.widths = widths as number[];
    else c.expected('a list of 1 to 100 widths in pixels, ascending, such as [320, 640, 960, 1280, 1920]', `${name}.widths`, widths);
  }
  return controls;
}

/** `/images/` → `images`; `/` or '' → '' (the default endpoint). */
export function normalisePrefix(prefix: string): string {
  return prefix.replace(/^\/+|\/+$/g, '');
}

/**
 * Validates a configuration as a user wrote it (parsed JSON) and fills in the defaults.
 * Throws a ConfigError listing every problem found.
 */
export function parseConfig(input: unknown): AfterimageConfig {
  const c = new Checker();
  const root = c.object(input, 'the configuration');
  if (!root) throw new ConfigError(c.problems);
  c.unknownKeys(root, 'config', ['origins', 'endpoints', 'output', 'limits', 'cache', 'namedTransformations', '$schema']);

  const origins: OriginConfig[] = [];
  if (!Array.isArray(root.origins) || root.origins.length === 0) {
    c.expected('a non-empty list', 'origins', root.origins);
  } else {
    root.origins.forEach((o, i) => {
      const origin = parseOrigin(c, o, i);
      if (origin) origins.push(origin);
    });
  }
  const originNames = new Set<string>();
  for (const origin of origins) {
    if (originNames.has(origin.name)) c.problems.push(`two origins are named "${origin.name}"; names must be unique`);
    originNames.add(origin.name);
  }

  let endpoints: EndpointConfig[];
  if (root.endpoints === undefined) {
    endpoints = [{ prefix: '', origins: origins.map((o) => o.name), cloudinaryUrls: false, requireSignedUrls: false }];
  } else if (!Array.isArray(root.endpoints) || root.endpoints.length === 0) {
    c.expected('a non-empty list', 'endpoints', root.endpoints);
    endpoints = [];
  } else {
    endpoints = [];
    root.endpoints.forEach((e, i) => {
      const endpoint = parseEndpoint(c, e, i, originNames);
      if (endpoint) endpoints.push(endpoint);
    });
  }
  const prefixes = new Set<string>();
  for (const endpoint of endpoints) {
    if (prefixes.has(endpoint.prefix)) c.problems.push(`two endpoints have the prefix "/${endpoint.prefix}"; prefixes must be unique`);
    prefixes.add(endpoint.prefix);
  }

  const outputIn = root.output === undefined ? {} : c.object(root.output, 'output') ?? {};
  c.unknownKeys(outputIn, 'output', ['quality', 'format', 'cacheControl']);
  const output: OutputConfig = {
    quality: c.integer(outputIn.quality, 'output.quality', 1, 100, DEFAULT_OUTPUT.quality),
    format: c.oneOf(outputIn.format, 'output.format', OUTPUT_FORMATS, DEFAULT_OUTPUT.format),
    cacheControl: c.string(outputIn.cacheControl, 'output.cacheControl', true) ?? DEFAULT_OUTPUT.cacheControl,
  };

  const limitsIn = root.limits === undefined ? {} : c.object(root.limits, 'limits') ?? {};
  c.unknownKeys(limitsIn, 'limits', [...Object.keys(DEFAULT_LIMITS), 'maxConcurrentRenders']);
  const limits: LimitsConfig = {
    maxOutputDimension: c.integer(limitsIn.maxOutputDimension, 'limits.maxOutputDimension', 1, 16383, DEFAULT_LIMITS.maxOutputDimension),
    maxInputBytes: c.integer(limitsIn.maxInputBytes, 'limits.maxInputBytes', 1, 2 ** 31, DEFAULT_LIMITS.maxInputBytes),
    maxInputPixels: c.integer(limitsIn.maxInputPixels, 'limits.maxInputPixels', 1, 2 ** 32, DEFAULT_LIMITS.maxInputPixels),
    maxOutputPixels: c.integer(limitsIn.maxOutputPixels, 'limits.maxOutputPixels', 1, 2 ** 32, DEFAULT_LIMITS.maxOutputPixels),
    memoryBudgetMB: c.integer(limitsIn.memoryBudgetMB, 'limits.memoryBudgetMB', 128, 10240, DEFAULT_LIMITS.memoryBudgetMB),
    maxEncodeSeconds: c.integer(limitsIn.maxEncodeSeconds, 'limits.maxEncodeSeconds', 1, 900, DEFAULT_LIMITS.maxEncodeSeconds),
    maxAvifPixels: c.integer(limitsIn.maxAvifPixels, 'limits.maxAvifPixels', 0, 2 ** 32, DEFAULT_LIMITS.maxAvifPixels),
    maxSteps: c.integer(limitsIn.maxSteps, 'limits.maxSteps', 1, 100, DEFAULT_LIMITS.maxSteps),
    maxChainLength: c.integer(limitsIn.maxChainLength, 'limits.maxChainLength', 16, 65536, DEFAULT_LIMITS.maxChainLength),
    originTimeoutMs: c.integer(limitsIn.originTimeoutMs, 'limits.originTimeoutMs', 100, 120_000, DEFAULT_LIMITS.originTimeoutMs),
    originRetries: c.integer(limitsIn.originRetries, 'limits.originRetries', 0, 10, DEFAULT_LIMITS.originRetries),
    requestTimeoutMs: c.integer(limitsIn.requestTimeoutMs, 'limits.requestTimeoutMs', 100, 900_000, DEFAULT_LIMITS.requestTimeoutMs),
    maxSvgPixels: c.integer(limitsIn.maxSvgPixels, 'limits.maxSvgPixels', 1, 2 ** 32, DEFAULT_LIMITS.maxSvgPixels),
    maxQueuedRenders: c.integer(limitsIn.maxQueuedRenders, 'limits.maxQueuedRenders', 0, 100_000, DEFAULT_LIMITS.maxQueuedRenders),
  };
  // Left out when not set: it defaults to the CPUs of the machine that serves, not of the one that validates.
  if (limitsIn.maxConcurrentRenders !== undefined) {
    limits.maxConcurrentRenders = c.integer(limitsIn.maxConcurrentRenders, 'limits.maxConcurrentRenders', 1, 1024, 1);
  }

  endpoints.forEach((endpoint, i) => {
    const largest = endpoint.widths?.[endpoint.widths.length - 1];
    if (largest !== undefined && largest > limits.maxOutputDimension) {
      c.problems.push(`endpoints[${i}].widths holds ${largest}, above limits.maxOutputDimension (${limits.maxOutputDimension})`);
    }
  });

  const cacheIn = root.cache === undefined ? {} : c.object(root.cache, 'cache') ?? {};
  c.unknownKeys(cacheIn, 'cache', Object.keys(DEFAULT_CACHE));
  const cache: CacheConfig = {
    resolutionTtlSeconds: c.integer(cacheIn.resolutionTtlSeconds, 'cache.resolutionTtlSeconds', 0, 86_400, DEFAULT_CACHE.resolutionTtlSeconds),
    resolutionMaxEntries: c.integer(cacheIn.resolutionMaxEntries, 'cache.resolutionMaxEntries', 0, 1_000_000, DEFAULT_CACHE.resolutionMaxEntries),
    secretTtlSeconds: c.integer(cacheIn.secretTtlSeconds, 'cache.secretTtlSeconds', 0, 86_400, DEFAULT_CACHE.secretTtlSeconds),
  };

  const namedTransformations: Record<string, string> = {};
  if (root.namedTransformations !== undefined) {
    const named = c.object(root.namedTransformations, 'namedTransformations') ?? {};
    for (const [key, chain] of Object.entries(named)) {
      if (!NAME.test(key)) c.expected('letters, digits, "-" or "_"', `the name namedTransformations.${key}`, key);
      const text = c.string(chain, `namedTransformations.${key}`);
      if (text !== undefined) namedTransformations[key] = text;
    }
  }

  if (c.problems.length > 0) throw new ConfigError(c.problems);
  return { origins, endpoints, output, limits, cache, namedTransformations };
}
