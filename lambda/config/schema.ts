// The configuration schema: the types read by the runtime, the local server and the CDK
// construct, and their defaults. The limits are a table of their own (limits.ts); parse.ts
// validates a written configuration against both, once, at start-up.

import type { OutputFormat } from '../request/plan-types';
import type { LimitsConfig } from './limits';

export type { LimitsConfig } from './limits';

export type OriginType = 's3' | 'cloudinary-backup' | 'web' | 'cloudinary';

/** Origins read over HTTP(S) rather than from a bucket (README "Web and Cloudinary origins"). */
export const HTTP_ORIGIN_TYPES: readonly OriginType[] = ['web', 'cloudinary'];

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
  /** `s3`: key = `<folder>/<path>`. `cloudinary-backup`: Cloudinary's backup layout (README "Serving a Cloudinary backup"). */
  type: OriginType;
  /** The bucket; required for `s3` and `cloudinary-backup`, absent for `web` and `cloudinary`. */
  bucket?: string;
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
   * Amazon S3 only: the ARN of the customer-managed KMS key the bucket's objects are encrypted
   * with (SSE-KMS). The runtime needs nothing (S3 decrypts); the construct grants the function's
   * role `kms:Decrypt` on it, through S3 only, where the role reads the origin
   * (`default-chain`), and `kms:GenerateDataKey` where it writes copies into it (`copyTo`).
   */
  kmsKeyArn?: string;
  /**
   * cloudinary-backup only: the delivery types served when the folder is a cloud's root
   * (`/res/<cloud>/`, so paths start with `<resource_type>/<type>/`). Cloudinary's `private`
   * and `authenticated` assets are not public there; list them here only if they may be.
   * @default ['upload']
   */
  deliveryTypes?: string[];
  // --- web and cloudinary origins (README "Web and Cloudinary origins")
  /** web only: a file is fetched from `<baseUrl>/<path>`. https unless `allowHttp`. */
  baseUrl?: string;
  /** cloudinary only: the cloud name; originals come from `https://res.cloudinary.com/<cloud>/…`. */
  cloud?: string;
  /** cloudinary only: a private CDN or CNAME host (`host[:port]`) serving `/<resource_type>/<type>/…` without the cloud name. */
  deliveryHost?: string;
  /** web, cloudinary: plain http is allowed (base URL and redirects). @default false */
  allowHttp?: boolean;
  /**
   * web, cloudinary: connections to loopback, private, link-local (instance metadata),
   * unique-local, CGNAT and multicast addresses are allowed. @default false
   */
  allowPrivateNetwork?: boolean;
  /** web, cloudinary: request header → the field of the secret's `originHeaders` holding its value (never the value). */
  secretHeaders?: Record<string, string>;
  /** web, cloudinary: the Content-Types accepted, exact or `type/*`. @default ['image/*'] */
  contentTypes?: string[];
  /** web, cloudinary: after serving a file fetched here, write its original into this S3 origin (README "Copy on miss"). */
  copyTo?: string;
}

export interface EndpointConfig {
  /** Path prefix matched on whole segments; '' (the default endpoint) matches everything. */
  prefix: string;
  /** Origin names, tried in order; the next is tried only when the file is not found. */
  origins: string[];
  /** Accept Cloudinary delivery URLs (README "Keeping Cloudinary URLs alive") on this endpoint. @default false */
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
  /**
   * Cloudinary fetch URLs (`/image/fetch/<transformations>/<https URL>`) on a `cloudinaryUrls`
   * endpoint: the hosts they may name, matched exactly. @default none: fetch URLs are a 400
   */
  fetchAllowedHosts?: string[];
  /** Fetch URLs may reach private addresses (tests, internal hosts). @default false */
  fetchAllowPrivateNetwork?: boolean;
}

/** Which transformations an endpoint accepts. */
export type TransformationsRule = 'any' | 'named-only';


export interface OutputConfig {
  /** @default 80 */
  quality: number;
  /** @default 'auto' */
  format: OutputFormat;
  /**
   * Cache-Control of successful responses (README "Fixing a stale image"): `s-maxage` is how long
   * CloudFront keeps a copy (`afterimage purge` removes it), `max-age` how long a browser does
   * (nothing reaches it).
   * @default 'public, max-age=86400, s-maxage=31536000, stale-while-revalidate=86400'
   */
  cacheControl: string;
  /** Send a `Server-Timing` header with the request's stage timings (README "Observability"). @default true */
  serverTiming: boolean;
  /**
   * Cache-Control of a Cloudinary version served exactly (a URL naming a version that exists, with
   * `exactVersions`): those bytes never change. @default 'public, max-age=31536000, immutable'
   */
  versionedCacheControl: string;
}

export interface CacheConfig {
  /** How long a Cloudinary-backup resolution is reused. @default 60 */
  resolutionTtlSeconds: number;
  /** Most resolutions kept in memory. @default 10000 */
  resolutionMaxEntries: number;
  /** How long keys read from Secrets Manager are reused before a re-read. @default 300 */
  secretTtlSeconds: number;
  /**
   * How long a cached original is served without asking S3 again, counted from the GET that
   * last vouched for it; after that a conditional GET (304 when unchanged). Its size is
   * `limits.originalCacheMB`. @default 10
   */
  originalTtlSeconds: number;
}

/** A font for text layers (`ff-<name>`), read from an origin once per process (README "Layers"). */
export interface FontConfig {
  /** The origin's name. */
  origin: string;
  /** The TTF or OTF file's path in that origin. */
  path: string;
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
  /** Fonts for text layers, by the name `ff-` uses, e.g. `{ "brand": { "origin": "assets", "path": "fonts/Brand.ttf" } }`. */
  fonts?: Record<string, FontConfig>;
}

/** The validated configuration, with every default filled in. */
export interface AfterimageConfig {
  origins: OriginConfig[];
  endpoints: EndpointConfig[];
  output: OutputConfig;
  limits: LimitsConfig;
  cache: CacheConfig;
  namedTransformations: Record<string, string>;
  fonts?: Record<string, FontConfig>;
}

export const DEFAULT_OUTPUT: OutputConfig = {
  quality: 80,
  format: 'auto',
  cacheControl: 'public, max-age=86400, s-maxage=31536000, stale-while-revalidate=86400',
  versionedCacheControl: 'public, max-age=31536000, immutable',
  serverTiming: true,
};

export const DEFAULT_CACHE: CacheConfig = {
  resolutionTtlSeconds: 60,
  resolutionMaxEntries: 10_000,
  secretTtlSeconds: 300,
  originalTtlSeconds: 10,
};

/** The file the CDK construct writes beside the Lambda bundle: the validated configuration, read once per cold start. */
export const CONFIG_FILE_NAME = 'afterimage.config.json';
