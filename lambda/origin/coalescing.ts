// Concurrent requests for one file share one origin call: the first asks, the others wait for
// its answer, or its error. Nothing is kept once the call settles: this is not a cache, so a
// file changed in the bucket is seen by the next request, as without it.

import type { Origin, StoredObject } from './types';

export class CoalescingOrigin implements Origin {
  private readonly inFlight = new Map<string, Promise<StoredObject | null>>();

  constructor(private readonly origin: Origin) {}

  get config() {
    return this.origin.config;
  }

  /** Calls being shared now (for tests and metrics). */
  get pending(): number {
    return this.inFlight.size;
  }

  fetch(path: string): Promise<StoredObject | null> {
    const shared = this.inFlight.get(path);
    if (shared) return shared;
    const call = this.origin.fetch(path).finally(() => this.inFlight.delete(path));
    this.inFlight.set(path, call);
    return call;
  }
}
