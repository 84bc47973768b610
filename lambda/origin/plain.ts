// The plain S3 layout (`type: s3`): the object key is `<folder>/<path>`.

import type { S3Client } from '@aws-sdk/client-s3';
import type { LimitsConfig, OriginConfig } from '../config';
import { plainKey } from './keys';
import { getObject } from './s3';
import type { Origin, StoredObject } from './types';

export class PlainS3Origin implements Origin {
  constructor(
    readonly config: OriginConfig,
    private readonly client: S3Client,
    private readonly limits: LimitsConfig,
  ) {}

  async fetch(path: string): Promise<StoredObject | null> {
    const key = plainKey(path, this.config);
    const found = await getObject(this.client, this.config, key, this.limits);
    if (!found) return null;
    return {
      body: found.body,
      contentType: found.output.ContentType,
      lastModified: found.output.LastModified,
      etag: found.output.ETag,
      key,
      origin: this.config,
    };
  }
}
