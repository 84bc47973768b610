// Builds every configured origin once (one S3 client each) and each endpoint's preference list.

import type { S3Client } from '@aws-sdk/client-s3';
import type { AfterimageConfig, EndpointConfig, OriginConfig } from '../config';
import { PlainS3Origin } from './plain';
import { OriginPreferenceList } from './preference-list';
import { createS3Client } from './s3';
import type { SecretStore } from './secrets';
import type { Origin } from './types';

export interface OriginDependencies {
  secrets?: SecretStore;
  /** Replaces the S3 client of an origin (tests, custom transports). */
  createClient?: (origin: OriginConfig) => S3Client;
  now?: () => number;
}

export function createOrigin(config: AfterimageConfig, origin: OriginConfig, client: S3Client, _deps: OriginDependencies): Origin {
  switch (origin.type) {
    case 's3':
      return new PlainS3Origin(origin, client, config.limits);
    case 'cloudinary-backup':
      throw new Error(`origin "${origin.name}": the cloudinary-backup layout is not available in this build`);
  }
}

export function createPreferenceLists(config: AfterimageConfig, deps: OriginDependencies): Map<EndpointConfig, OriginPreferenceList> {
  const origins = new Map<string, Origin>();
  for (const origin of config.origins) {
    const client = deps.createClient?.(origin) ?? createS3Client(origin, { limits: config.limits, secrets: deps.secrets });
    origins.set(origin.name, createOrigin(config, origin, client, deps));
  }
  return new Map(config.endpoints.map((e) => [e, new OriginPreferenceList(e.origins.map((name) => origins.get(name)!))]));
}
