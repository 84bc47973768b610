// Builds every configured origin once (one S3 client each) and each endpoint's preference list.

import type { S3Client } from '@aws-sdk/client-s3';
import type { AfterimageConfig, EndpointConfig, OriginConfig } from '../config';
import { CloudinaryBackupOrigin, type VersionResolution } from './cloudinary-backup';
import { CoalescingOrigin } from './coalescing';
import { OriginalCache } from './original-cache';
import { PlainS3Origin } from './plain';
import { OriginPreferenceList } from './preference-list';
import { ResolutionCache } from './resolution-cache';
import { createS3Client } from './s3';
import type { SecretStore } from './secrets';
import type { ObjectReader, Origin } from './types';

export interface OriginDependencies {
  secrets?: SecretStore;
  /** Replaces the S3 client of an origin (tests, custom transports). */
  createClient?: (origin: OriginConfig) => S3Client;
  now?: () => number;
}

export function createOrigin(config: AfterimageConfig, origin: OriginConfig, client: S3Client, deps: OriginDependencies, originals: OriginalCache): Origin {
  const read: ObjectReader = (key) => originals.read(client, origin, key, config.limits);
  switch (origin.type) {
    case 's3':
      return new PlainS3Origin(origin, read);
    case 'cloudinary-backup': {
      const { resolutionMaxEntries, resolutionTtlSeconds } = config.cache;
      const resolutions = new ResolutionCache<VersionResolution>(resolutionMaxEntries, resolutionTtlSeconds * 1000, deps.now ?? Date.now);
      return new CloudinaryBackupOrigin(origin, client, config.limits, resolutions, read);
    }
  }
}

/** The process's one cache of originals, shared by every origin: its bytes come out of the memory budget (limits.originalCacheMB). */
export function createOriginalCache(config: AfterimageConfig, deps: OriginDependencies): OriginalCache {
  return new OriginalCache(config.limits.originalCacheMB * 2 ** 20, config.cache.originalTtlSeconds * 1000, deps.now ?? Date.now);
}

export function createPreferenceLists(
  config: AfterimageConfig,
  deps: OriginDependencies,
  originals: OriginalCache = createOriginalCache(config, deps),
): Map<EndpointConfig, OriginPreferenceList> {
  const origins = new Map<string, Origin>();
  for (const origin of config.origins) {
    const client = deps.createClient?.(origin) ?? createS3Client(origin, { limits: config.limits, secrets: deps.secrets });
    // One origin object per configured origin, shared by every endpoint that lists it, so
    // concurrent requests for one file share one call whichever endpoint they came through; below
    // it, the cache of originals answers the sequential ones.
    origins.set(origin.name, new CoalescingOrigin(createOrigin(config, origin, client, deps, originals)));
  }
  return new Map(config.endpoints.map((e) => [e, new OriginPreferenceList(e.origins.map((name) => origins.get(name)!))]));
}
