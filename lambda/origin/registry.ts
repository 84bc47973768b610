// Builds every configured origin once (one S3 client each) and each endpoint's preference list.

import type { S3Client } from '@aws-sdk/client-s3';
import type { AfterimageConfig, EndpointConfig, OriginConfig } from '../config';
import { CloudinaryBackupOrigin, type VersionResolution } from './cloudinary-backup';
import { CoalescingOrigin } from './coalescing';
import { PlainS3Origin } from './plain';
import { OriginPreferenceList } from './preference-list';
import { ResolutionCache } from './resolution-cache';
import { createS3Client } from './s3';
import type { SecretStore } from './secrets';
import type { Origin } from './types';

export interface OriginDependencies {
  secrets?: SecretStore;
  /** Replaces the S3 client of an origin (tests, custom transports). */
  createClient?: (origin: OriginConfig) => S3Client;
  now?: () => number;
}

export function createOrigin(config: AfterimageConfig, origin: OriginConfig, client: S3Client, deps: OriginDependencies): Origin {
  switch (origin.type) {
    case 's3':
      return new PlainS3Origin(origin, client, config.limits);
    case 'cloudinary-backup': {
      const { resolutionMaxEntries, resolutionTtlSeconds } = config.cache;
      const resolutions = new ResolutionCache<VersionResolution>(resolutionMaxEntries, resolutionTtlSeconds * 1000, deps.now ?? Date.now);
      return new CloudinaryBackupOrigin(origin, client, config.limits, resolutions);
    }
  }
}

/** Every configured origin, built once (one S3 client each), by name. */
export function createOrigins(config: AfterimageConfig, deps: OriginDependencies): Map<string, Origin> {
  const origins = new Map<string, Origin>();
  for (const origin of config.origins) {
    const client = deps.createClient?.(origin) ?? createS3Client(origin, { limits: config.limits, secrets: deps.secrets });
    // One origin object per configured origin, shared by every endpoint that lists it, so
    // concurrent requests for one file share one call whichever endpoint they came through.
    origins.set(origin.name, new CoalescingOrigin(createOrigin(config, origin, client, deps)));
  }
  return origins;
}

export function createPreferenceLists(config: AfterimageConfig, deps: OriginDependencies, origins = createOrigins(config, deps)): Map<EndpointConfig, OriginPreferenceList> {
  return new Map(config.endpoints.map((e) => [e, new OriginPreferenceList(e.origins.map((name) => origins.get(name)!))]));
}
