// The origin behind Cloudinary fetch URLs (README "Cloudinary fetch URLs"): one per endpoint
// with `fetchAllowedHosts`. It GETs the remote URL under the web origins' rules, https only,
// every hop (redirects included) held to the endpoint's hosts and to public addresses.

import type { EndpointConfig, LimitsConfig, OriginConfig } from '../config';
import type { Origin, StoredObject } from './types';
import { fetchFromWeb, type WebTransport } from './web-fetch';

export class FetchUrlOrigin implements Origin {
  readonly config: OriginConfig;

  constructor(
    private readonly endpoint: EndpointConfig,
    private readonly limits: LimitsConfig,
    private readonly transport: WebTransport,
  ) {
    this.config = { name: 'fetch', type: 'web', allowPrivateNetwork: endpoint.fetchAllowPrivateNetwork ?? false };
  }

  /** `url` is the remote URL the request parser checked; checked again on every hop. */
  async fetch(url: string): Promise<StoredObject | null> {
    if (!/^https:\/\//.test(url)) return null;
    const response = await fetchFromWeb(url, {
      originName: 'fetch',
      allowHttp: false,
      allowPrivateNetwork: this.endpoint.fetchAllowPrivateNetwork ?? false,
      allowedHosts: this.endpoint.fetchAllowedHosts ?? [],
      contentTypes: ['image/*'],
      limits: this.limits,
    }, this.transport);
    if (!response) return null;
    return {
      body: response.body,
      contentType: response.contentType,
      key: url,
      origin: this.config,
      ...(response.etag ? { etag: response.etag } : {}),
      ...(response.lastModified ? { lastModified: response.lastModified } : {}),
      ...(response.cacheControl ? { cacheControl: response.cacheControl } : {}),
    };
  }
}
