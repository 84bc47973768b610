// Concurrent requests for one file share one origin call: the first asks, the others wait for
// its answer, or its error. Nothing is kept once the call settles: keeping recent files is the
// job of the cache of originals below it (original-cache.ts), with its own freshness rule.

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
