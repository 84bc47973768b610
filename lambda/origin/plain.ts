// The plain S3 layout (`type: s3`): the object key is `<folder>/<path>`.

import type { OriginConfig } from '../config';
import { plainKey } from './keys';
import type { ObjectReader, Origin, ReadOptions, StoredObject } from './types';

export class PlainS3Origin implements Origin {
  constructor(
    readonly config: OriginConfig,
    private readonly read: ObjectReader,
  ) {}

  fetch(path: string, options?: ReadOptions): Promise<StoredObject | null> {
    return this.read(plainKey(path, this.config), options);
  }
}
