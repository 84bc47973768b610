// Builds every configured origin once (one S3 client each) and each endpoint's preference list.

import type { S3Client } from '@aws-sdk/client-s3';
import type { AfterimageConfig, EndpointConfig, OriginConfig } from '../config';
import { BackgroundWork } from './background';
import { CloudinaryOrigin } from './cloudinary';
import { CloudinaryBackupOrigin, type VersionResolution } from './cloudinary-backup';
import { CoalescingOrigin } from './coalescing';
import { CopyOnMissOrigin } from './copy-on-miss';
import { FetchUrlOrigin } from './fetch-url';
import { OriginalCache } from './original-cache';
import { PlainS3Origin } from './plain';
import { OriginPreferenceList } from './preference-list';
import { ResolutionCache } from './resolution-cache';
import { createS3Client } from './s3';
import type { SecretStore } from './secrets';
import type { ObjectReader, Origin } from './types';
import { WebOrigin, type OriginHeaderSource } from './web';
import type { WebTransport } from './web-fetch';

export interface OriginDependencies {
  secrets?: SecretStore;
  /** Replaces the S3 client of an origin (tests, custom transports). */
  createClient?: (origin: OriginConfig) => S3Client;
  now?: () => number;
  /** Values of web origins' `secretHeaders`. @default the secret's `originHeaders` */
  originHeaders?: OriginHeaderSource;
  /** DNS and trusted CAs of web origins (tests). @default the system's */
  webTransport?: WebTransport;
  /** Where copies on miss run. @default a new one per registry */
  background?: BackgroundWork;
}

export function createOrigin(
  config: AfterimageConfig,
  origin: OriginConfig,
  client: S3Client | undefined,
  deps: OriginDependencies,
  originals: OriginalCache,
): Origin {
  const read: ObjectReader = (key, options) => originals.readS3(client!, origin, key, config.limits, options);
  switch (origin.type) {
    case 's3':
      return new PlainS3Origin(origin, read);
    case 'cloudinary-backup': {
      const { resolutionMaxEntries, resolutionTtlSeconds } = config.cache;
      const resolutions = new ResolutionCache<VersionResolution>(resolutionMaxEntries, resolutionTtlSeconds * 1000, deps.now ?? Date.now);
      return new CloudinaryBackupOrigin(origin, client!, config.limits, resolutions, read);
    }
    case 'web':
      return new WebOrigin(origin, config.limits, headerSource(deps), deps.webTransport ?? {}, originals);
    case 'cloudinary':
      return new CloudinaryOrigin(origin, config.limits, headerSource(deps), deps.webTransport ?? {}, originals);
  }
}

function headerSource(deps: OriginDependencies): OriginHeaderSource | undefined {
  const secrets = deps.secrets;
  return deps.originHeaders ?? (secrets ? async (field) => (await secrets.get()).originHeaders?.[field] : undefined);
}

/**
 * The client copies are written with: the function's own role (the default chain) where the
 * target reads with the secret's keys, which stay read-only; the target's own keys otherwise
 * (local runs, tests).
 */
export function copyWriterConfig(target: OriginConfig): OriginConfig {
  const source = target.credentials?.source ?? 'secret';
  return source === 'secret' ? { ...target, credentials: { source: 'default-chain' } } : target;
}

/** The process's one cache of originals, shared by every origin: its bytes come out of the memory budget (limits.originalCacheMB). */
export function createOriginalCache(config: AfterimageConfig, deps: OriginDependencies): OriginalCache {
  return new OriginalCache(config.limits.originalCacheMB * 2 ** 20, config.cache.originalTtlSeconds * 1000, deps.now ?? Date.now);
}

/**
 * Every configured origin, built once (one S3 client each), by name. `originals`: the process's
 * one cache of originals (a second one would hold a second budget's worth).
 */
export function createOrigins(config: AfterimageConfig, deps: OriginDependencies, originals: OriginalCache): Map<string, Origin> {
  const origins = new Map<string, Origin>();
  const background = deps.background ?? new BackgroundWork();
  const clientFor = (origin: OriginConfig) => deps.createClient?.(origin) ?? createS3Client(origin, { limits: config.limits, secrets: deps.secrets });
  for (const origin of config.origins) {
    const client = origin.type === 's3' || origin.type === 'cloudinary-backup' ? clientFor(origin) : undefined;
    let built = createOrigin(config, origin, client, deps, originals);
    const target = origin.copyTo === undefined ? undefined : config.origins.find((o) => o.name === origin.copyTo);
    if (target) built = new CopyOnMissOrigin(built, target, clientFor(copyWriterConfig(target)), background, config.limits);
    // One origin object per configured origin, shared by every endpoint that lists it, so
    // concurrent requests for one file share one call whichever endpoint they came through; below
    // it, the cache of originals answers the sequential ones.
    origins.set(origin.name, new CoalescingOrigin(built));
  }
  return origins;
}

export function createPreferenceLists(config: AfterimageConfig, origins: Map<string, Origin>): Map<EndpointConfig, OriginPreferenceList> {
  return new Map(config.endpoints.map((e) => [e, new OriginPreferenceList(e.origins.map((name) => origins.get(name)!))]));
}

/** The origin of Cloudinary fetch URLs, for each endpoint that allows them (`fetchAllowedHosts`). */
export function createFetchOrigins(config: AfterimageConfig, deps: OriginDependencies, originals: OriginalCache): Map<EndpointConfig, OriginPreferenceList> {
  return new Map(config.endpoints.filter((e) => (e.fetchAllowedHosts ?? []).length > 0)
    .map((e) => [e, new OriginPreferenceList([new CoalescingOrigin(new FetchUrlOrigin(e, config.limits, deps.webTransport ?? {}, originals))])]));
}
