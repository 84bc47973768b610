// An endpoint's ordered origins (README "Configuration"): the next origin is tried only when the file
// is not found; any other failure stops the walk, so a broken origin is never hidden.

import { fromSource } from '../errors';
import type { Origin, ReadOptions, StoredObject } from './types';

export class OriginPreferenceList {
  constructor(readonly origins: readonly Origin[]) {}

  /** The first origin's copy of the file, or null when no origin has it. */
  async find(path: string, options?: ReadOptions): Promise<StoredObject | null> {
    for (const origin of this.origins) {
      const found = await origin.fetch(path, options).catch((error: unknown) => {
        throw fromSource(error, origin.config.name);
      });
      if (found) return found;
    }
    return null;
  }
}
