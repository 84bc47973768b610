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

  fetch(path: string): Promise<StoredObject | null> {
    return getObject(this.client, this.config, plainKey(path, this.config), this.limits);
  }
}
