// The parser: validates a configuration as a user wrote it (parsed JSON) against the schema
// (schema.ts) and the limits table (limits.ts), fills in the defaults, and lists every problem
// in one ConfigError with messages a user can act on. A target adds the rules of where the
// configuration will run (the CDK construct asks for the Lambda function's).

import { OUTPUT_FORMATS } from '../request/plan-types';
import { LIMIT_NAMES, LIMITS, PROCESS_BASELINE_MB, memoryBudgetFor, originalCacheFor, type LimitsConfig } from './limits';
import {
  DEFAULT_CACHE,
  DEFAULT_OUTPUT,
  type AfterimageConfig,
  type CacheConfig,
  type CredentialsConfig,
  type EndpointConfig,
  type FontConfig,
  type OriginConfig,
  type OutputConfig,
  type TransformationsRule,
} from './schema';

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid afterimage configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

const NAME = /^[A-Za-z0-9_-]{1,64}$/;
const CREDENTIAL_SOURCES = ['secret', 'static', 'env', 'default-chain'];

/**
 * Where a configuration will run. `lambda`: the function the CDK construct deploys, which
 * refuses credentials that cannot work there (see LAMBDA_REFUSED_CREDENTIALS).
 */
export type ConfigTarget = 'any' | 'lambda';

export interface ParseOptions {
  /** @default 'any' (the local server, tests: every source of credentials works) */
  target?: ConfigTarget;
  /**
   * The memory of the function that will serve, in MB: `limits.memoryBudgetMB`, when not
   * written, is then memoryBudgetFor(it) instead of the default function's.
   * @default the default function's (DEFAULT_FUNCTION_MEMORY_MB)
   */
  memorySizeMB?: number;
}

/** Credential sources the Lambda function cannot use, and why: said after `origins[i].credentials.source`. */
const LAMBDA_REFUSED_CREDENTIALS: Partial<Record<CredentialsConfig['source'], string>> = {
  static:
    '"static" is refused in AWS: the keys would be written into the CloudFormation template. ' +
    'Use "secret" and put the keys into the stack\'s secret after deploying',
  env:
    '"env" does not work in Lambda, where AWS_ACCESS_KEY_ID holds the function\'s own role credentials. ' +
    'Use "secret" (bucket keys in the stack\'s secret) or "default-chain" (the function\'s role)',
};

/** Collects every problem instead of stopping at the first, so one run shows them all. */
class Checker {
  readonly problems: string[] = [];
  /** The target's problems, listed after the schema's. */
  readonly targetProblems: string[] = [];

  constructor(readonly target: ConfigTarget) {}

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
  const refusal = c.target === 'lambda' ? LAMBDA_REFUSED_CREDENTIALS[source] : undefined;
  if (refusal) c.targetProblems.push(`${name}.source ${refusal}`);
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

/** The keys of S3 origins, refused on web and cloudinary origins. */
const S3_ONLY_KEYS = ['bucket', 'folder', 'region', 'endpoint', 'forcePathStyle', 'credentials', 'exactVersions', 'kmsKeyArn'];
/** A KMS key's ARN (a UUID, or `mrk-` and hex for a multi-Region key); its Region is the second group. */
const KMS_KEY_ARN = /^arn:aws(-[a-z]+)*:kms:([a-z]{2}(-[a-z]+)+-\d):\d{12}:key\/(mrk-[0-9a-f]{32}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/;
/** The keys of web and cloudinary origins (README "Web and Cloudinary origins"). */
const HTTP_ORIGIN_KEYS = ['allowHttp', 'allowPrivateNetwork', 'secretHeaders', 'contentTypes', 'copyTo'];
const ORIGIN_TYPES = ['s3', 'cloudinary-backup', 'web', 'cloudinary'] as const;

function parseOrigin(c: Checker, value: unknown, index: number): OriginConfig | undefined {
  const name = `origins[${index}]`;
  const obj = c.object(value, name);
  if (!obj) return undefined;
  c.unknownKeys(obj, name, [
    'name', 'type', 'bucket', 'folder', 'region', 'endpoint', 'forcePathStyle', 'credentials',
    'encodeKeys', 'canonicalBaseUrl', 'exactVersions', 'kmsKeyArn', 'deliveryTypes', 'baseUrl', 'cloud', 'deliveryHost', ...HTTP_ORIGIN_KEYS,
  ]);
  const originName = c.string(obj.name, `${name}.name`);
  if (originName !== undefined && !NAME.test(originName)) {
    c.expected('letters, digits, "-" or "_" (at most 64)', `${name}.name`, originName);
  }
  const type = c.oneOf(obj.type, `${name}.type`, ORIGIN_TYPES, 's3');
  if (obj.type === undefined) c.problems.push(`${name}.type is required: ${ORIGIN_TYPES.map((t) => `"${t}"`).join(', ')}`);
  if (type === 'web' || type === 'cloudinary') return parseHttpOrigin(c, obj, name, originName ?? `origin${index}`, type);
  for (const key of ['baseUrl', 'cloud', 'deliveryHost', ...HTTP_ORIGIN_KEYS]) {
    if (obj[key] !== undefined) c.problems.push(`${name}.${key} applies only to types "web" and "cloudinary"`);
  }
  const bucket = c.string(obj.bucket, `${name}.bucket`);
  let folder = '/';
  if (typeof obj.folder === 'string') folder = obj.folder;
  else if (obj.folder !== undefined) c.expected('a string', `${name}.folder`, obj.folder);
  const exactVersions = c.boolean(obj.exactVersions, `${name}.exactVersions`);
  if (obj.deliveryTypes !== undefined && type !== 'cloudinary-backup') {
    c.problems.push(`${name}.deliveryTypes applies only to types "cloudinary-backup" and "cloudinary"`);
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
  const kmsKeyArn = c.string(obj.kmsKeyArn, `${name}.kmsKeyArn`, true);
  if (kmsKeyArn !== undefined) {
    if (endpoint) c.problems.push(`${name}.kmsKeyArn applies only to Amazon S3 (this origin sets an endpoint: its service manages its own keys)`);
    else if (/^arn:aws[a-z-]*:kms:[^:]*:\d*:alias\//.test(kmsKeyArn)) c.expected("the key's own ARN (an IAM policy cannot name a key by its alias), such as \"arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab\"", `${name}.kmsKeyArn`, kmsKeyArn);
    else if (!KMS_KEY_ARN.test(kmsKeyArn)) c.expected('a KMS key ARN, such as "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"', `${name}.kmsKeyArn`, kmsKeyArn);
    else if (region && kmsKeyRegion(kmsKeyArn) !== region) c.problems.push(`${name}.kmsKeyArn is a key in ${kmsKeyRegion(kmsKeyArn)}, but the bucket is in ${region} (${name}.region): S3 encrypts with keys of the bucket's own Region`);
    else origin.kmsKeyArn = kmsKeyArn;
  }
  return origin;
}

/** The Region of a KMS key ARN that `parseConfig` accepted. */
export function kmsKeyRegion(arn: string): string {
  return KMS_KEY_ARN.exec(arn)![2];
}

/** A host name, lower-case, with at least one dot: no scheme, port, path, user or wildcard. */
const HOST_NAME = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
/** A Content-Type an origin may answer with: `type/subtype` or `type/*`. */
const MEDIA_TYPE = /^[a-z]+\/([a-z0-9][a-z0-9.+-]*|\*)$/;
/** An HTTP header name (RFC 9110 token); those the client manages itself are refused. */
const HEADER_NAME = /^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}$/;
const MANAGED_HEADERS = new Set(['host', 'content-length', 'transfer-encoding', 'connection', 'accept-encoding']);

/** A `web` or `cloudinary` origin: read over HTTP(S), no bucket, no keys but secret headers. */
function parseHttpOrigin(c: Checker, obj: Record<string, unknown>, name: string, originName: string, type: 'web' | 'cloudinary'): OriginConfig {
  for (const key of S3_ONLY_KEYS) {
    if (obj[key] !== undefined) c.problems.push(`${name}.${key} applies only to S3 origins ("s3", "cloudinary-backup"), not to type "${type}"`);
  }
  const allowHttp = c.boolean(obj.allowHttp, `${name}.allowHttp`) ?? false;
  const origin: OriginConfig = { name: originName, type, allowHttp, allowPrivateNetwork: c.boolean(obj.allowPrivateNetwork, `${name}.allowPrivateNetwork`) ?? false };
  const schemes = allowHttp ? 'an https (or, with allowHttp, http) URL' : 'an https URL (http needs "allowHttp": true)';
  if (type === 'web') {
    for (const key of ['cloud', 'deliveryHost', 'deliveryTypes']) if (obj[key] !== undefined) c.problems.push(`${name}.${key} applies only to type "cloudinary"`);
    const text = c.string(obj.baseUrl, `${name}.baseUrl`);
    let url: URL | undefined;
    try {
      url = text === undefined ? undefined : new URL(text);
    } catch {
      // reported below
    }
    if (text !== undefined && (!url || !(url.protocol === 'https:' || (allowHttp && url.protocol === 'http:')) || url.username || url.password || url.search || url.hash)) {
      c.expected(`${schemes} without user, query or fragment, such as "https://images.example.org/media"`, `${name}.baseUrl`, text);
    } else if (url) origin.baseUrl = url.href.replace(/\/+$/, '');
    origin.encodeKeys = c.boolean(obj.encodeKeys, `${name}.encodeKeys`) ?? false;
  } else {
    if (obj.baseUrl !== undefined) c.problems.push(`${name}.baseUrl applies only to type "web" (a cloudinary origin is given "cloud" and, optionally, "deliveryHost")`);
    if (obj.encodeKeys !== undefined) c.problems.push(`${name}.encodeKeys applies only to types "s3", "cloudinary-backup" and "web"`);
    const cloud = c.string(obj.cloud, `${name}.cloud`);
    if (cloud !== undefined && !/^[a-z0-9][a-z0-9_-]{0,127}$/i.test(cloud)) c.expected('a Cloudinary cloud name such as "demo"', `${name}.cloud`, cloud);
    else if (cloud !== undefined) origin.cloud = cloud;
    if (obj.deliveryHost !== undefined) {
      const host = c.string(obj.deliveryHost, `${name}.deliveryHost`);
      const [hostname, port, extra] = (host ?? '').split(':');
      const validPort = port === undefined || (/^\d{1,5}$/.test(port) && Number(port) > 0 && Number(port) < 65536);
      const validHost = HOST_NAME.test(hostname.toLowerCase()) || /^\d{1,3}(\.\d{1,3}){3}$/.test(hostname) || hostname === 'localhost';
      if (host !== undefined && (!validHost || !validPort || extra !== undefined)) {
        c.expected('a host name, with an optional port, such as "images.example.org" or "demo-res.cloudinary.com" (no scheme, no path)', `${name}.deliveryHost`, host);
      } else if (host !== undefined) origin.deliveryHost = host.toLowerCase();
    }
    origin.deliveryTypes = parseDeliveryTypes(c, obj.deliveryTypes, `${name}.deliveryTypes`);
  }
  if (obj.secretHeaders !== undefined) {
    const headers = c.object(obj.secretHeaders, `${name}.secretHeaders`) ?? {};
    const parsed: Record<string, string> = {};
    for (const [header, field] of Object.entries(headers)) {
      if (!HEADER_NAME.test(header) || MANAGED_HEADERS.has(header.toLowerCase())) {
        c.expected(`an HTTP header name other than ${[...MANAGED_HEADERS].join(', ')}`, `the header name ${name}.secretHeaders.${header}`, header);
      } else if (typeof field !== 'string' || !NAME.test(field)) {
        c.expected('the name of a field of the secret\'s "originHeaders" (letters, digits, "-" or "_"; never the header\'s value itself)', `${name}.secretHeaders.${header}`, '…');
      } else parsed[header] = field;
    }
    origin.secretHeaders = parsed;
  }
  if (obj.contentTypes !== undefined) {
    const types = obj.contentTypes;
    if (!Array.isArray(types) || types.length === 0 || !types.every((t) => typeof t === 'string' && MEDIA_TYPE.test(t))) {
      c.expected('a non-empty list of content types such as ["image/*"] or ["image/jpeg", "application/pdf"]', `${name}.contentTypes`, types);
    } else origin.contentTypes = types as string[];
  }
  const copyTo = c.string(obj.copyTo, `${name}.copyTo`, true);
  if (copyTo !== undefined) origin.copyTo = copyTo;
  const canonicalBaseUrl = c.url(obj.canonicalBaseUrl, `${name}.canonicalBaseUrl`);
  if (canonicalBaseUrl) origin.canonicalBaseUrl = canonicalBaseUrl.replace(/\/+$/, '');
  return origin;
}

/** `copyTo` names an S3 origin the function can write to (in AWS, with its role). */
function checkCopyTargets(c: Checker, origins: readonly OriginConfig[]): void {
  origins.forEach((origin, i) => {
    if (origin.copyTo === undefined) return;
    const target = origins.find((o) => o.name === origin.copyTo);
    const where = `origins[${i}].copyTo`;
    if (!target) {
      c.problems.push(`${where} names an origin that does not exist: "${origin.copyTo}" (known: ${origins.map((o) => o.name).join(', ')})`);
    } else if (target.type !== 's3' && target.type !== 'cloudinary-backup') {
      c.problems.push(`${where} must name an S3 origin ("s3" or "cloudinary-backup"); "${target.name}" is of type "${target.type}"`);
    } else if (c.target === 'lambda' && target.endpoint !== undefined) {
      c.targetProblems.push(`${where}: the function writes copies with its own role, which reaches Amazon S3 only; "${target.name}" has a custom endpoint`);
    }
  });
}

/**
 * A copy is read only where its target comes before the origin it was copied from: otherwise
 * every request would fetch it upstream again and write it again.
 */
function checkCopyOrder(c: Checker, origins: readonly OriginConfig[], endpoints: readonly EndpointConfig[], defaulted: boolean): void {
  endpoints.forEach((endpoint, i) => {
    endpoint.origins.forEach((name, j) => {
      const target = origins.find((o) => o.name === name)?.copyTo;
      // An unknown target is reported by checkCopyTargets.
      if (target === undefined || !origins.some((o) => o.name === target) || endpoint.origins.slice(0, j).includes(target)) return;
      const where = defaulted ? 'the default endpoint (every origin, in order)' : `endpoints[${i}].origins`;
      c.problems.push(`${where} lists "${name}", which copies into "${target}", without "${target}" before it: the copies would never be read (list "${target}" first)`);
    });
  });
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
  c.unknownKeys(obj, name, ['prefix', 'origins', 'cloudinaryUrls', 'requireSignedUrls', ...ABUSE_CONTROL_KEYS, ...FETCH_KEYS]);
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
    ...parseFetchHosts(c, obj, name),
  };
}

// --- Cloudinary fetch URLs (README "Cloudinary fetch URLs") -------------------------------

const FETCH_KEYS = ['fetchAllowedHosts', 'fetchAllowPrivateNetwork'];

function parseFetchHosts(c: Checker, obj: Record<string, unknown>, name: string): Partial<EndpointConfig> {
  const out: Partial<EndpointConfig> = {};
  if (obj.fetchAllowedHosts !== undefined) {
    const hosts = obj.fetchAllowedHosts;
    const valid = (h: unknown) => typeof h === 'string' && HOST_NAME.test(h.replace(/:\d{1,5}$/, '')) && !h.endsWith(':443');
    if (!Array.isArray(hosts) || hosts.length === 0 || hosts.length > 100 || !hosts.every(valid)) {
      c.expected('a list of 1 to 100 lower-case host names such as ["images.example.org"] (exact names, a port only when not 443: no scheme, path or wildcard)', `${name}.fetchAllowedHosts`, hosts);
    } else out.fetchAllowedHosts = hosts as string[];
    if (obj.cloudinaryUrls !== true) c.problems.push(`${name}.fetchAllowedHosts needs "cloudinaryUrls": true (fetch URLs are Cloudinary URLs)`);
  }
  const allowPrivate = c.boolean(obj.fetchAllowPrivateNetwork, `${name}.fetchAllowPrivateNetwork`);
  if (allowPrivate !== undefined) {
    if (obj.fetchAllowedHosts === undefined) c.problems.push(`${name}.fetchAllowPrivateNetwork applies only with fetchAllowedHosts`);
    out.fetchAllowPrivateNetwork = allowPrivate;
  }
  return out;
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
 * Throws a ConfigError listing every problem found, the target's after the schema's.
 */
export function parseConfig(input: unknown, options: ParseOptions = {}): AfterimageConfig {
  const c = new Checker(options.target ?? 'any');
  const root = c.object(input, 'the configuration');
  if (!root) throw new ConfigError(c.problems);
  c.unknownKeys(root, 'config', ['origins', 'endpoints', 'output', 'limits', 'cache', 'namedTransformations', 'fonts', '$schema']);

  const origins: OriginConfig[] = [];
  if (!Array.isArray(root.origins) || root.origins.length === 0) {
    c.expected('a non-empty list', 'origins', root.origins);
  } else {
    root.origins.forEach((o, i) => {
      const origin = parseOrigin(c, o, i);
      if (origin) origins.push(origin);
    });
  }
  checkCopyTargets(c, origins);
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
  checkCopyOrder(c, origins, endpoints, root.endpoints === undefined);
  const prefixes = new Set<string>();
  for (const endpoint of endpoints) {
    if (prefixes.has(endpoint.prefix)) c.problems.push(`two endpoints have the prefix "/${endpoint.prefix}"; prefixes must be unique`);
    prefixes.add(endpoint.prefix);
  }

  const outputIn = root.output === undefined ? {} : c.object(root.output, 'output') ?? {};
  c.unknownKeys(outputIn, 'output', ['quality', 'format', 'cacheControl', 'serverTiming', 'versionedCacheControl']);
  const output: OutputConfig = {
    quality: c.integer(outputIn.quality, 'output.quality', 1, 100, DEFAULT_OUTPUT.quality),
    format: c.oneOf(outputIn.format, 'output.format', OUTPUT_FORMATS, DEFAULT_OUTPUT.format),
    cacheControl: c.string(outputIn.cacheControl, 'output.cacheControl', true) ?? DEFAULT_OUTPUT.cacheControl,
    serverTiming: c.boolean(outputIn.serverTiming, 'output.serverTiming') ?? DEFAULT_OUTPUT.serverTiming,
    versionedCacheControl: c.string(outputIn.versionedCacheControl, 'output.versionedCacheControl', true) ?? DEFAULT_OUTPUT.versionedCacheControl,
  };

  const limitsIn = root.limits === undefined ? {} : c.object(root.limits, 'limits') ?? {};
  c.unknownKeys(limitsIn, 'limits', LIMIT_NAMES);
  const limits = parseLimits(c, limitsIn, options.memorySizeMB, options.target === 'lambda');

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
    originalTtlSeconds: c.integer(cacheIn.originalTtlSeconds, 'cache.originalTtlSeconds', 0, 3600, DEFAULT_CACHE.originalTtlSeconds),
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

  const fonts = parseFonts(c, root.fonts, originNames);

  const problems = [...c.problems, ...c.targetProblems];
  if (problems.length > 0) throw new ConfigError(problems);
  return { origins, endpoints, output, limits, cache, namedTransformations, ...(fonts ? { fonts } : {}) };
}

/** `fonts`: name → a TTF/OTF file in an origin, for `ff-<name>` in text layers (README "Layers"). */
function parseFonts(c: Checker, input: unknown, originNames: ReadonlySet<string>): Record<string, FontConfig> | undefined {
  if (input === undefined) return undefined;
  const fonts: Record<string, FontConfig> = {};
  for (const [name, value] of Object.entries(c.object(input, 'fonts') ?? {})) {
    if (!NAME.test(name)) c.expected('letters, digits, "-" or "_"', `the name fonts.${name}`, name);
    const font = c.object(value, `fonts.${name}`);
    if (!font) continue;
    c.unknownKeys(font, `fonts.${name}`, ['origin', 'path']);
    const origin = c.string(font.origin, `fonts.${name}.origin`);
    const path = c.string(font.path, `fonts.${name}.path`);
    if (origin !== undefined && !originNames.has(origin)) c.expected(`the name of an origin (${[...originNames].join(', ')})`, `fonts.${name}.origin`, origin);
    if (origin !== undefined && path !== undefined) fonts[name] = { origin, path: path.replace(/^\/+/, '') };
  }
  return fonts;
}

/**
 * Every limit of the table, checked against its range. One left out gets its default, or stays
 * out when the table has none; memoryBudgetMB follows `memorySizeMB` when given, checked as if
 * written. In Lambda, renders run one at a time unless written: a sandbox serves one request at a
 * time, and a render stopped by the deadline may still be finishing when the next request
 * arrives; the memory budget is for one render.
 */
function parseLimits(c: Checker, written: Record<string, unknown>, memorySizeMB: number | undefined, lambda: boolean): LimitsConfig {
  let limitsIn = memorySizeMB !== undefined && written.memoryBudgetMB === undefined
    ? { ...written, memoryBudgetMB: memoryBudgetFor(memorySizeMB) }
    : written;
  if (lambda && limitsIn.maxConcurrentRenders === undefined) limitsIn = { ...limitsIn, maxConcurrentRenders: 1 };
  const limits: Partial<Record<keyof LimitsConfig, number>> = {};
  for (const name of LIMIT_NAMES) {
    const { default: fallback, min, max } = LIMITS[name];
    const value: unknown = limitsIn[name];
    if (value === undefined && fallback === undefined) continue;
    limits[name] = c.integer(value, `limits.${name}`, min, max, fallback ?? min);
  }
  checkOriginalCache(c, limits as LimitsConfig, limitsIn.originalCacheMB !== undefined);
  return limits as LimitsConfig;
}

/**
 * The cache of originals is held across requests, so it comes out of the memory budget and a
 * render gets the rest: written, it may take at most half of what the budget has above the
 * process's baseline; left out, it is its default for the budget (originalCacheFor).
 */
function checkOriginalCache(c: Checker, limits: LimitsConfig, written: boolean): void {
  if (!written) {
    limits.originalCacheMB = originalCacheFor(limits.memoryBudgetMB);
    return;
  }
  const most = Math.floor((limits.memoryBudgetMB - PROCESS_BASELINE_MB) / 2);
  if (limits.originalCacheMB > most) {
    c.problems.push(
      `limits.originalCacheMB (${limits.originalCacheMB} MB) does not fit in limits.memoryBudgetMB (${limits.memoryBudgetMB} MB): ` +
        `the cache comes out of the budget, and at most ${Math.max(0, most)} MB (half of the budget above the ${PROCESS_BASELINE_MB} MB the process needs) may go to it, ` +
        'so that a render keeps the rest. Lower limits.originalCacheMB, or raise limits.memoryBudgetMB (in Lambda: the function\'s memorySize)',
    );
  }
}
