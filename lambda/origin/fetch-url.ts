// The origin behind Cloudinary fetch URLs (README "Cloudinary fetch URLs"): one per endpoint
// with `fetchAllowedHosts`. It GETs the remote URL under the web origins' rules, https only,
// every hop (redirects included) held to the endpoint's hosts and to public addresses; through
// the cache of originals, keyed by the endpoint (its hosts are its own) and the remote URL.

import type { EndpointConfig, LimitsConfig, OriginConfig } from '../config';
import type { OriginalCache } from './original-cache';
import type { Origin, ReadOptions, StoredObject } from './types';
import { storedAnswer } from './web';
import { fetchFromWebIfChanged, type WebTransport } from './web-fetch';

export class FetchUrlOrigin implements Origin {
  readonly config: OriginConfig;

  constructor(
    private readonly endpoint: EndpointConfig,
    private readonly limits: LimitsConfig,
    private readonly transport: WebTransport,
    private readonly originals: OriginalCache,
  ) {
    this.config = { name: 'fetch', type: 'web', allowPrivateNetwork: endpoint.fetchAllowPrivateNetwork ?? false };
  }

  /** `url` is the remote URL the request parser checked; checked again on every hop. */
  async fetch(url: string, options?: ReadOptions): Promise<StoredObject | null> {
    if (!/^https:\/\//.test(url)) return null;
    return this.originals.read(['fetch', this.endpoint.prefix, url], async (validators) => {
      const started = performance.now();
      const answer = await fetchFromWebIfChanged(url, {
        originName: 'fetch',
        allowHttp: false,
        allowPrivateNetwork: this.endpoint.fetchAllowPrivateNetwork ?? false,
        allowedHosts: this.endpoint.fetchAllowedHosts ?? [],
        contentTypes: ['image/*'],
        limits: this.limits,
        ...(options?.onArrival ? { onArrival: options.onArrival } : {}),
      }, validators, this.transport);
      return storedAnswer(answer, url, this.config, started);
    });
  }
}
