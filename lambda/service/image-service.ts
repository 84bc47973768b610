// The core every adapter calls: URL → request plan → origin lookup → image pipeline → response.
// It knows nothing of Lambda events or node:http; the handler and the local server adapt to it.

import sharp from 'sharp';
import packageJson from '../../package.json';
import type { AfterimageConfig, EndpointConfig } from '../config';
import { HttpError, notFound } from '../errors';
import { affordableFormat } from '../image/cost';
import { CONTENT_TYPES, chooseFormat, type ImageFormat } from '../image/format';
import { inspectInput, renderImage } from '../image/pipeline';
import { buildPlan, type RequestPlan } from '../request/plan';
import { parseRequestUrl } from '../request/parse-url';
import { verifySignature, type SigningKeyProvider } from '../request/signature';
import type { OriginPreferenceList } from '../origin/preference-list';
import { createPreferenceLists, type OriginDependencies } from '../origin/registry';
import type { StoredObject } from '../origin/types';
import { SANDBOX_CSP, canonicalLink, errorResponse, etagMatches, makeEtag, type ServiceResponse } from './respond';

export type { ServiceResponse } from './respond';

/** Part of every image ETag: a release that renders differently must not be answered with 304. */
const RENDERER_VERSION = `afterimage ${packageJson.version}, sharp ${sharp.versions.sharp}, libvips ${sharp.versions.vips}`;

/** Cache lifetime of a default image (`di-`), so the real file shows once it is uploaded. */
const DEFAULT_IMAGE_MAX_AGE = 300;

export interface ServiceRequest {
  method: string;
  /** The path as received, still percent-encoded, starting with `/`. */
  rawPath: string;
  /** The query string without `?` ('' when none). */
  rawQuery: string;
  /** Lower-case header names. */
  headers: Record<string, string | undefined>;
}

export interface ServiceDependencies extends OriginDependencies {
  /**
   * The private key of signed URLs (spec section 6). Default: the `privateKey` field of the
   * Secrets Manager secret (`secrets`), cached like the bucket keys. Locally: a function
   * returning the key, e.g. from AFTERIMAGE_PRIVATE_KEY.
   */
  signingKey?: SigningKeyProvider;
}

export class ImageService {
  private readonly preferenceLists: Map<EndpointConfig, OriginPreferenceList>;
  private readonly signingKey?: SigningKeyProvider;
  private readonly now: () => number;

  constructor(
    readonly config: AfterimageConfig,
    deps: ServiceDependencies = {},
  ) {
    this.preferenceLists = createPreferenceLists(config, deps);
    const secrets = deps.secrets;
    this.signingKey = deps.signingKey ?? (secrets ? async () => (await secrets.get()).privateKey : undefined);
    this.now = deps.now ?? Date.now;
  }

  /** Answers one request; never throws. */
  async handle(request: ServiceRequest): Promise<ServiceResponse> {
    const head = request.method === 'HEAD';
    try {
      if (request.method !== 'GET' && !head) {
        throw new HttpError(405, 'EMETHOD', `Method ${request.method.slice(0, 16)} is not allowed; use GET or HEAD`);
      }
      const parsed = parseRequestUrl(this.config.endpoints, request.rawPath, request.rawQuery);
      // Cheap before expensive: the plan (pure), then the signature, then the origins.
      const plan = buildPlan(parsed, this.config);
      await verifySignature(parsed, this.signingKey, this.now());
      const { stored, fallback } = await this.lookup(plan);
      const response = await this.respond(plan, stored, request, head);
      const cacheControl = this.limitedCacheControl(parsed.expires, fallback);
      if (cacheControl) response.headers['cache-control'] = cacheControl;
      return response;
    } catch (error) {
      const response = errorResponse(error, head);
      if (request.method !== 'GET' && !head) response.headers.allow = 'GET, HEAD';
      return response;
    }
  }

  /**
   * A shorter Cache-Control where the long default would be wrong: a signed URL must stop
   * working at its `ik-t`, in caches too; a default image must give way soon to the real file.
   */
  private limitedCacheControl(expires: string | undefined, fallback: boolean): string | undefined {
    const seconds = [fallback ? DEFAULT_IMAGE_MAX_AGE : Infinity];
    if (expires !== undefined && /^\d+$/.test(expires)) seconds.push(Math.max(0, Number(expires) - Math.ceil(this.now() / 1000)));
    const maxAge = Math.min(...seconds);
    return Number.isFinite(maxAge) ? `public, max-age=${maxAge}` : undefined;
  }

  /** The file from the endpoint's origins, else the default image, else 404. */
  private async lookup(plan: RequestPlan): Promise<{ stored: StoredObject; fallback: boolean }> {
    const origins = this.preferenceLists.get(plan.endpoint)!;
    const found = await origins.find(plan.path);
    if (found) return { stored: found, fallback: false };
    if (plan.defaultImage !== undefined) {
      const fallback = await origins.find(plan.defaultImage);
      if (fallback) return { stored: fallback, fallback: true };
    }
    throw notFound(`No origin of this endpoint has "${plan.path.slice(0, 200)}"`);
  }

  private async respond(plan: RequestPlan, stored: StoredObject, request: ServiceRequest, head: boolean): Promise<ServiceResponse> {
    const headers: Record<string, string> = {
      'cache-control': stored.immutable ? 'public, max-age=31536000, immutable' : this.config.output.cacheControl,
      'x-content-type-options': 'nosniff',
    };
    if (stored.lastModified) headers['last-modified'] = stored.lastModified.toUTCString();
    if (stored.origin.canonicalBaseUrl) headers.link = canonicalLink(stored.origin.canonicalBaseUrl, plan.path);
    const originVersion = [stored.origin.name, stored.key, stored.etag ?? String(stored.body.length), stored.lastModified?.toISOString()];

    const input = plan.original ? null : await inspectInput(stored.body, this.config.limits);
    if (!input || plan.original) {
      // Not an image (or orig-true): served exactly as stored, unless a transformation was asked for.
      if (!input && plan.transformed && !plan.original) {
        throw new HttpError(422, 'EUNREADABLE', 'The stored file is not an image that can be transformed; request it without transformations to get it as stored');
      }
      // Sandboxed whatever its stored type says: sharp did not vouch for these bytes (an SVG
      // or HTML stored as image/png must not run script on the delivery domain).
      const contentType = stored.contentType ?? 'application/octet-stream';
      headers['content-security-policy'] = SANDBOX_CSP;
      return this.finish(request, head, 200, headers, makeEtag(['orig', ...originVersion]), stored.body, contentType);
    }

    const wanted = chooseFormat({
      explicit: plan.output.format,
      formatWish: stored.formatWish as ImageFormat | undefined,
      configured: this.config.output.format,
      accept: request.headers.accept,
      input,
    });
    if (wanted.negotiated) headers.vary = 'Accept';
    // Within the cost limits before the work, and before the ETag, which names the format.
    const decision = wanted.format === 'svg' ? wanted : {
      ...wanted,
      format: affordableFormat({
        input: { ...input, bytes: stored.body.length },
        steps: plan.steps,
        output: plan.output,
        decision: { ...wanted, format: wanted.format },
        accept: request.headers.accept,
        limits: this.config.limits,
      }),
    };
    const etag = makeEtag(['image', RENDERER_VERSION, ...originVersion, JSON.stringify(plan.steps), JSON.stringify(plan.output), decision.format, String(this.config.output.quality)]);
    if (etagMatches(request.headers['if-none-match'], etag)) return this.finish(request, head, 304, headers, etag);

    if (decision.format === 'svg') {
      // SVG keeps its format under `auto`: served as stored, sandboxed.
      headers['content-security-policy'] = SANDBOX_CSP;
      return this.finish(request, head, 200, headers, etag, stored.body, CONTENT_TYPES.svg);
    }
    const rendered = await renderImage(stored.body, input, {
      steps: plan.steps,
      output: plan.output,
      format: decision.format,
      defaultQuality: this.config.output.quality,
      limits: this.config.limits,
    });
    return this.finish(request, head, 200, headers, etag, rendered.body, CONTENT_TYPES[decision.format]);
  }

  private finish(
    request: ServiceRequest,
    head: boolean,
    status: number,
    headers: Record<string, string>,
    etag: string,
    body?: Buffer,
    contentType?: string,
  ): ServiceResponse {
    headers.etag = etag;
    if (status === 304 || !body) return { status: 304, headers, body: Buffer.alloc(0) };
    if (etagMatches(request.headers['if-none-match'], etag)) return { status: 304, headers, body: Buffer.alloc(0) };
    headers['content-type'] = contentType ?? 'application/octet-stream';
    headers['content-length'] = String(body.length);
    return { status, headers, body: head ? Buffer.alloc(0) : body };
  }
}
