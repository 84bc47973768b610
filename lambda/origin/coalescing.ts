// Concurrent requests for one file share one origin call: the first asks, the others wait for
// its answer, or its error. Nothing is kept once the call settles: keeping recent files is the
// job of the cache of originals below it (original-cache.ts), with its own freshness rule.

import type { Origin, ReadOptions, StoredObject } from './types';

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

  fetch(path: string, options?: ReadOptions): Promise<StoredObject | null> {
    // A read of the first bytes is shared only with reads of as many: it would not do for a render.
    // A watched read only with watched reads: its watcher may refuse the file (an image over the
    // pixel limit), which a read to serve the file as stored (`orig-true`) must not inherit.
    const key = options?.prefixBytes ? `${path}\u0000${options.prefixBytes}` : options?.onArrival ? `${path}\u0000watched` : path;
    const shared = this.inFlight.get(key);
    if (shared) return shared;
    const call = this.origin.fetch(path, options).finally(() => this.inFlight.delete(key));
    this.inFlight.set(key, call);
    return call;
  }
}
